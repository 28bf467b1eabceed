"""The conversation around a run on GitHub: a label starts one, `@baton` on a PR or a review asking
for changes continues it on the same PRs, red checks go back to the agent, a closed PR abandons
the run, checks are polled when no webhook comes, and approvals need the right person."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import ChecksState, RunState
from bot.services.github.issues import status_marker
from tests.e2e.conftest import agent, event_data, until, wait_for
from tests.fakes.github_stack import Stack, github_stack
from tests.gitutil import read_file_on

ISSUE = "acme/api"


def _stack(tmp_path: Path, **extra: Any) -> Iterator[Stack]:
    github = extra.pop("github", {})
    config = {
        "agents": [agent("coder", "--append", "README.md", "use /v2/items", "--task-to", "TASK.md")],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
        **extra,
    }
    with github_stack(tmp_path, ["api"], config, **github) as stack:
        stack.fake.grant(ISSUE, "alice", "write")
        stack.fake.grant(ISSUE, "maya", "maintain")
        stack.fake.grant(ISSUE, "root", "admin")
        yield stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(tmp_path)


def _comment(stack: Stack, number: int, text: str, author: str) -> dict[str, Any]:
    comment = stack.fake.add_comment(ISSUE, number, text, author)
    on_pull = number in stack.fake.world.repos[ISSUE].pulls
    answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, number, comment.id, on_pull=on_pull))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _started(stack: Stack, author: str = "alice") -> tuple[int, str]:
    issue = stack.fake.open_issue(ISSUE, "Rename /items", "The /items endpoint should be /v2/items.", "carol")
    run_id = str(_comment(stack, issue, "@baton rename /items to /v2/items", author)["run_id"])
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    return issue, run_id


def _replies(stack: Stack, number: int) -> list[str]:
    return [c.body for c in stack.fake.comments_on(ISSUE, number) if c.author == "baton-bot"]


def _pass_checks(stack: Stack, run_id: str) -> None:
    [change] = stack.runtime.store.changes(run_id)
    stack.fake.add_check_run(ISSUE, change.head_sha, "test", "success")
    stack.hooks.send("check_suite", stack.hooks.check_suite_completed(ISSUE, change.number))
    until("checks passed", lambda: stack.runtime.store.changes(run_id)[0].checks is ChecksState.passed)


def test_labelling_an_issue_starts_a_run_from_its_title_and_body(stack: Stack) -> None:
    issue = stack.fake.open_issue(ISSUE, "Rename /items to /v2/items", "Callers use /items today. agent=evil", "carol")
    stack.fake.label_issue(ISSUE, issue, "baton", "alice")
    answer = stack.hooks.send("issues", stack.hooks.issues_labeled(ISSUE, issue, "baton", "alice"))
    run_id = answer.json()["run_id"]

    view = wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    assert view.run.spec.trigger.actor.id == "alice"
    assert view.run.spec.agent is None  # the issue's text cannot pick the agent
    [pull] = stack.fake.pulls(ISSUE)
    task = read_file_on(stack.remotes["api"], pull.head, "TASK.md")
    begin = task.index(f"<<<GITHUB-ISSUE {ISSUE}#{issue} ")
    end = task.index(f"<<<END-GITHUB-ISSUE {ISSUE}#{issue} ")
    quoted = task[begin:end].split("\n", 1)[1]
    assert quoted == "Title: Rename /items to /v2/items\n\nCallers use /items today. agent=evil\n"


def test_a_mention_on_the_runs_pr_adds_commits_to_the_same_pr(stack: Stack) -> None:
    issue, run_id = _started(stack)
    [pull] = stack.fake.pulls(ISSUE)
    before = stack.runtime.store.changes(run_id)[0].head_sha

    assert _comment(stack, pull.number, "@baton also mention it in the changelog", "alice")["action"] == "follow_up"
    until("round 1 finished", lambda: bool(event_data(stack.runtime, run_id, "round_finished")))
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)

    assert [p.number for p in stack.fake.pulls(ISSUE)] == [pull.number]
    assert stack.runtime.store.changes(run_id)[0].head_sha != before
    assert "also mention it in the changelog" in read_file_on(stack.remotes["api"], pull.head, "TASK.md")
    until("the status comment shows the round", lambda: "**Round 1** (follow-up" in _status(stack, issue, run_id))


def test_a_review_requesting_changes_that_mentions_baton_is_a_follow_up(stack: Stack) -> None:
    _, run_id = _started(stack)
    [pull] = stack.fake.pulls(ISSUE)
    review = stack.hooks.review_submitted(
        ISSUE, pull.number, "maya", "changes_requested", "@baton keep /items as an alias"
    )
    assert stack.hooks.send("pull_request_review", review).json()["action"] == "follow_up"

    until("round 1 finished", lambda: bool(event_data(stack.runtime, run_id, "round_finished")))
    assert "keep /items as an alias" in read_file_on(stack.remotes["api"], pull.head, "TASK.md")


def test_a_pr_closed_without_merging_abandons_the_run(stack: Stack) -> None:
    issue, run_id = _started(stack)
    [pull] = stack.fake.pulls(ISSUE)
    stack.fake.close_pull(ISSUE, pull.number, "maya")

    stack.hooks.send("pull_request", stack.hooks.pull_request("closed", ISSUE, pull.number, "maya"))

    view = wait_for(stack.runtime, run_id, RunState.cancelled, timeout=30)
    assert "github:maya" in (view.run.error or "")
    until("the status comment says why", lambda: "closed without merging by @maya" in _status(stack, issue, run_id))


def _status(stack: Stack, issue: int, run_id: str) -> str:
    [body] = [b for b in _replies(stack, issue) if status_marker(run_id) in b]
    return body


def test_the_requester_may_not_approve_their_own_run(stack: Stack) -> None:
    issue, run_id = _started(stack, author="maya")
    _pass_checks(stack, run_id)

    _comment(stack, issue, "/baton approve", "maya")

    assert any("Not recorded: the requester may not approve their own run" in b for b in _replies(stack, issue))
    assert stack.runtime.store.approvals(run_id) == []


def test_an_approver_needs_maintain_on_the_repo(stack: Stack) -> None:
    issue, run_id = _started(stack, author="maya")
    _comment(stack, issue, "/baton approve", "alice")

    assert any("@alice has write access to acme/api; to approve or reject" in b for b in _replies(stack, issue))
    assert stack.runtime.store.approvals(run_id) == []

    _pass_checks(stack, run_id)
    _comment(stack, issue, "/baton approve", "root")
    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)


def test_status_and_cancel_answer_on_the_issue_and_on_the_runs_pr(stack: Stack) -> None:
    issue, run_id = _started(stack)
    [pull] = stack.fake.pulls(ISSUE)
    _comment(stack, issue, "/baton status", "alice")
    assert any(f"Run `{run_id}` is **awaiting approval**" in b for b in _replies(stack, issue))

    _comment(stack, pull.number, "Not needed after all.\n/baton cancel", "alice")
    wait_for(stack.runtime, run_id, RunState.cancelled, timeout=30)
    assert any(f"run {run_id} cancelled" in b for b in _replies(stack, pull.number))


@pytest.fixture
def repairing(tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(tmp_path, approval={"repair_on_failed_checks": 1})


def test_a_failed_check_goes_back_to_the_agent_on_the_same_pr(repairing: Stack) -> None:
    stack = repairing
    _, run_id = _started(stack)
    [change] = stack.runtime.store.changes(run_id)
    stack.fake.add_check_run(ISSUE, change.head_sha, "test", "failure", summary="1 failed", text="test_items: 404")
    stack.hooks.send("check_suite", stack.hooks.check_suite_completed(ISSUE, change.number, "failure"))

    until("the repair round finished", lambda: bool(event_data(stack.runtime, run_id, "round_finished")))
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    assert [e["kind"] for e in event_data(stack.runtime, run_id, "round_started")] == ["repair"]
    assert "test_items: 404" in read_file_on(stack.remotes["api"], change.branch, "TASK.md")
    assert len(stack.fake.pulls(ISSUE)) == 1


@pytest.fixture
def polling(tmp_path: Path) -> Iterator[Stack]:
    yield from _stack(tmp_path, github={"checks_poll_interval_s": 0.2})


def test_checks_are_polled_when_no_webhook_comes(polling: Stack) -> None:
    stack = polling
    issue, run_id = _started(stack)
    _comment(stack, issue, "/baton approve", "maya")  # recorded; waits for green checks
    until("the approval was weighed", lambda: bool(event_data(stack.runtime, run_id, "approval_not_enough")))

    [change] = stack.runtime.store.changes(run_id)
    stack.fake.add_check_run(ISSUE, change.head_sha, "test", "success")  # CI finishes; its webhook is lost

    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)
    assert stack.fake.calls("GET", rf"/commits/{change.head_sha}/check-runs$")
    # The poller is a scheduler job (not a webhook, not the surface hub): it is what turned the run green.
    polled = [f for f in stack.runtime.scheduler.fired if f.job == "github-checks"]
    assert any(f.outcome == "1 PR(s) updated" for f in polled)
    assert "github-checks" not in stack.runtime.hub.names
