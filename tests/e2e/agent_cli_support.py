"""The real-binary tier's shared setup: pinned CLIs from the tools cache, a repo with a failing test,
a scripted model server per test, and a Baton configuration that routes the repo to an agent.

Every real-tier test does a full Baton run: the real CLI edits `calc.py` and runs the repo's tests
through its own tools (the model server only scripts what the model says), Baton commits, runs
the checks, opens the PR on the local forge and records tokens and cost.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import Runtime
from bot.domain.models import ChangeSet, RunState
from bot.domain.records import RunEvent, RunView, Step
from bot.scm.git import run_git
from tests.agent_tools import ToolInstallError, install
from tests.e2e.conftest import RuntimeFactory, approve_until_merged, make_repos, submit, wait_for
from tests.e2e.pattern_support import events_of
from tests.fakes.model_server import ModelServer, Turn, patch, text, tool
from tests.gitutil import commit_to_remote, read_file_on

BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider test_calc.py"
SUMMARY = "Fixed add(); the tests pass."


@pytest.fixture(scope="session")
def agent_clis() -> dict[str, list[str]]:
    """The pinned CLIs (installed on first use, cached across runs); an install failure fails loudly."""
    try:
        return {name: install(name) for name in ("codex", "opencode", "aider")}
    except ToolInstallError as err:
        pytest.fail(f"the real-binary tier cannot run: {err}", pytrace=False)


@pytest.fixture
def model_servers() -> Iterator[list[ModelServer]]:
    """Start servers with `serve(...)`; every one is stopped after the test."""
    started: list[ModelServer] = []
    yield started
    for server in started:
        server.stop()


def serve(servers: list[ModelServer], turns: list[Turn], fail_status: int | None = None) -> ModelServer:
    server = ModelServer(turns, fail_status=fail_status).start()
    servers.append(server)
    return server


def calc_repo(root: Path) -> dict[str, Path]:
    """A remote `calc` whose test fails until `add` is fixed."""
    remotes = make_repos(root, ["calc"])
    files = {"calc.py": BUGGY, "test_calc.py": TEST, ".gitignore": "__pycache__/\n"}
    commit_to_remote(remotes["calc"], "main", files, "add calc with a bug")
    return remotes


def changed_files(remote: Path, branch: str) -> list[str]:
    """What the PR's branch changes against main, as git sees it."""
    return run_git(["--git-dir", str(remote), "diff", "--name-only", "main", branch], remote).split()


def calc_config(remotes: dict[str, Path], agents: list[dict[str, Any]]) -> dict[str, Any]:
    names = [a["name"] for a in agents]
    return {
        "repos": [{"name": "calc", "url": str(remotes["calc"]), "checks": PYTEST}],
        "agents": agents,
        "routing": {"default_agent": names[0], "fallback": names[1:]},
    }


# -- each CLI: what the scripted model asks it to do, and its agent entry in baton.yml ----------------
def codex_turns() -> list[Turn]:
    fix = "*** Begin Patch\n*** Update File: calc.py\n@@\n-    return a - b\n+    return a + b\n*** End Patch\n"
    return [[patch(fix), tool("exec_command", cmd=PYTEST)], [text(SUMMARY)]]


def codex_agent(command: list[str], server: ModelServer, **extra: Any) -> dict[str, Any]:
    return {
        "name": "codex",
        "kind": "codex",
        "command": command,
        "model": "gpt-5.5",
        "base_url": f"{server.url}/v1",
        "api_key_env": "FAKE_OPENAI_KEY",
        "env": {"FAKE_OPENAI_KEY": "sk-fake-codex"},
        "usd_per_million_tokens": [1.25, 10.0],
        "timeout_s": 60,
        # Confined (the default), with the host's network: its model is a loopback server.
        "isolation_network": "host",
        **extra,
    }


def opencode_turns(workdir_hint: str = "calc.py") -> list[Turn]:
    return [
        [tool("read", filePath=workdir_hint)],
        [tool("edit", filePath=workdir_hint, oldString="return a - b", newString="return a + b")],
        [tool("bash", command=PYTEST, description="run the tests")],
        [text(SUMMARY)],
    ]


def opencode_agent(command: list[str], server: ModelServer, **extra: Any) -> dict[str, Any]:
    return {
        "name": "opencode",
        "kind": "opencode",
        "command": command,
        "model": "anthropic/claude-sonnet-4-5",
        "base_url": f"{server.url}/v1",
        "env": {"ANTHROPIC_API_KEY": "sk-fake-opencode"},
        "timeout_s": 60,
        # Confined (the default), with the host's network: its model is a loopback server.
        "isolation_network": "host",
        **extra,
    }


def aider_turns() -> list[Turn]:
    # Aider edits only files in its chat: naming calc.py makes it add the file (--yes-always) and
    # ask again, and the second reply is the whole new file.
    return [[text("The bug is in calc.py.")], [text(f"{SUMMARY}\n\ncalc.py\n```\n{FIXED}```\n")]]


