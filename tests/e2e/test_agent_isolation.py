"""Agents confined by default (no `isolation` key) under the machine's real bubblewrap, in full
Baton runs.

Baton's home is put under /var/tmp (not /tmp), so what hides it is the sandbox's view of Baton's
home, not the sandbox's private /tmp.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.domain.models import RunState
from tests.agent_tools import ToolInstallError, install
from tests.e2e.agent_cli_support import RealTier, codex_agent, codex_turns, model_servers
from tests.e2e.conftest import (
    TOOL,
    RuntimeFactory,
    _close_open_runs,
    approve_until_merged,
    make_repos,
    submit,
    wait_for,
)
from tests.fakes.model_server import ModelServer, tool
from tests.gitutil import read_file_on

PROBE = Path(__file__).parent / "tools" / "sandbox_probe.py"
__all__ = ["model_servers"]  # the fixture the real CLI's test uses


@pytest.fixture
def baton_home() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="baton-isolation-", dir="/var/tmp"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def runtime(tmp_path: Path, baton_home: Path) -> Iterator[Runtime]:
    remotes = make_repos(tmp_path, ["api"])
    config_file = baton_home / "baton.yml"
    config_file.write_text("# the team's baton.yml: no agent may read this\n")
    config = {
        "repos": [{"name": "api", "url": str(remotes["api"])}],
        "agents": [
            {
                "name": "writer",
                "kind": "script",
                "command": [sys.executable, str(TOOL), "--append", "README.md", "written by run one"],
            },
            {
                "name": "probe",
                "kind": "script",
                # The request names what to try reading (another run's files are known only then).
                "command": [
                    *(sys.executable, str(PROBE), "--out", "probe.txt", "--read", "{task}", "--read", "README.md"),
                    *("--read", str(baton_home / ".baton" / "baton.db"), "--read", str(config_file)),
                    *("--list", str(baton_home / ".baton" / "workspaces")),
                ],
            },
        ],
        "routing": {"default_agent": "writer"},
    }
    settings = Settings(home=baton_home / ".baton", config=config_file)
    started = Runtime(settings, parse_baton_file(config))
    started.launch()
    yield started
    _close_open_runs(started)
    started.shutdown()


def test_a_sandboxed_agent_cannot_read_batons_database_or_another_runs_workspace_and_its_run_merges(
    runtime: Runtime, baton_home: Path
) -> None:
    first = submit(runtime, "write the readme", ["api"])
    wait_for(runtime, first, RunState.awaiting_approval)
    other_runs_file = baton_home / ".baton" / "workspaces" / first / "api" / "README.md"
    assert "written by run one" in other_runs_file.read_text()  # it is there, outside the sandbox

    second = submit(runtime, str(other_runs_file), ["api"], agent="probe")
    view = wait_for(runtime, second, RunState.awaiting_approval)
    (change,) = view.changes
    found = read_file_on(Path(runtime.config.repo("api").url), change.branch, "probe.txt").splitlines()
    home = baton_home / ".baton"
    assert found == [
        f"read {other_runs_file}: denied (FileNotFoundError)",
        "read README.md: got b'# api'",  # its own workspace it reads (and wrote probe.txt into)
        f"read {home / 'baton.db'}: denied (FileNotFoundError)",
        f"read {baton_home / 'baton.yml'}: denied (PermissionError)",  # masked
        f"list {home / 'workspaces'}: got [{second!r}]",
    ]
    assert (home / "baton.db").stat().st_size > 0  # the database was there all along
    merged = approve_until_merged(runtime, second)
    assert [c.state.value for c in merged.changes] == ["merged"]


def test_the_real_codex_cli_in_the_sandbox_fixes_the_code_and_cannot_see_batons_home(
    tmp_path: Path, start_runtime: RuntimeFactory, model_servers: list[ModelServer], request: pytest.FixtureRequest
) -> None:
    """Codex under bwrap with the host's network (its model endpoint is a loopback server): it
    patches calc.py and runs the tests through its own tools, lists Baton's home (only what the
    sandbox binds there shows), and the run merges."""
    try:
        codex = install("codex")
    except ToolInstallError as err:
        pytest.fail(f"the pinned codex CLI cannot be installed: {err}", pytrace=False)
    home = tmp_path / ".baton"  # start_runtime's BATON_HOME
    real = RealTier(tmp_path, start_runtime, model_servers, request)
    fix, summary = codex_turns()
    server = real.serve([[*fix, tool("exec_command", cmd=f"ls {home}")], summary])
    run = real.fix_calc([codex_agent(codex, server)])  # confined by default, the host's network to reach it

    run.assert_sole_step_succeeded("codex", tokens=(200, 40))
    run.assert_pr_fixes_calc()
    _, tests_ran, listing = server.tool_results()  # the patch's, the tests', the listing's
    assert "1 passed" in tests_ran  # the repo's tests ran inside the sandbox
    assert (home / "baton.db").exists()
    # Only the directories the sandbox binds (the agent's HOME and workspace) show in Baton's home.
    assert listing.endswith('Output:\\nhomes\\nworkspaces\\n"')
    run.approve_and_assert_merged()
