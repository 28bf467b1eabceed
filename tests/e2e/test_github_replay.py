"""A signed GitHub body is not a fresh request: commands and triggers count once per comment (or
label event), whatever `X-GitHub-Delivery` header — which the signature does not cover — comes with
them; a command counts only if GitHub still has the comment as delivered; and an approval written
before a PR's head moved approves nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.models import ChecksState, Decision, RunState
from tests.e2e.conftest import APPROVER, agent, event_data, until, wait_for
from tests.fakes.github_stack import Stack, github_stack
from tests.gitutil import commit_to_remote, ref_sha

ISSUE = "acme/api"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    extra = {
        "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
    }
    with github_stack(tmp_path, ["api"], extra) as stack:
        stack.fake.grant(ISSUE, "alice", "write")
        stack.fake.grant(ISSUE, "maya", "maintain")
        yield stack


def _issue(stack: Stack) -> int:
    return stack.fake.open_issue(ISSUE, "Rename /items", "The /items endpoint should be /v2/items.", "carol")


def _awaiting(stack: Stack) -> tuple[int, str]:
    issue = _issue(stack)
    comment = stack.fake.add_comment(ISSUE, issue, "@baton rename /items to /v2/items", "alice")
    answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, issue, comment.id))
    run_id = str(answer.json()["run_id"])
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    return issue, run_id


def _green(stack: Stack, run_id: str) -> None:
    [change] = stack.runtime.store.changes(run_id)
    stack.fake.add_check_run(ISSUE, change.head_sha, "test", "success")
    stack.hooks.send("check_suite", stack.hooks.check_suite_completed(ISSUE, change.number))
    until("checks passed", lambda: stack.runtime.store.changes(run_id)[0].checks is ChecksState.passed)


def _push(stack: Stack, run_id: str, name: str) -> None:
    [change] = stack.runtime.store.changes(run_id)
    commit_to_remote(stack.remotes["api"], change.branch, {name: "unreviewed\n"}, f"push {name}")
    stack.hooks.send("pull_request", stack.hooks.pull_request("synchronize", ISSUE, change.number, "alice"))
    until("Baton saw the push", lambda: stack.runtime.store.changes(run_id)[0].head_sha != change.head_sha)


def _approvals(stack: Stack, run_id: str) -> list[tuple[str, bool]]:
    return [(a.actor.key, a.valid) for a in stack.runtime.store.approvals(run_id) if a.decision is Decision.approve]


def test_an_approval_body_resent_with_a_new_delivery_id_after_a_push_approves_nothing(stack: Stack) -> None:
    issue, run_id = _awaiting(stack)
    approve = stack.fake.add_comment(ISSUE, issue, "/baton approve", "maya")
    body = stack.hooks.issue_comment(ISSUE, issue, approve.id)
    stack.hooks.send("issue_comment", body, delivery="d-approve")  # checks have not reported: it waits
    until("the approval was weighed", lambda: bool(event_data(stack.runtime, run_id, "approval_not_enough")))
    _push(stack, run_id, "EXTRA.md")
    until("the approval was voided", lambda: _approvals(stack, run_id) == [("github:maya", False)])
    _green(stack, run_id)

    replay = stack.hooks.send("issue_comment", body, delivery="d-replayed")

    assert (replay.status_code, replay.json()["action"]) == (200, "duplicate")
    assert _approvals(stack, run_id) == [("github:maya", False)]
    assert stack.runtime.store.get_run(run_id).state is RunState.awaiting_approval  # type: ignore[union-attr]
    assert stack.fake.calls("PUT", r"/merge$") == []


def test_a_trigger_body_resent_with_a_new_delivery_id_starts_no_second_run(stack: Stack) -> None:
    issue = _issue(stack)
    ask = stack.fake.add_comment(ISSUE, issue, "@baton rename /items to /v2/items", "alice")
    body = stack.hooks.issue_comment(ISSUE, issue, ask.id)
    first = stack.hooks.send("issue_comment", body, delivery="d-1").json()
    wait_for(stack.runtime, str(first["run_id"]), RunState.awaiting_approval, timeout=60)

    again = stack.hooks.send("issue_comment", body, delivery="d-2").json()

    assert (again["action"], again["run_id"]) == ("duplicate", first["run_id"])
    assert [r.run_id for r in stack.runtime.store.list_runs()] == [first["run_id"]]
    assert len(stack.fake.pulls(ISSUE)) == 1


def test_a_label_body_resent_with_a_new_delivery_id_starts_no_second_run(stack: Stack) -> None:
    issue = _issue(stack)
    stack.fake.label_issue(ISSUE, issue, "baton", "alice")
    body = stack.hooks.issues_labeled(ISSUE, issue, "baton", "alice")
    first = stack.hooks.send("issues", body, delivery="d-1").json()
    wait_for(stack.runtime, str(first["run_id"]), RunState.awaiting_approval, timeout=60)

    again = stack.hooks.send("issues", body, delivery="d-2").json()

    assert (again["action"], again["run_id"]) == ("duplicate", first["run_id"])
    assert [r.run_id for r in stack.runtime.store.list_runs()] == [first["run_id"]]


def test_a_label_added_again_later_starts_a_new_run(stack: Stack) -> None:
    issue = _issue(stack)
    stack.fake.label_issue(ISSUE, issue, "baton", "alice")
    first = stack.hooks.send("issues", stack.hooks.issues_labeled(ISSUE, issue, "baton", "alice")).json()
    wait_for(stack.runtime, str(first["run_id"]), RunState.awaiting_approval, timeout=60)
    stack.runtime.runs.cancel(str(first["run_id"]), APPROVER)
    stack.fake.label_issue(ISSUE, issue, "baton", "alice", remove=True)
    stack.fake.label_issue(ISSUE, issue, "baton", "alice")

    second = stack.hooks.send("issues", stack.hooks.issues_labeled(ISSUE, issue, "baton", "alice")).json()

    assert second["action"] == "started" and second["run_id"] != first["run_id"]


def test_a_command_whose_comment_github_no_longer_has_as_delivered_does_nothing(stack: Stack) -> None:
    issue, run_id = _awaiting(stack)
    _green(stack, run_id)
    edited = stack.fake.add_comment(ISSUE, issue, "/baton approve", "maya")
    body = stack.hooks.issue_comment(ISSUE, issue, edited.id)
    edited.body, edited.updated_at = "On second thought, not yet.", "2099-01-01T00:00:00Z"
    deleted = stack.fake.add_comment(ISSUE, issue, "/baton approve", "maya")
    deleted_body = stack.hooks.issue_comment(ISSUE, issue, deleted.id)
    del stack.fake.world.comments[deleted.id]

    answers = [
        stack.hooks.send("issue_comment", body).json()["action"],
        stack.hooks.send("issue_comment", deleted_body).json()["action"],
    ]

    assert answers == [
        "ignored: the comment was edited or deleted since it was written",
        "ignored: the comment was edited or deleted since it was written",
    ]
    assert _approvals(stack, run_id) == []
    assert stack.fake.calls("PUT", r"/merge$") == []


def test_an_approval_written_before_a_head_moved_is_refused_and_asked_again(stack: Stack) -> None:
    issue, run_id = _awaiting(stack)
    late = stack.fake.add_comment(ISSUE, issue, "/baton approve", "maya")
    late.created_at = late.updated_at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = stack.hooks.issue_comment(ISSUE, issue, late.id)
    _push(stack, run_id, "AFTER.md")  # pushed after maya wrote; her comment is delivered only now
    _green(stack, run_id)
    main = ref_sha(stack.remotes["api"], "main")

    stack.hooks.send("issue_comment", body)

    replies = [c.body for c in stack.fake.comments_on(ISSUE, issue) if c.author == "baton-bot"]
    assert any("Not recorded: approve again: heads changed since your comment." in r for r in replies)
    assert _approvals(stack, run_id) == []
    assert ref_sha(stack.remotes["api"], "main") == main
