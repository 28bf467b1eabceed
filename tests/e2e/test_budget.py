"""Run budgets: when the money is spent the run stops and asks before the next agent step; more
budget lets it carry on, a cancel ends it. It never silently keeps spending."""

from __future__ import annotations

import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.domain.models import Budget, RunState
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    lines,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.gitutil import read_file_on, ref_sha


def _budget_waiters() -> int:
    """How many threads of this process are blocked in the engine's wait for more budget."""
    return sum(
        1
        for frame in sys._current_frames().values()
        for f, _ in traceback.walk_stack(frame)
        if f.f_code.co_name == "await_budget"
    )


def _two_steps(tmp_path: Path, factory: RuntimeFactory) -> tuple[Runtime, dict[str, Path], Path, Path]:
    remotes = make_repos(tmp_path, ["api"])
    first, second = tmp_path / "first", tmp_path / "second"
    config: dict[str, Any] = {
        "repos": repo_entries(remotes),
        "agents": [
            agent(
                "implement",
                "--count",
                str(first),
                "--usage",
                '{"cost_usd": 0.2}',
                "--append",
                "CHANGES.md",
                "implemented",
            ),
            agent("polish", "--count", str(second), "--append", "CHANGES.md", "polished"),
        ],
        "playbooks": {"two-step": {"per_repo": {"sequential": [{"agent": "implement"}, {"agent": "polish"}]}}},
    }
    return factory(config), remotes, first, second


def _paused(runtime: Runtime, run_id: str, timeout: float = 30) -> None:
    """Wait until the run stops and asks for more budget."""
    deadline = time.monotonic() + timeout
    while True:
        run = runtime.store.get_run(run_id)
        assert run is not None
        asked = any(e.kind == "budget_exceeded" for e in runtime.store.events(run_id))
        if run.waiting_for == "budget" and asked:
            return
        assert run.state in (RunState.queued, RunState.planning, RunState.working), (
            f"the run went {run.state.value} instead of pausing for budget: {run.error}"
        )
        assert time.monotonic() < deadline, "the run never paused for budget"
        time.sleep(0.05)


def test_a_spent_budget_pauses_the_run_before_the_next_agent_step(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, _, first, second = _two_steps(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api"], playbook="two-step", budget_usd=0.1)

    _paused(runtime, run_id)

    run = runtime.store.get_run(run_id)
    assert run is not None
    assert run.state is RunState.working and run.waiting_for == "budget"
    assert run.usage.cost_usd == 0.2
    [exceeded] = [e.data for e in runtime.store.events(run_id) if e.kind == "budget_exceeded"]
    assert "$0.10" in exceeded["reason"]
    assert len(lines(first)) == 1
    assert lines(second) == [], "the second agent ran after the budget was spent"
    assert runtime.store.changes(run_id) == []


def test_extending_the_budget_lets_the_paused_run_continue_to_approval(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, _, _, second = _two_steps(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api"], playbook="two-step", budget_usd=0.1)
    _paused(runtime, run_id)

    extended = runtime.runs.extend_budget(run_id, APPROVER, Budget(max_usd=5))
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    assert extended.accepted
    assert view.run.spec.budget.max_usd == 5
    assert len(lines(second)) == 1
    assert [c.repo for c in view.changes] == ["api"]
    kinds = [e.kind for e in runtime.store.events(run_id)]
    assert kinds.index("budget_exceeded") < kinds.index("budget_extended") < kinds.index("pr_opened")


def test_extending_the_budget_does_not_repeat_the_step_already_paid_for(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes, first, second = _two_steps(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api"], playbook="two-step", budget_usd=0.1)
    _paused(runtime, run_id)

    assert runtime.runs.extend_budget(run_id, APPROVER, Budget(max_usd=5)).accepted
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    [change] = view.changes
    assert read_file_on(remotes["api"], change.branch, "CHANGES.md") == "implemented\npolished\n"
    assert len(lines(first)) == 1, "the paid-for first step ran again after the extension"
    assert len(lines(second)) == 1
    assert view.run.usage.cost_usd == 0.2


def test_cancelling_a_run_paused_for_budget_ends_it_without_more_work(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes, first, second = _two_steps(tmp_path, start_runtime)
    main_before = ref_sha(remotes["api"], "main")
    run_id = submit(runtime, "rename the endpoint", ["api"], playbook="two-step", budget_usd=0.1)
    _paused(runtime, run_id)
    waiting = _budget_waiters()
    assert waiting >= 1

    assert runtime.runs.cancel(run_id, APPROVER).accepted
    view = wait_for(runtime, run_id, RunState.cancelled, timeout=10)
    deadline = time.monotonic() + 5
    while _budget_waiters() >= waiting and time.monotonic() < deadline:
        time.sleep(0.05)

    assert view.changes == []
    assert len(lines(first)) == 1
    assert lines(second) == []
    assert ref_sha(remotes["api"], "main") == main_before
    assert _budget_waiters() == waiting - 1, "the cancelled run still holds a thread waiting for budget"
    refused = runtime.runs.extend_budget(run_id, APPROVER, Budget(max_usd=5))
    assert not refused.accepted
    assert lines(second) == []
