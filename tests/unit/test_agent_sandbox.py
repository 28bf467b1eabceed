"""Agents under the machine's real bubblewrap (the default, `isolation: bwrap`), run through the
script adapter: what they can reach (network, environment, /tmp, git in a worktree: read only),
what stops them (timeout), what happens without a working bwrap (they do not start, and say how
to fix it), and `isolation: none` (the explicit way to run unconfined, flagged by doctor)."""

from __future__ import annotations

import ast
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.agents.sandbox import Sandbox
from bot.agents.script import ScriptAgent
from bot.config.agents import AgentConfig
from bot.config.settings import Settings
from bot.doctor import doctor_report
from bot.domain.models import AgentResult, AgentStatus, AgentTask
from bot.scm.git import run_git
from tests.fakes.http_stub import StubHandler, StubServer

PROBE = Path(__file__).parents[1] / "e2e" / "tools" / "sandbox_probe.py"
BWRAP = shutil.which("bwrap")


class _Hello(StubHandler):
    def do_GET(self) -> None:
        self.send_json(200, {"hello": "agent"})


@pytest.fixture
def server() -> Iterator[StubServer]:
    started = StubServer(_Hello, None, "hello").start()
    yield started
    started.stop()


@pytest.fixture
def baton_home() -> Iterator[Path]:
    """Baton's home outside /tmp: the sandbox must hide it itself, not through its private /tmp."""
    root = Path(tempfile.mkdtemp(prefix="baton-sandbox-", dir="/var/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _agent(home: Path, command: list[str], sandbox: Sandbox, **fields: object) -> ScriptAgent:
    config = AgentConfig.model_validate({"name": "probe", "command": command, "isolation": "bwrap", **fields})
    return ScriptAgent(config, home / "homes", sandbox)


def _run(agent: ScriptAgent, workdir: Path) -> AgentResult:
    task = AgentTask(run_id="run-1", repo="api", step_key="api/probe", prompt="probe")
    return agent.run(task, workdir, lambda: False, lambda kind, data: None)


def _probe(home: Path, workdir: Path, sandbox: Sandbox, *args: str, **fields: object) -> list[str]:
    agent = _agent(home, [sys.executable, str(PROBE), "--out", "probe.txt", *args], sandbox, **fields)
    result = _run(agent, workdir)
    assert result.status is AgentStatus.succeeded, result.output_tail
    return (workdir / "probe.txt").read_text().splitlines()


def _checkout_in_tmp() -> set[str]:
    """What of /tmp a confined agent sees besides its own program: the top of Baton's own Python
    environment and this checkout when they live under /tmp (as in CI), else nothing."""
    kept = [Path(sys.prefix).absolute(), PROBE.absolute()]
    return {p.relative_to("/tmp").parts[0] for p in kept if p.is_relative_to("/tmp")}


def _confined(home: Path) -> Sandbox:
    assert BWRAP is not None, "bubblewrap is installed on the machines that run these tests"
    return Sandbox.detect([home])


def _workdir(home: Path) -> Path:
    workdir = home / "workspaces" / "run-1" / "api"
    workdir.mkdir(parents=True)
    return workdir


def test_a_sandboxed_agent_cannot_reach_a_local_http_server(baton_home: Path, server: StubServer) -> None:
    found = _probe(baton_home, _workdir(baton_home), _confined(baton_home), "--connect", server.url)
    assert found == [f"connect {server.url}: denied (URLError)"]


def test_isolation_network_host_lets_a_sandboxed_agent_reach_its_endpoint(baton_home: Path, server: StubServer) -> None:
    sandbox = _confined(baton_home)
    found = _probe(baton_home, _workdir(baton_home), sandbox, "--connect", server.url, isolation_network="host")
    assert found == [f'connect {server.url}: got 200 b\'{{"hello": "agent"}}\'']


FIX = (
    "agent probe must run confined and cannot start: install bubblewrap, let this container create namespaces "
    "(e.g. --security-opt seccomp=unconfined), or write `isolation: none` on agent probe in baton.yml"
)


def test_without_bwrap_a_confined_agent_does_not_start_and_says_how_to_fix_it(baton_home: Path) -> None:
    secret = baton_home / "baton.db"
    secret.write_text("rows of runs\n")
    workdir = _workdir(baton_home)
    agent = _agent(baton_home, [sys.executable, str(PROBE), "--out", "probe.txt"], Sandbox(bwrap=None))
    result = _run(agent, workdir)
    assert result.status is AgentStatus.failed
    assert result.summary == f"{FIX} (bwrap: bwrap is not found on PATH)"
    assert not (workdir / "probe.txt").exists()  # it never ran


def test_an_agent_with_isolation_none_runs_unconfined_and_can_read_batons_home(baton_home: Path) -> None:
    secret = baton_home / "baton.db"
    secret.write_text("rows of runs\n")
    workdir = _workdir(baton_home)
    found = _probe(baton_home, workdir, _confined(baton_home), "--read", str(secret), isolation="none")
    assert found == [f"read {secret}: got b'rows of runs'"]  # what bwrap would hide


def test_an_agent_with_no_isolation_key_is_confined(baton_home: Path) -> None:
    secret = baton_home / "baton.db"
    secret.write_text("rows of runs\n")
    command = [sys.executable, str(PROBE), "--out", "probe.txt", "--read", str(secret)]
    agent = ScriptAgent(AgentConfig(name="probe", command=command), baton_home / "homes", _confined(baton_home))
    workdir = _workdir(baton_home)
    assert _run(agent, workdir).ok
    assert (workdir / "probe.txt").read_text().splitlines() == [f"read {secret}: denied (FileNotFoundError)"]


def test_isolation_writable_opens_a_path_to_the_agent_and_what_is_hidden_inside_stays_hidden(baton_home: Path) -> None:
    shared = baton_home / "shared"
    (shared / "cache").mkdir(parents=True)
    hidden = shared / "secrets"
    hidden.mkdir()
    (hidden / "key").write_text("not for agents\n")
    sandbox = Sandbox.detect([baton_home / "workspaces", hidden])
    script = f"echo cached > {shared / 'cache' / 'entry'}; cat {hidden / 'key'} 2>/dev/null || echo 'key: hidden'"
    agent = _agent(baton_home, ["sh", "-c", script], sandbox, isolation_writable=[str(shared)])
    result = _run(agent, _workdir(baton_home))
    assert result.ok, result.output_tail
    assert result.output_tail == "key: hidden"
    assert (shared / "cache" / "entry").read_text() == "cached\n"


def test_a_sandboxed_agent_sees_only_its_listed_environment_and_a_private_tmp(
    baton_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-for-agents")
    marker = Path(tempfile.mkdtemp(prefix="batons-own-tmp-"))
    try:
        found = _probe(
            baton_home,
            _workdir(baton_home),
            _confined(baton_home),
            "--env",
            "--list",
            "/tmp",
            env={"LISTED": "yes"},
        )
    finally:
        marker.rmdir()
    assert found[0] == f"list /tmp: got {sorted(_checkout_in_tmp())}"
    names = ast.literal_eval(found[1].removeprefix("env: "))
    assert "LISTED" in names and "SLACK_BOT_TOKEN" not in names
    assert {"HOME", "PATH", "TMPDIR"} <= set(names)


def test_a_sandboxed_agent_over_its_timeout_is_killed_with_everything_it_started(baton_home: Path) -> None:
    token = f"{time.time_ns() % 10**9}.5"
    command = ["sh", "-c", f"sleep {token} & sleep {token}"]
    agent = _agent(baton_home, command, _confined(baton_home), timeout_s=1)
    result = _run(agent, _workdir(baton_home))
    assert result.status is AgentStatus.timed_out
    left = [p for p in Path("/proc").glob("[0-9]*") if token.encode() in _cmdline(p)]
    assert left == []


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_git_works_for_a_sandboxed_agent_in_a_worktree_of_a_hidden_clone(baton_home: Path) -> None:
    main = baton_home / "workspaces" / "run-1" / "api"
    main.mkdir(parents=True)
    run_git(["init", "--quiet", "--initial-branch=main"], main)
    (main / "README.md").write_text("# api\n")
    run_git(["add", "README.md"], main)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    run_git(["commit", "--quiet", "-m", "init"], main, env)
    tree = baton_home / "worktrees" / "run-1" / "api" / "candidate-1"
    run_git(["worktree", "add", "--quiet", "--detach", str(tree), "HEAD"], main)
    script = "echo changed >> README.md && git status --porcelain && git diff --stat | tail -1"
    agent = _agent(baton_home, ["sh", "-c", script], _confined(baton_home))
    result = _run(agent, tree)
    assert result.status is AgentStatus.succeeded, result.output_tail
    assert result.output_tail.splitlines() == [" M README.md", " 1 file changed, 1 insertion(+)"]


def _clone_with_history(home: Path) -> Path:
    main = home / "workspaces" / "run-1" / "api"
    main.mkdir(parents=True)
    run_git(["init", "--quiet", "--initial-branch=main"], main)
    (main / "README.md").write_text("# api\n")
    run_git(["add", "README.md"], main)
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x"}
    run_git(["commit", "--quiet", "-m", "the first commit"], main, env)
    return main


WRITE_GIT = (
    "git log --format=%s; "
    "(echo 'env > /dev/null' > \"$(git rev-parse --git-path hooks)/post-commit\") 2>/dev/null || echo 'hook: denied'; "
    "git config core.fsmonitor 'touch pwned' 2>/dev/null || echo 'config: denied'; "
    "git -c user.name=a -c user.email=a@x commit -q --allow-empty -m mine 2>/dev/null || echo 'commit: denied'; "
    "(rm -rf .git || mv .git elsewhere) 2>/dev/null; test -e .git && echo 'still there'"
)


@pytest.mark.parametrize("where", ["clone", "worktree"])
def test_a_confined_agent_reads_the_history_but_cannot_write_the_git_directory(baton_home: Path, where: str) -> None:
    main = _clone_with_history(baton_home)
    workdir = main
    if where == "worktree":
        workdir = baton_home / "worktrees" / "run-1" / "api" / "candidate-1"
        run_git(["worktree", "add", "--quiet", "--detach", str(workdir), "HEAD"], main)
    before = run_git(["rev-parse", "HEAD"], workdir)
    result = _run(_agent(baton_home, ["sh", "-c", WRITE_GIT], _confined(baton_home)), workdir)
    assert result.status is AgentStatus.succeeded, result.output_tail
    assert result.output_tail.splitlines() == [
        "the first commit",
        "hook: denied",
        "config: denied",
        "commit: denied",
        "still there",
    ]
    assert run_git(["rev-parse", "HEAD"], workdir) == before
    assert not (main / ".git" / "hooks" / "post-commit").exists()
    assert "fsmonitor" not in (main / ".git" / "config").read_text()


def test_doctor_says_when_bwrap_is_missing_and_which_agents_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_bwrap = tmp_path / "bin"
    no_bwrap.mkdir()
    os.symlink(shutil.which("git") or "/usr/bin/git", no_bwrap / "git")
    monkeypatch.setenv("PATH", str(no_bwrap))
    config = tmp_path / "baton.yml"
    config.write_text("agents:\n  - name: fixer\n    command: fix\n")
    text, ok = doctor_report(Settings(config=config, home=tmp_path / ".baton"))
    assert "bwrap: bwrap is not found on PATH" in text
    assert "✗ agent fixer must run confined and cannot start here: install bubblewrap" in text
    assert not ok


def test_doctor_flags_every_agent_and_checks_that_run_unconfined(tmp_path: Path) -> None:
    config = tmp_path / "baton.yml"
    config.write_text(
        "repos:\n  - {name: api, url: /r/api, checks: make test, checks_isolation: none}\n"
        "agents:\n  - {name: fixer, command: fix, isolation: none}\n  - {name: safe, command: fix}\n"
    )
    text, _ = doctor_report(Settings(config=config, home=tmp_path / ".baton"))
    flagged = [line.strip() for line in text.splitlines() if "unconfined" in line]
    assert flagged == [
        "! agent fixer runs unconfined (isolation: none): it can read what the user Baton runs as can "
        "(its files, credentials, other runs) and write its workspace's .git",
        "! the checks of api run unconfined (checks_isolation: none)",
    ]


def _refusing_bwrap(bin_dir: Path) -> Path:
    """A `bwrap` as found inside a container whose seccomp profile refuses user namespaces."""
    bin_dir.mkdir(exist_ok=True)
    bwrap = bin_dir / "bwrap"
    bwrap.write_text("#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n")
    bwrap.chmod(0o755)
    return bwrap


def test_a_bwrap_that_cannot_make_namespaces_keeps_the_agent_from_starting(baton_home: Path) -> None:
    workdir = _workdir(baton_home)
    sandbox = Sandbox(bwrap=str(_refusing_bwrap(baton_home / "bin")), hidden=(baton_home,))
    result = _run(_agent(baton_home, [sys.executable, str(PROBE), "--out", "probe.txt"], sandbox), workdir)
    assert result.status is AgentStatus.failed
    reason = f"{sandbox.bwrap} cannot make a sandbox here: bwrap: No permissions to create a new namespace"
    assert sandbox.problem == reason
    assert result.output_tail == f"{FIX} (bwrap: {reason})"
    assert not (workdir / "probe.txt").exists()


def test_doctor_says_when_bwrap_cannot_make_a_sandbox_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bwrap = _refusing_bwrap(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{bwrap.parent}:{os.environ['PATH']}")
    config = tmp_path / "baton.yml"
    config.write_text("agents:\n  - name: fixer\n    command: fix\n")
    text, ok = doctor_report(Settings(config=config, home=tmp_path / ".baton"))
    assert f"bwrap: {bwrap} cannot make a sandbox here: bwrap: No permissions to create a new namespace" in text
    assert "✗ agent fixer must run confined and cannot start here" in text
    assert not ok


def test_doctor_flags_a_confined_cli_agent_left_without_a_network(tmp_path: Path) -> None:
    config = tmp_path / "baton.yml"
    config.write_text("agents:\n  - name: codex\n    kind: codex\n    command: codex\n    isolation: bwrap\n")
    text, ok = doctor_report(Settings(config=config, home=tmp_path / ".baton"))
    assert "✗ codex (codex): isolation_network: none leaves it no way to its model" in text
    assert not ok


def test_doctor_names_bwrap_and_the_agents_it_confines(tmp_path: Path) -> None:
    config = tmp_path / "baton.yml"
    config.write_text("agents:\n  - name: fixer\n    command: fix\n    isolation: bwrap\n")
    text, _ = doctor_report(Settings(config=config, home=tmp_path / ".baton"))
    assert f"bwrap: ✓ {BWRAP} (confines fixer)" in text


def test_a_program_kept_under_tmp_still_runs_in_the_sandbox_without_showing_the_rest_of_tmp(baton_home: Path) -> None:
    """A checkout under /tmp (CI clones there): the private /tmp must not hide the agent's program."""
    kept = Path(tempfile.mkdtemp(prefix="checkout-under-tmp-"))
    try:
        program = kept / "codemod.py"
        program.write_text(
            "import os, pathlib, sys\n"
            "here = os.path.dirname(sys.argv[0])\n"
            "pathlib.Path('out.txt').write_text(repr((sorted(os.listdir('/tmp')), sorted(os.listdir(here)))))\n"
        )
        (kept / "neighbour.txt").write_text("not for agents")
        workdir = _workdir(baton_home)
        result = _run(_agent(baton_home, [sys.executable, str(program)], _confined(baton_home)), workdir)
        assert result.status is AgentStatus.succeeded, result.output_tail
        assert (workdir / "out.txt").read_text() == repr((sorted({kept.name} | _checkout_in_tmp()), ["codemod.py"]))
    finally:
        shutil.rmtree(kept, ignore_errors=True)
