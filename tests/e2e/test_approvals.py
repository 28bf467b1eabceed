"""Approval policy end to end: SHA binding, who may approve, double clicks, reject, cancel, expiry
and the green-checks gate. Every test checks the remotes too: "not merged" means main did not move."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.domain.models import Actor, ChangeState, ChecksState, Decision, ReplyTo, RunState, Source, Trigger
from bot.engine.approvals import DecisionOutcome
from bot.engine.intake import build_spec
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    agent_alive,
    event_data,
    lines,
    make_repos,
    repo_entries,
    submit,
    until,
    wait_for,
)
from tests.gitutil import commit_to_remote, read_file_on, ref_sha

SECOND = Actor(source=Source.cli, id="second", display="second")


def _setup(
    tmp_path: Path, start_runtime: RuntimeFactory, approval: dict[str, Any] | None = None, **extra: Any
) -> tuple[Runtime, dict[str, Path]]:
    remotes = make_repos(tmp_path, ["api"])
    config: dict[str, Any] = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
        **extra,
    }
    if approval is not None:
        config["approval"] = approval
    return start_runtime(config), remotes


def _settled(runtime: Runtime, run_id: str, kind: str, count: int) -> None:
    """Wait until the run has recorded `count` events of `kind` (the workflow acted on a decision)."""
    until(f"{count} {kind} event(s)", lambda: len(event_data(runtime, run_id, kind)) >= count)


def test_a_push_between_two_approvals_invalidates_the_first_and_blocks_the_merge(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes = _setup(tmp_path, start_runtime, {"min_approvals": 2})
    main_before = ref_sha(remotes["api"], "main")
    run_id = submit(runtime, "move to /v2/items", ["api"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    [change] = view.changes

    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    _settled(runtime, run_id, "approval_not_enough", 1)
    commit_to_remote(remotes["api"], change.branch, {"HUMAN.md": "a human was here\n"}, "late push")
    assert runtime.runs.decide(run_id, SECOND, Decision.approve).accepted
    _settled(runtime, run_id, "approval_not_enough", 2)

    assert event_data(runtime, run_id, "approval_invalidated"), "the push did not invalidate the approval"
    run = runtime.store.get_run(run_id)
    assert run is not None and run.state is RunState.awaiting_approval
    assert not any(a.valid for a in runtime.store.approvals(run_id))
    assert ref_sha(remotes["api"], "main") == main_before
    assert not event_data(runtime, run_id, "merged")


def test_two_fresh_approvals_after_a_push_merge_the_pushed_commit(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes = _setup(tmp_path, start_runtime, {"min_approvals": 2})
    run_id = submit(runtime, "move to /v2/items", ["api"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    [change] = view.changes
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    _settled(runtime, run_id, "approval_not_enough", 1)
    pushed = commit_to_remote(remotes["api"], change.branch, {"HUMAN.md": "a human was here\n"}, "late push")
    assert runtime.runs.decide(run_id, SECOND, Decision.approve).accepted
    _settled(runtime, run_id, "approval_invalidated", 1)
    _settled(runtime, run_id, "approval_not_enough", 2)

    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    assert runtime.runs.decide(run_id, SECOND, Decision.approve).accepted
    view = wait_for(runtime, run_id, RunState.merged, timeout=20)

    [merged] = view.changes
    assert merged.head_sha == pushed
    assert {a.head_shas["api"] for a in view.approvals if a.valid} == {pushed}
    assert read_file_on(remotes["api"], "main", "HUMAN.md") == "a human was here\n"
    assert "use /v2/items" in read_file_on(remotes["api"], "main", "README.md")


def test_the_requester_may_not_approve_their_own_run_from_chat(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, remotes = _setup(tmp_path, start_runtime, {"forbid_self_approval": True})
    main_before = ref_sha(remotes["api"], "main")
    requester = Actor(source=Source.slack, id="U123", display="dana")
    trigger = Trigger(
        source=Source.slack,
        actor=requester,
        request="move to /v2/items",
        reply_to=ReplyTo(source=Source.slack, channel="C1", thread_ts="1.0"),
        delivery_id=uuid.uuid4().hex,
    )
    run_id = runtime.runs.submit(build_spec(trigger, runtime.config, repos=["api"]))
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    result = runtime.runs.decide(run_id, requester, Decision.approve)

    assert not result.accepted
    assert "may not approve their own run" in result.message
    assert runtime.store.approvals(run_id) == []
    time.sleep(0.5)
    run = runtime.store.get_run(run_id)
    assert run is not None and run.state is RunState.awaiting_approval
    assert ref_sha(remotes["api"], "main") == main_before


def test_only_a_listed_approver_can_merge(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, remotes = _setup(tmp_path, start_runtime, {"approvers": ["cli:alice"]})
    main_before = ref_sha(remotes["api"], "main")
    run_id = submit(runtime, "move to /v2/items", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    refused = runtime.runs.decide(run_id, APPROVER, Decision.approve)
    assert not refused.accepted
    assert "is not an approver" in refused.message
    assert runtime.store.approvals(run_id) == []
    time.sleep(0.5)
    run = runtime.store.get_run(run_id)
    assert run is not None and run.state is RunState.awaiting_approval
    assert ref_sha(remotes["api"], "main") == main_before

    alice = Actor(source=Source.cli, id="alice", display="alice")
    assert runtime.runs.decide(run_id, alice, Decision.approve).accepted
    wait_for(runtime, run_id, RunState.merged, timeout=20)
    assert ref_sha(remotes["api"], "main") != main_before


def test_a_double_approval_counts_once(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, remotes = _setup(tmp_path, start_runtime, {"min_approvals": 2})
    main_before = ref_sha(remotes["api"], "main")
    run_id = submit(runtime, "move to /v2/items", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    first = runtime.runs.decide(run_id, APPROVER, Decision.approve)
    second = runtime.runs.decide(run_id, APPROVER, Decision.approve)
    _settled(runtime, run_id, "approval_not_enough", 1)
    time.sleep(0.5)

    assert first.accepted and second.accepted
    assert "already recorded" in second.message
    assert len(runtime.store.approvals(run_id)) == 1
    assert len(event_data(runtime, run_id, "decision")) == 1
    [not_enough] = event_data(runtime, run_id, "approval_not_enough")
    assert "has 1" in not_enough["reason"]
    run = runtime.store.get_run(run_id)
    assert run is not None and run.state is RunState.awaiting_approval
    assert ref_sha(remotes["api"], "main") == main_before


def test_a_rejected_run_merges_nothing(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, remotes = _setup(tmp_path, start_runtime)
    main_before = ref_sha(remotes["api"], "main")
    run_id = submit(runtime, "move to /v2/items", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    assert runtime.runs.decide(run_id, APPROVER, Decision.reject, reason="wrong version").accepted
    view = wait_for(runtime, run_id, RunState.rejected, timeout=20)

    assert view.run.error == "wrong version"
    assert [c.state for c in view.changes] == [ChangeState.open]
    assert ref_sha(remotes["api"], "main") == main_before
    assert not event_data(runtime, run_id, "merged")


def test_cancelling_while_an_agent_works_kills_the_agent(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api"])
    count = tmp_path / "count"
    never = tmp_path / "never-created"
    stuck = agent("stuck", "--count", str(count), "--block-until", str(never), "--append", "README.md", "x")
    runtime = start_runtime({"repos": repo_entries(remotes), "agents": [stuck]})
    run_id = submit(runtime, "move to /v2/items", ["api"])
    until("the agent to start", lambda: bool(lines(count)))
    pid = int(lines(count)[0].split()[-1])
    assert agent_alive(count, pid)

    assert runtime.runs.cancel(run_id, APPROVER).accepted
    view = wait_for(runtime, run_id, RunState.cancelled, timeout=10)

    until(f"agent process {pid} to die", lambda: not agent_alive(count, pid), timeout=10)
    assert view.changes == []
    time.sleep(0.5)
    run = runtime.store.get_run(run_id)
    assert run is not None and run.state is RunState.cancelled
    assert runtime.store.changes(run_id) == []
    assert len(lines(count)) == 1


def test_an_unanswered_approval_expires_and_merges_nothing(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, remotes = _setup(tmp_path, start_runtime, {"expiry_hours": 0.0003})
    main_before = ref_sha(remotes["api"], "main")
    run_id = submit(runtime, "move to /v2/items", ["api"])

    view = wait_for(runtime, run_id, RunState.expired, timeout=30)

    assert "expired" in (view.run.error or "")
    assert ref_sha(remotes["api"], "main") == main_before
    assert [c.state for c in view.changes] == [ChangeState.open]
    late = runtime.runs.decide(run_id, APPROVER, Decision.approve)
    assert not late.accepted
    assert ref_sha(remotes["api"], "main") == main_before


def test_approving_red_checks_does_not_merge(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api"])
    breaker = agent("breaker", "--append", "BROKEN", "oops", "--append", "README.md", "use /v2/items")
    runtime = start_runtime(
        {
            "repos": repo_entries(remotes),
            "agents": [breaker],
            "playbooks": {"plain": {"per_repo": {"agent": "breaker"}}},
            "approval": {"require_green_checks": True},
        }
    )
    main_before = ref_sha(remotes["api"], "main")
    run_id = submit(runtime, "move to /v2/items", ["api"], playbook="plain")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    assert [c.checks for c in view.changes] == [ChecksState.failed]

    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    _settled(runtime, run_id, "approval_not_enough", 1)

    [not_enough] = event_data(runtime, run_id, "approval_not_enough")
    assert "checks are not green on api" in not_enough["reason"]
    after = runtime.store.view(run_id)
    assert after is not None
    assert after.run.state is RunState.awaiting_approval
    assert [c.checks for c in after.changes] == [ChecksState.failed]
    assert [c.state for c in after.changes] == [ChangeState.open]
    assert ref_sha(remotes["api"], "main") == main_before


def test_each_decision_says_what_became_of_it(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, _ = _setup(tmp_path, start_runtime, {"approvers": ["cli:approver", "cli:second"], "min_approvals": 2})
    run_id = submit(runtime, "move to /v2/items", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    stranger = Actor(source=Source.cli, id="stranger", display="stranger")
    heads = {c.repo: c.head_sha for c in runtime.store.changes(run_id)}

    outcomes = [
        runtime.runs.decide(run_id, APPROVER, Decision.approve).outcome,
        runtime.runs.decide(run_id, APPROVER, Decision.approve).outcome,
        runtime.runs.decide(run_id, stranger, Decision.approve).outcome,
        runtime.runs.decide(run_id, SECOND, Decision.approve, seen_shas={r: "0" * 40 for r in heads}).outcome,
    ]
    assert runtime.runs.decide(run_id, SECOND, Decision.reject, "not this way").outcome is DecisionOutcome.recorded
    wait_for(runtime, run_id, RunState.rejected, timeout=20)
    outcomes.append(runtime.runs.decide(run_id, SECOND, Decision.approve).outcome)

    assert outcomes == [
        DecisionOutcome.recorded,
        DecisionOutcome.duplicate,
        DecisionOutcome.refused,
        DecisionOutcome.stale,
        DecisionOutcome.not_waiting,
    ]
