"""Parked runs: a run waiting for a person holds no workflow and no thread (`park_waits`, as under
`baton serve` and `baton worker`); a message claims it through the store and a continuation
workflow goes on from the wait, one at a time, without losing or repeating anything."""

from __future__ import annotations

import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from dbos import DBOS

from bot.app import Runtime
from bot.domain.models import Actor, Decision, RunState, Source
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    event_data,
    make_repos,
    repo_entries,
    submit,
    until,
    wait_for,
)

REVIEWER = Actor(source=Source.github, id="reviewer", display="reviewer")
SECOND = Actor(source=Source.cli, id="second", display="second approver")


@pytest.fixture(autouse=True)
def _parking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATON_PARK_WAITS", "1")


def _pending() -> list[str]:
    return [s.workflow_id for s in DBOS.list_workflows(status=["PENDING", "ENQUEUED"], load_input=False)]


def _threads_waiting_for_people() -> list[str]:
    """DBOS executor threads whose stack is inside a wait for a person (`recv`)."""
    frames = sys._current_frames()
    held = []
    for thread in threading.enumerate():
        if not thread.name.startswith("dbos-executor"):
            continue
        frame = frames.get(thread.ident or -1)
        while frame is not None:
            if frame.f_code.co_name in ("recv", "await_decision"):
                held.append(thread.name)
                break
            frame = frame.f_back
    return held


def _parked(runtime: Runtime, run_id: str) -> None:
    until("the run parks", lambda: run_id in runtime.store.inbox.parked())
    until("its workflows end", lambda: not [w for w in _pending() if run_id in w])


def _runtime(tmp_path: Path, start_runtime: RuntimeFactory, **approval: Any) -> tuple[Runtime, dict[str, Path]]:
    remotes = make_repos(tmp_path, ["api"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "more", "--task-to", "TASK.md")],
        "playbooks": {
            "default": {"per_repo": {"agent": "coder"}},
            "planned": {"per_repo": {"agent": "coder"}, "approve_plan": True},
        },
        "approval": approval,
    }
    return start_runtime(config), remotes


def test_a_parked_run_holds_no_workflow_and_no_thread_then_merges(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, _ = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "touch the readme", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    _parked(runtime, run_id)

    assert _pending() == []
    assert _threads_waiting_for_people() == []
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    view = wait_for(runtime, run_id, RunState.merged, timeout=30)
    assert [c.state.value for c in view.changes] == ["merged"]
    assert len(event_data(runtime, run_id, "merged")) == 1


def test_many_parked_runs_do_not_block_a_new_run(
    tmp_path: Path, start_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATON_EXECUTOR_THREADS", "8")
    runtime, _ = _runtime(tmp_path, start_runtime)
    waiting = [submit(runtime, f"plan number {n}", ["api"], playbook="planned") for n in range(600)]
    probe = submit(runtime, "a new run while others wait", ["api"])

    wait_for(runtime, probe, RunState.awaiting_approval, timeout=240)
    until("every run parks", lambda: len(runtime.store.inbox.parked()) == 601, timeout=240)
    assert all(runtime.store.get_run(r).waiting_for == "plan" for r in waiting)  # type: ignore[union-attr]
    assert _pending() == []
    assert _threads_waiting_for_people() == []


def test_a_message_sent_while_the_run_works_is_handled_once_it_parks(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["api"])
    gate = tmp_path / "go"
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--block-until", str(gate), "--append", "README.md", "more", "--task-to", "TASK.md")],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
    }
    runtime = start_runtime(config)
    run_id = submit(runtime, "touch the readme", ["api"])
    wait_for(runtime, run_id, RunState.working, timeout=30)
    assert runtime.runs.follow_up(run_id, REVIEWER, "and the changelog").accepted
    gate.touch()

    until("the follow-up round", lambda: len(event_data(runtime, run_id, "round_finished")) == 1)
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    _parked(runtime, run_id)
    assert [e["round"] for e in event_data(runtime, run_id, "approval_requested")] == [0, 1]
    assert len(event_data(runtime, run_id, "round_started")) == 1


def test_two_approvals_at_once_merge_once(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, _ = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "touch the readme", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    _parked(runtime, run_id)

    results: list[bool] = []
    barrier = threading.Barrier(2)

    def approve(actor: Actor) -> None:
        barrier.wait()
        results.append(runtime.runs.decide(run_id, actor, Decision.approve).accepted)

    threads = [threading.Thread(target=approve, args=(a,)) for a in (APPROVER, SECOND)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True, True]
    wait_for(runtime, run_id, RunState.merged, timeout=30)
    until("the continuations end", lambda: not [w for w in _pending() if run_id in w])
    assert len(event_data(runtime, run_id, "merged")) == 1
    assert [s for s in event_data(runtime, run_id, "state") if s["to"] == "merged"] != []
    assert len([s for s in event_data(runtime, run_id, "state") if s["to"] == "merging"]) == 1


def test_a_parked_plan_approval_goes_on_to_the_work(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, _ = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "plan first", ["api"], playbook="planned")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    _parked(runtime, run_id)
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted

    until("the PR", lambda: len(runtime.store.changes(run_id)) == 1)
    _parked(runtime, run_id)
    assert runtime.store.get_run(run_id).waiting_for == "approval"  # type: ignore[union-attr]
    assert [e["round"] for e in event_data(runtime, run_id, "approval_requested")] == [0]


def test_a_parked_run_cancels_and_expires(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, _ = _runtime(tmp_path, start_runtime)
    cancelled = submit(runtime, "to cancel", ["api"])
    expiring = submit(runtime, "to expire", ["api"])
    for run_id in (cancelled, expiring):
        wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
        _parked(runtime, run_id)

    assert runtime.runs.cancel(cancelled, APPROVER).accepted
    runtime.runs.expire(expiring)
    wait_for(runtime, cancelled, RunState.cancelled, timeout=10)
    view = wait_for(runtime, expiring, RunState.expired, timeout=30)
    assert "expired" in (view.run.error or "")
    assert runtime.runs.retry(cancelled, APPROVER).accepted
    wait_for(runtime, cancelled, RunState.awaiting_approval, timeout=30)
    _parked(runtime, cancelled)


def test_a_claim_left_without_its_continuation_is_resumed_by_the_scheduler(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, _ = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "touch the readme", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    _parked(runtime, run_id)
    # A process claims the parked run for a message and stops before it enqueues the continuation.
    posted = runtime.store.inbox.post(run_id, {"decision": "recheck"})
    assert posted is not None and posted.claimed == 1

    assert runtime.scheduler.fire("claimed-continuations", datetime.now(UTC)) == "1 claimed"
    _parked(runtime, run_id)
    ran = [s.workflow_id for s in DBOS.list_workflows(load_input=False) if run_id in s.workflow_id]
    assert [w for w in ran if w.endswith("-c1")] == [f"run-{run_id}-a1-c1"]
    assert runtime.scheduler.fire("claimed-continuations", datetime.now(UTC)) == "0 claimed"
