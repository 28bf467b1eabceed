"""Approvals in a campaign bind per wave (real git remotes, script agents, the local forge): an
approval covers exactly the PRs open when it was given, at their heads and bases; the next wave
waits for its own approval; a decision made on the first wave's card is stale for the second; only
an authorised person's approval counts."""

from __future__ import annotations

from pathlib import Path

from bot.app import Runtime
from bot.domain.models import Actor, ChangeState, Decision, RunState, Source
from bot.engine.approvals import DecisionOutcome
from bot.store.store import shas_digest
from tests.e2e.conftest import APPROVER, RuntimeFactory, agent, make_repos, repo_entries, submit, until, wait_for

CLIENTS = ["client1", "client2", "client3", "client4"]
MALLORY = Actor(source=Source.cli, id="mallory", display="mallory")


def waiting_for_approval(runtime: Runtime, run_id: str, opened: int) -> bool:
    run = runtime.store.get_run(run_id)
    changes = runtime.store.changes(run_id)
    ready = run is not None and run.state is RunState.awaiting_approval and run.waiting_for == "approval"
    return ready and len(changes) == opened


def test_each_approval_binds_only_its_wave_and_the_next_wave_needs_its_own(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["api", *CLIENTS])
    runtime = start_runtime(
        {
            "repos": repo_entries(remotes, {c: ["api"] for c in CLIENTS}),
            "agents": [agent("steady", "--append", "NOTES.md", "renamed")],
            "routing": {"default_agent": "steady"},
            "approval": {"approvers": ["cli:approver"]},
            "playbooks": {"default": {"campaign": {"canary": 2, "max_open_prs": 3}}},
        }
    )
    run_id = submit(runtime, "rename the endpoint", ["api", *CLIENTS])
    until("the first wave asks", lambda: waiting_for_approval(runtime, run_id, 3), timeout=60)
    first = {c.repo: c.head_sha for c in runtime.store.changes(run_id)}
    first_card = shas_digest(first)

    refused = runtime.runs.decide(run_id, MALLORY, Decision.approve, seen_digest=first_card)
    assert refused.outcome is DecisionOutcome.refused
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve, seen_digest=first_card).accepted
    until("the second wave asks", lambda: waiting_for_approval(runtime, run_id, 5), timeout=60)

    (approval,) = runtime.store.approvals(run_id)
    assert approval.head_shas == first
    states = {c.repo: c.state for c in runtime.store.changes(run_id)}
    assert states == {
        "api": ChangeState.merged, "client1": ChangeState.merged, "client2": ChangeState.merged,
        "client3": ChangeState.open, "client4": ChangeState.open,
    }  # fmt: skip

    replayed = runtime.runs.decide(run_id, APPROVER, Decision.approve, seen_digest=first_card)
    assert replayed.outcome is DecisionOutcome.stale
    assert len(runtime.store.approvals(run_id)) == 1

    second = shas_digest({c.repo: c.head_sha for c in runtime.store.changes(run_id)})
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve, seen_digest=second).accepted
    wait_for(runtime, run_id, RunState.merged)
    assert all(c.state is ChangeState.merged for c in runtime.store.changes(run_id))
