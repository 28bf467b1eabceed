"""GitHub end to end, the way people use it: a writer asks on an issue, Baton answers there before
any agent works, opens cross-linked PRs in two repos, learns from `check_suite` webhooks that the
checks passed, and merges both in order once a maintainer writes `/baton approve`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.models import ChecksState, RunState
from bot.services.github.issues import status_marker
from tests.e2e.conftest import agent, until, wait_for
from tests.fakes.github_setup import TOKEN
from tests.fakes.github_stack import SECRET, Stack, github_stack
from tests.gitutil import read_file_on

ISSUE = "acme/api"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    marker = tmp_path / "agent-started"
    extra = {
        "agents": [agent("coder", "--marker", str(marker), "--append", "README.md", "use /v2/items")],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
        "repos_extra": {"web": {"depends_on": ["api"]}},
    }
    with github_stack(tmp_path, ["api", "web"], extra) as stack:
        stack.fake.grant("acme/api", "alice", "write")
        stack.fake.grant("acme/web", "alice", "write")
        stack.fake.grant("acme/api", "maya", "maintain")
        stack.fake.grant("acme/web", "maya", "maintain")
        stack.fake.observer = marker.exists  # each request notes whether an agent had started yet
        yield stack


def _ask(stack: Stack, text: str, author: str = "alice") -> tuple[int, int, str]:
    """`author` comments `text` on a new issue; GitHub delivers the webhook. (issue, comment, run)"""
    issue = stack.fake.open_issue(ISSUE, "Rename /items", "The /items endpoint should be /v2/items.", "carol")
    comment = stack.fake.add_comment(ISSUE, issue, text, author)
    answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, issue, comment.id))
    assert answer.status_code == 200, answer.text
    return issue, comment.id, str(answer.json().get("run_id"))


def _status_comments(stack: Stack, issue: int, run_id: str) -> list[str]:
    return [c.body for c in stack.fake.comments_on(ISSUE, issue) if status_marker(run_id) in c.body]


def _checks_pass(stack: Stack, run_id: str) -> None:
    for change in stack.runtime.store.changes(run_id):
        full = f"acme/{change.repo}"
        stack.fake.add_check_run(full, change.head_sha, "test", "success")
        answer = stack.hooks.send("check_suite", stack.hooks.check_suite_completed(full, change.number))
        assert answer.status_code == 200, answer.text
    until(
        "both PRs' checks passed",
        lambda: all(c.checks is ChecksState.passed for c in stack.runtime.store.changes(run_id)),
    )


def test_a_writers_comment_is_acknowledged_before_any_agent_works(stack: Stack) -> None:
    issue, comment_id, run_id = _ask(stack, "@baton rename /items to /v2/items\nrepos: api, web")
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)

    [reaction] = stack.fake.calls("POST", rf"/issues/comments/{comment_id}/reactions$")
    [status] = [
        r for r in stack.fake.calls("POST", rf"/issues/{issue}/comments$") if status_marker(run_id) in r.body["body"]
    ]
    assert reaction.body == {"content": "eyes"}
    assert (reaction.observed, status.observed) == (False, False)  # no agent had started yet
    assert stack.fake.requests.index(reaction) < stack.fake.requests.index(status)


def test_prs_in_two_repos_link_each_other_and_the_issue(stack: Stack) -> None:
    issue, _, run_id = _ask(stack, "@baton rename /items to /v2/items\nrepos: api, web")
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)

    [api_pr], [web_pr] = stack.fake.pulls("acme/api"), stack.fake.pulls("acme/web")
    refs = [f"acme/api#{api_pr.number}", f"acme/web#{web_pr.number}"]
    until("both PR bodies list both PRs", lambda: all(r in p.body for p in (api_pr, web_pr) for r in refs))
    assert f"Fixes acme/api#{issue}" in api_pr.body
    assert f"Part of acme/api#{issue}" in web_pr.body
    assert (api_pr.draft, web_pr.draft) == (True, True)


def test_checks_from_webhooks_then_a_maintainers_approval_merge_both_in_order(stack: Stack) -> None:
    issue, _, run_id = _ask(stack, "@baton rename /items to /v2/items\nrepos: api, web")
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    _checks_pass(stack, run_id)
    assert [p.draft for p in stack.fake.pulls("acme/api") + stack.fake.pulls("acme/web")] == [False, False]

    approval = stack.fake.add_comment(ISSUE, issue, "Looks right.\n\n/baton approve", "maya")
    stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, issue, approval.id))
    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)

    [api_pr], [web_pr] = stack.fake.pulls("acme/api"), stack.fake.pulls("acme/web")
    merges = [r.path for r in stack.fake.calls("PUT", r"/merge$")]
    assert merges == [f"/repos/acme/api/pulls/{api_pr.number}/merge", f"/repos/acme/web/pulls/{web_pr.number}/merge"]
    for repo in ("api", "web"):
        assert "use /v2/items" in read_file_on(stack.remotes[repo], "main", "README.md")
    until("the status comment says merged", lambda: "**merged**" in _status_comments(stack, issue, run_id)[0])
    assert len(_status_comments(stack, issue, run_id)) == 1


def test_no_secret_reaches_github_or_the_runs_record(stack: Stack) -> None:
    _, _, run_id = _ask(stack, "@baton rename /items to /v2/items\nrepos: api, web")
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    until("PR bodies were updated", lambda: len(stack.fake.calls("PATCH", r"/pulls/\d+$")) >= 2)

    written = json.dumps([r.body for r in stack.fake.requests]) + json.dumps(
        [e.data for e in stack.runtime.store.events(run_id)]
    )
    for secret in (TOKEN, SECRET):
        assert secret not in written
    # Every authenticated request is Baton's own. (An unauthenticated stray can reach this fake when
    # another test process's late retry lands on a reused loopback port; it carries no token of ours.)
    assert {r.login for r in stack.fake.requests if r.login is not None} == {"baton-bot"}
