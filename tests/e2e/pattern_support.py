"""Small helpers shared by the pattern e2e tests (tests/e2e/test_pattern_*.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from bot.app import Runtime
from bot.domain.records import Run, RunEvent
from bot.scm.git import git_ok

_FINISHED = {"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}


def wait_until(runtime: Runtime, run_id: str, predicate: Callable[[Run], bool], timeout: float = 20) -> Run:
    """Poll the run until `predicate` holds (e.g. a given `waiting_for`)."""
    deadline = time.monotonic() + timeout
    while True:
        run = runtime.store.get_run(run_id)
        if run is not None and predicate(run):
            return run
        if time.monotonic() > deadline:
            shown = f"{run.state.value} waiting_for={run.waiting_for}" if run else "missing"
            raise AssertionError(f"run is {shown} after {timeout}s")
        time.sleep(0.05)


def wait_for_path(paths: Callable[[], int], count: int, timeout: float = 20) -> None:
    """Poll until `paths()` reaches `count` (e.g. marker files an agent created)."""
    deadline = time.monotonic() + timeout
    while paths() < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {paths()} of {count} after {timeout}s")
        time.sleep(0.02)


def events_of(runtime: Runtime, run_id: str, kind: str) -> list[RunEvent]:
    return [e for e in runtime.store.events(run_id) if e.kind == kind]


def exists_on(remote: Path, ref: str, path: str) -> bool:
    """Whether `path` exists at `ref` in the bare repo `remote`."""
    return git_ok(["--git-dir", str(remote), "cat-file", "-e", f"{ref}:{path}"], remote)
