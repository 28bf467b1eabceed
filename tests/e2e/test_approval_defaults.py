"""Secure defaults, over HTTP as Slack and GitHub send them: with no `approval.approvers`, only the
terminal operator and GitHub users with `github.approve_permission` on every repo of the run may
approve, so a Slack click counts only from a person mapped to such a GitHub user; and Baton answers
only its own Slack workspace (`slack.team_id`, by default the one `auth.test` names at start)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.models import RunState
from bot.store.audit import AuditKind, AuditOutcome, AuditRecord
from tests.e2e.conftest import RuntimeFactory, wait_for
from tests.e2e.slack_github_support import GateWorld, gate_world
from tests.fakes.served_app import until

ALICE, BOB, CAROL, DAVE = "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"
ELSEWHERE = "T0OTHER"
PEOPLE = [
    {"name": "Bob", "slack": BOB, "github": "bob"},
    {"name": "Carol", "slack": CAROL, "github": "carol"},
]


def refusals(world: GateWorld, run_id: str | None) -> list[AuditRecord]:
    return [a for a in world.runtime.store.audit.records(run_id) if a.outcome is AuditOutcome.refused]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[GateWorld]:
    roles = {"bob": "maintain", "carol": "write"}
    with gate_world(tmp_path, monkeypatch, start_runtime, roles, people=PEOPLE) as w:
        yield w


def test_with_no_approvers_a_slack_user_mapped_to_no_github_login_cannot_approve(world: GateWorld) -> None:
    run = world.start(ALICE)
    world.green(run)

    world.click_approve(DAVE, run)

    note = until("a note to Dave", lambda: world.ephemerals(DAVE))
    assert "You can't approve this run" in note[0] and "people" in note[0]
    assert world.decisions(run.run_id) == []
    assert world.merges() == []
    assert world.runtime.store.get_run(run.run_id).state is RunState.awaiting_approval


def test_with_no_approvers_a_slack_user_mapped_to_a_github_writer_cannot_approve(world: GateWorld) -> None:
    run = world.start(ALICE)
    world.green(run)

    world.click_approve(CAROL, run)

    note = until("a note to Carol", lambda: world.ephemerals(CAROL))
    assert "@carol has write access to acme/api; to approve or reject this run you need maintain access" in note[0]
    assert world.decisions(run.run_id) == []
    assert world.merges() == []


def test_a_click_from_another_workspace_is_refused_even_with_a_maintainers_user_id(world: GateWorld) -> None:
    run = world.start(ALICE)
    world.green(run)

    world.click_approve(BOB, run, team=ELSEWHERE)

    refused = until("the refusal audited", lambda: refusals(world, run.run_id))
    assert [(a.kind, a.actor, a.surface) for a in refused] == [(AuditKind.approval, f"slack:{BOB}", "slack")]
    assert ELSEWHERE in refused[0].reason
    assert world.decisions(run.run_id) == []
    assert world.merges() == []
    assert world.runtime.store.get_run(run.run_id).state is RunState.awaiting_approval


def test_a_mapped_maintainers_click_merges(world: GateWorld) -> None:
    run = world.start(ALICE)
    world.green(run)

    world.click_approve(BOB, run)

    wait_for(world.runtime, run.run_id, RunState.merged, timeout=60)
    assert world.decisions(run.run_id) == [f"slack:{BOB}"]
    assert world.merges() == [200]


def test_a_mention_from_another_workspace_starts_nothing(world: GateWorld) -> None:
    _, answer = world.slack.mention(ALICE, "<@U0BATON> use /v2/items", team=ELSEWHERE)

    assert answer.status_code == 200
    [refused] = until("the refusal audited", lambda: refusals(world, None))
    assert (refused.kind, refused.actor) == (AuditKind.trigger, f"slack:{ALICE}")
    assert ELSEWHERE in refused.reason
    assert world.slack.slack.calls_to("chat.postMessage") == []
    assert world.runtime.store.list_runs() == []


def test_a_slash_command_from_another_workspace_is_refused(world: GateWorld) -> None:
    answer = world.slack.command(BOB, "status", team=ELSEWHERE)

    assert answer.status_code == 200
    assert "workspace" in answer.text
    assert world.runtime.store.list_runs() == []
