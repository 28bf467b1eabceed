"""GitHub end to end when things are not as they should be: people without the right permission,
forged and repeated deliveries, GitHub answering 502 or 409, and a push after the approval."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.models import ChecksState, RunState
from bot.scm.git import run_git
from bot.services.github.issues import status_marker
from bot.store.audit import AuditKind, AuditOutcome
from tests.e2e.conftest import agent, event_data, until, wait_for
from tests.fakes.github_stack import Stack, github_stack
from tests.gitutil import commit_to_remote, read_file_on, ref_sha

ISSUE = "acme/api"
ASK = "@baton rename /items to /v2/items\nrepos: api, web"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    extra = {
        "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
        "repos_extra": {"web": {"depends_on": ["api"]}},
    }
    with github_stack(tmp_path, ["api", "web"], extra) as stack:
        for repo in ("acme/api", "acme/web"):
            stack.fake.grant(repo, "alice", "write")
            stack.fake.grant(repo, "maya", "maintain")
            stack.fake.grant(repo, "bob", "read")
        yield stack


def _issue(stack: Stack) -> int:
    return stack.fake.open_issue(ISSUE, "Rename /items", "The /items endpoint should be /v2/items.", "carol")


def _comment(stack: Stack, issue: int, text: str, author: str, delivery: str | None = None) -> dict[str, object]:
    comment = stack.fake.add_comment(ISSUE, issue, text, author)
    answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, issue, comment.id), delivery=delivery)
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def _awaiting(stack: Stack) -> tuple[int, str]:
    issue = _issue(stack)
    run_id = str(_comment(stack, issue, ASK, "alice")["run_id"])
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    return issue, run_id


def _green(stack: Stack, run_id: str) -> None:
    for change in stack.runtime.store.changes(run_id):
        stack.fake.add_check_run(f"acme/{change.repo}", change.head_sha, "test", "success")
        stack.hooks.send("check_suite", stack.hooks.check_suite_completed(f"acme/{change.repo}", change.number))
    until("checks passed", lambda: all(c.checks is ChecksState.passed for c in stack.runtime.store.changes(run_id)))


def _replies(stack: Stack, issue: int) -> list[str]:
    return [c.body for c in stack.fake.comments_on(ISSUE, issue) if c.author == "baton-bot"]


def _baton_branches(remote: Path) -> list[str]:
    return run_git(
        ["--git-dir", str(remote), "for-each-ref", "--format=%(refname)", "refs/heads/baton/"], remote
    ).split()


def test_a_read_only_commenter_is_refused_politely_and_nothing_starts(stack: Stack) -> None:
    issue = _issue(stack)
    answer = _comment(stack, issue, ASK, "bob")

    assert answer["action"] == "refused"
    [reply] = _replies(stack, issue)
    assert "@bob has read access to acme/api" in reply and "write access can ask me" in reply
    assert stack.runtime.store.list_runs() == []
    assert stack.fake.calls("POST", r"/pulls$") == []
    assert _baton_branches(stack.remotes["api"]) == []


def test_a_refused_trigger_is_in_the_audit_trail_with_its_delivery_and_reason(stack: Stack) -> None:
    issue = _issue(stack)
    _comment(stack, issue, ASK, "bob", delivery="d-bob")

    [record] = stack.runtime.store.audit.records()

    assert (record.kind, record.outcome, record.actor, record.surface, record.delivery_id, record.run_id) == (
        AuditKind.trigger,
        AuditOutcome.refused,
        "github:bob",
        "github",
        "d-bob",
        None,
    )
    assert record.reason.startswith("@bob has read access to acme/api")


def test_a_redelivered_webhook_creates_nothing_new(stack: Stack) -> None:
    issue = _issue(stack)
    comment = stack.fake.add_comment(ISSUE, issue, ASK, "alice")
    body = stack.hooks.issue_comment(ISSUE, issue, comment.id)
    first = stack.hooks.send("issue_comment", body, delivery="d-1").json()
    wait_for(stack.runtime, str(first["run_id"]), RunState.awaiting_approval, timeout=60)

    again = stack.hooks.send("issue_comment", body, delivery="d-1")

    assert (again.status_code, again.json()["action"], again.json()["run_id"]) == (200, "duplicate", first["run_id"])
    assert len(stack.runtime.store.list_runs()) == 1
    assert len(stack.fake.calls("POST", rf"/issues/comments/{comment.id}/reactions$")) == 1
    assert len([b for b in _replies(stack, issue) if status_marker(str(first["run_id"])) in b]) == 1
    assert [len(stack.fake.pulls(f"acme/{r}")) for r in ("api", "web")] == [1, 1]


def test_a_forged_signature_gets_401_and_nothing_happens(stack: Stack) -> None:
    issue = _issue(stack)
    comment = stack.fake.add_comment(ISSUE, issue, ASK, "alice")
    body = stack.hooks.issue_comment(ISSUE, issue, comment.id)
    before = len(stack.fake.requests)

    forged = stack.hooks.send("issue_comment", body, secret="not-the-secret")
    unsigned = stack.hooks.send("issue_comment", body, signature="")

    assert (forged.status_code, unsigned.status_code) == (401, 401)
    assert stack.runtime.store.list_runs() == []
    assert len(stack.fake.requests) == before


def test_a_502_while_opening_a_pr_is_retried_into_exactly_one_pr(stack: Stack) -> None:
    stack.fake.fail("POST", r"^/repos/acme/web/pulls$", 502, after=True)  # GitHub made it, the answer was lost
    stack.fake.fail("POST", r"^/repos/acme/api/pulls$", 502)

    _, run_id = _awaiting(stack)

    assert [p.number for p in stack.fake.pulls("acme/api")] == [
        c.number for c in stack.runtime.store.changes(run_id) if c.repo == "api"
    ]
    assert len(stack.fake.pulls("acme/api")) == len(stack.fake.pulls("acme/web")) == 1
    assert [c.status for c in stack.fake.calls("POST", r"^/repos/acme/api/pulls$")] == [502, 201]


def test_a_409_on_the_second_merge_stops_the_train_and_says_what_merged(stack: Stack) -> None:
    issue, run_id = _awaiting(stack)
    _green(stack, run_id)
    web = next(c for c in stack.runtime.store.changes(run_id) if c.repo == "web")
    web_main = ref_sha(stack.remotes["web"], "main")
    # Someone pushes to the web branch in the instant between Baton's last look and its merge.
    stack.fake.before(
        "PUT",
        r"^/repos/acme/web/pulls/\d+/merge$",
        lambda: commit_to_remote(stack.remotes["web"], web.branch, {"LATE.md": "late\n"}, "late push"),
    )

    _comment(stack, issue, "/baton approve", "maya")
    view = wait_for(stack.runtime, run_id, RunState.failed, timeout=60)

    assert [c.status for c in stack.fake.calls("PUT", r"/merge$")] == [200, 409]
    assert "use /v2/items" in read_file_on(stack.remotes["api"], "main", "README.md")
    assert ref_sha(stack.remotes["web"], "main") == web_main
    assert "Merged: api. Not merged: web" in (view.run.error or "")
    until("the status comment reports the stopped train", lambda: "Merged: api" in _status(stack, issue, run_id))
    assert "409" in _status(stack, issue, run_id)
    merges = [(r.outcome, r.shas) for r in stack.runtime.store.audit.records(run_id) if r.kind is AuditKind.merge]
    api = next(c for c in view.changes if c.repo == "api")
    assert merges == [(AuditOutcome.accepted, {"api": api.merge_sha}), (AuditOutcome.failed, {"web": web.head_sha})]


def _status(stack: Stack, issue: int, run_id: str) -> str:
    [body] = [b for b in _replies(stack, issue) if status_marker(run_id) in b]
    return body


def test_an_approval_followed_by_a_push_merges_nothing_until_approved_again(stack: Stack) -> None:
    issue, run_id = _awaiting(stack)
    _comment(stack, issue, "/baton approve", "maya")  # checks have not reported: the approval waits
    until("the approval was weighed", lambda: bool(event_data(stack.runtime, run_id, "approval_not_enough")))
    web = next(c for c in stack.runtime.store.changes(run_id) if c.repo == "web")
    commit_to_remote(stack.remotes["web"], web.branch, {"EXTRA.md": "unreviewed\n"}, "a push after approval")
    stack.hooks.send("pull_request", stack.hooks.pull_request("synchronize", "acme/web", web.number, "alice"))
    until("the approval was voided", lambda: not any(a.valid for a in stack.runtime.store.approvals(run_id)))

    _green(stack, run_id)
    until("the status comment says so", lambda: "no longer counts" in _status(stack, issue, run_id))
    assert stack.runtime.store.get_run(run_id).state is RunState.awaiting_approval  # type: ignore[union-attr]
    assert stack.fake.calls("PUT", r"/merge$") == []

    _comment(stack, issue, "/baton approve", "maya")
    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)
    assert read_file_on(stack.remotes["web"], "main", "EXTRA.md") == "unreviewed\n"
