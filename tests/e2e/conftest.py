"""The e2e harness: real bare git remotes, real script agents, a real SQLite store and a launched
DBOS executor in this process. Tests describe agents by what the scripted agent tool does."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.domain.models import Actor, Decision, RunState, Source
from bot.domain.records import RunView
from bot.engine.intake import build_spec
from bot.engine.runs import workflow_id
from handlers.cli import cli_trigger
from tests.gitutil import make_remote

TOOL = Path(__file__).parent / "tools" / "scripted_agent.py"
CHECKS = "test ! -e BROKEN"
APPROVER = Actor(source=Source.cli, id="approver", display="approver")


def agent(name: str, *args: str, timeout: float = 30, **extra: Any) -> dict[str, Any]:
    """A scripted agent. The files it reports through outside its workspace (`--count`, `--marker`,
    `--block-until`: absolute paths) are in folders its config lists as `isolation_writable`, as an
    operator would list a cache: confined, it sees nothing else outside its workspace."""
    outside = sorted({str(Path(arg).parent) for arg in args if arg.startswith("/")})
    return {
        "name": name,
        "kind": "script",
        "command": [sys.executable, str(TOOL), *args],
        "timeout_s": timeout,
        **({"isolation_writable": outside} if outside else {}),
        **extra,
    }


def make_repos(root: Path, names: list[str]) -> dict[str, Path]:
    (root / "remotes").mkdir(parents=True, exist_ok=True)
    return {n: make_remote(root / "remotes", n, {"README.md": f"# {n}\n"}) for n in names}


def repo_entries(remotes: dict[str, Path], depends: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    depends = depends or {}
    return [{"name": n, "url": str(p), "checks": CHECKS, "depends_on": depends.get(n, [])} for n, p in remotes.items()]


RuntimeFactory = Callable[[dict[str, Any]], Runtime]


@pytest.fixture
def start_runtime(tmp_path: Path) -> Iterator[RuntimeFactory]:
    started: list[Runtime] = []

    def factory(config: dict[str, Any]) -> Runtime:
        settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml")
        runtime = Runtime(settings, parse_baton_file(config))
        runtime.launch()
        started.append(runtime)
        return runtime

    yield factory
    for runtime in started:
        _close_open_runs(runtime)
        runtime.shutdown()


def _close_open_runs(runtime: Runtime) -> None:
    """End every run a test left open: a run waiting for a person holds a DBOS executor thread
    in `recv`, which would keep the test process from exiting."""
    for run in runtime.store.list_runs(limit=1000):
        if run.state.terminal:
            continue
        runtime.runs.cancel(run.run_id, APPROVER)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            status = DBOS.get_workflow_status(workflow_id(run.run_id, run.attempt))
            if status is None or status.status not in ("PENDING", "ENQUEUED"):
                break
            time.sleep(0.02)


def submit(runtime: Runtime, request: str, repos: list[str], **options: Any) -> str:
    spec = build_spec(cli_trigger(request), runtime.config, repos=repos, **options)
    return runtime.runs.submit(spec)


def wait_for(runtime: Runtime, run_id: str, *states: RunState, timeout: float = 60) -> RunView:
    deadline = time.monotonic() + timeout
    while True:
        view = runtime.store.view(run_id)
        if view is not None and view.run.state in states:
            return view
        if view is not None and view.run.state.terminal and view.run.state not in states:
            raise AssertionError(f"run ended {view.run.state.value}: {view.run.error}")
        if time.monotonic() > deadline:
            state = view.run.state.value if view else "missing"
            raise AssertionError(f"run still {state} after {timeout}s, wanted {states}")
        time.sleep(0.05)


def approve_until_merged(runtime: Runtime, run_id: str, timeout: float = 60) -> RunView:
    """Approve as the test approver (the decision must be accepted) and wait for the merge."""
    decision = runtime.runs.decide(run_id, APPROVER, Decision.approve)
    assert decision.accepted, decision.message
    return wait_for(runtime, run_id, RunState.merged, timeout=timeout)


def event_data(runtime: Runtime, run_id: str, kind: str) -> list[dict[str, Any]]:
    """The data of every event of `kind` the run recorded, in order."""
    return [e.data for e in runtime.store.events(run_id) if e.kind == kind]


def until(what: str, condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def process_alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def agent_alive(mark: Path, pid: int) -> bool:
    """Whether the agent that wrote `pid` to `mark` (a file named in its argv) still runs."""
    return agent_host_pid(mark, pid) is not None


def agent_host_pid(mark: Path, pid: int) -> int | None:
    """The live process (its pid here) of the agent that wrote `pid` to `mark`, a file named in its
    argv. Confined, it wrote its pid in its sandbox's own PID namespace: the host's /proc tells
    which process that is (the last pid of its `NSpid`)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            status = (proc / "status").read_text()
        except OSError:
            continue
        if str(mark).encode() not in argv:
            continue
        nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
        if nspid and int(nspid[-1]) == pid and process_alive(int(proc.name)):
            return int(proc.name)
    return None


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