def aider_agent(command: list[str], server: ModelServer, **extra: Any) -> dict[str, Any]:
    return {
        "name": "aider",
        "kind": "aider",
        # Aider runs no commands of its own accord: --auto-test makes it run the repo's tests.
        "command": [*command, "--edit-format", "whole", "--test-cmd", PYTEST, "--auto-test"],
        "model": "openai/fake-model",
        "base_url": f"{server.url}/v1",
        "env": {"OPENAI_API_KEY": "sk-fake-aider"},
        "usd_per_million_tokens": [2.0, 8.0],
        "timeout_s": 60,
        # Confined (the default), with the host's network: its model is a loopback server.
        "isolation_network": "host",
        **extra,
    }


def claude_turns() -> list[Turn]:
    # Bash runs in the work tree, so the script needs no absolute paths (Edit would want them).
    fix = "sed -i 's/return a - b/return a + b/' calc.py"
    return [
        [tool("Bash", command=fix, description="fix add")],
        [tool("Bash", command=PYTEST, description="run the tests")],
        [text(SUMMARY)],
    ]


def claude_agent(command: list[str], server: ModelServer, **extra: Any) -> dict[str, Any]:
    return {
        "name": "claude",
        "kind": "claude_code",
        "command": command,
        "base_url": server.url,
        "env": {"ANTHROPIC_API_KEY": "sk-ant-fake"},
        "allowed_tools": ["Bash"],
        "timeout_s": 60,
        # Confined (the default), with the host's network: its model is a loopback server.
        "isolation_network": "host",
        **extra,
    }


AGENTS: dict[str, Callable[..., dict[str, Any]]] = {
    "codex": codex_agent,
    "opencode": opencode_agent,
    "aider": aider_agent,
}


@dataclass
class CalcRun:
    """A Baton run asked to fix `calc`, seen when it awaits approval."""

    runtime: Runtime
    run_id: str
    view: RunView
    remotes: dict[str, Path]

    def agent_steps(self) -> list[Step]:
        return [s for s in self.view.steps if s.agent]

    def step_of(self, agent: str) -> Step:
        return next(s for s in self.view.steps if s.agent == agent)

    def events(self, kind: str) -> list[RunEvent]:
        return events_of(self.runtime, self.run_id, kind)

    def assert_sole_step_succeeded(self, agent: str, tokens: tuple[int, int]) -> Step:
        """The run's only agent step is `agent`'s; it succeeded with the scripted summary and these tokens."""
        (step,) = self.agent_steps()
        assert (step.agent, step.state.value, step.detail) == (agent, "succeeded", SUMMARY)
        assert (step.usage.tokens_in, step.usage.tokens_out) == tokens
        return step

    def assert_pr_fixes_calc(self) -> ChangeSet:
        """The run's one change touches only calc.py, and its branch holds the fixed `add`."""
        (change,) = self.view.changes
        assert changed_files(self.remotes["calc"], change.branch) == ["calc.py"]
        assert read_file_on(self.remotes["calc"], change.branch, "calc.py") == FIXED
        return change

    def approve_and_assert_merged(self) -> None:
        approve_until_merged(self.runtime, self.run_id, timeout=30)
        assert read_file_on(self.remotes["calc"], "main", "calc.py") == FIXED


@dataclass
class RealTier:
    """One real-tier test's world: its temp dir, Baton's runtime factory, the pinned CLIs, its model servers."""

    tmp_path: Path
    start_runtime: RuntimeFactory
    servers: list[ModelServer]
    request: pytest.FixtureRequest

    def serve(self, turns: list[Turn]) -> ModelServer:
        return serve(self.servers, turns)

    def dead_endpoint(self) -> ModelServer:
        """A model server that answers every request with 500."""
        return serve(self.servers, [], fail_status=500)

    def agent(self, name: str, server: ModelServer, **extra: Any) -> dict[str, Any]:
        """The baton.yml entry for the pinned CLI `name` (codex, opencode, aider) talking to `server`."""
        clis: dict[str, list[str]] = self.request.getfixturevalue("agent_clis")  # installed on first use
        return AGENTS[name](clis[name], server, **extra)

    def fix_calc(self, agents: list[dict[str, Any]], playbooks: dict[str, Any] | None = None) -> CalcRun:
        """Start Baton with `agents` on a buggy `calc`, ask it to fix add() (with the one playbook in
        `playbooks`, if given) and wait until the run awaits approval."""
        remotes = calc_repo(self.tmp_path)
        config = calc_config(remotes, agents)
        options: dict[str, Any] = {}
        if playbooks:
            (options["playbook"],) = playbooks
            config["playbooks"] = playbooks
        runtime = self.start_runtime(config)
        run_id = submit(runtime, "make add() add", ["calc"], **options)
        view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)
        return CalcRun(runtime, run_id, view, remotes)


@pytest.fixture
def real(
    tmp_path: Path, start_runtime: RuntimeFactory, model_servers: list[ModelServer], request: pytest.FixtureRequest
) -> RealTier:
    """A test module using this also imports `agent_clis` and `model_servers`, the fixtures it rests on."""
    return RealTier(tmp_path, start_runtime, model_servers, request)
