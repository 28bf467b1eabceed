"""Runs under the queue pace: on SQLite a run starts in the executing process without a queue
poll, and work handed to queues that slowed down while idle still runs (bot/engine/pace.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.domain.models import RunState
from bot.engine.ids import REPO_QUEUE, RUN_QUEUE
from tests.e2e.conftest import _close_open_runs, agent, make_repos, repo_entries, submit, wait_for


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    remotes = make_repos(tmp_path / "remotes", ["api"])
    config: dict[str, Any] = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "NOTES.md", "done")],
        "routing": {"default_agent": "coder"},
    }
    # Slowed as soon as the lease's first heartbeat finds nothing to do.
    settings = Settings(
        home=tmp_path / ".baton",
        config=tmp_path / "absent.yml",
        queue_idle_polling_s=0.5,
        queue_idle_after_s=0.0,
    )
    rt = Runtime(settings, parse_baton_file(config))
    rt.launch()
    yield rt
    _close_open_runs(rt)
    rt.shutdown()


def test_a_run_handed_to_slowed_queues_makes_them_fast_and_reaches_approval(runtime: Runtime) -> None:
    assert runtime.pace.settle() is True
    assert [runtime.pace.interval(RUN_QUEUE), runtime.pace.interval(REPO_QUEUE)] == [0.5, 0.5]
    run_id = submit(runtime, "Write notes", ["api"])
    assert [runtime.pace.interval(RUN_QUEUE), runtime.pace.interval(REPO_QUEUE)] == [0.1, 0.1]
    view = wait_for(runtime, run_id, RunState.awaiting_approval)
    assert [c.repo for c in view.changes] == ["api"]
