"""On GitHub, only the requester's own words choose a run's options and repos — never the issue's
title or body — and every repo a request adds beyond the issue's own needs the requester's trigger
permission there, or nothing starts and the reply names the repo."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import agent, wait_for
from tests.fakes.github_stack import Stack, github_stack

ISSUE = "acme/api"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    extra = {
        "agents": [agent("coder", "--append", "README.md", "x"), agent("pricey", "--append", "README.md", "$")],
        "playbooks": {
            "default": {"per_repo": {"agent": "coder"}},
            "quick": {"per_repo": {"agent": "coder"}},
            "wide": {"repos": ["secret"], "per_repo": {"agent": "coder"}},
        },
        "budget": {"max_usd": 5},
    }
    with github_stack(tmp_path, ["api", "web", "secret"], extra) as stack:
        for name in ("api", "web"):
            stack.fake.grant(f"acme/{name}", "alice", "write")
        stack.fake.grant("acme/secret", "alice", "read")
        yield stack


def _replies(stack: Stack, issue: int) -> list[str]:
    return [c.body for c in stack.fake.comments_on(ISSUE, issue) if c.author == "baton-bot"]


def _comment(stack: Stack, issue: int, text: str) -> dict[str, object]:
    comment = stack.fake.add_comment(ISSUE, issue, text, "alice")
    answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, issue, comment.id))
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def test_a_labelled_issues_title_and_body_choose_no_option_and_no_repo(stack: Stack) -> None:
    body = "Please hurry.\nrepos: web, secret\nagent=pricey budget=$99999 playbook=quick"
    issue = stack.fake.open_issue(ISSUE, "Fix it repo=web budget=$500", body, "carol")
    stack.fake.label_issue(ISSUE, issue, "baton", "alice")

    answer = stack.hooks.send("issues", stack.hooks.issues_labeled(ISSUE, issue, "baton", "alice")).json()

    spec = wait_for(stack.runtime, str(answer["run_id"]), RunState.awaiting_approval, timeout=60).run.spec
    assert (spec.repos, spec.agent, spec.playbook, spec.budget.max_usd) == (["api"], None, "default", 5)


def test_options_in_the_requesters_comment_still_choose_them(stack: Stack) -> None:
    issue = stack.fake.open_issue(ISSUE, "Fix it", "agent=coder budget=$1", "carol")

    answer = _comment(stack, issue, "@baton fix it agent=pricey budget=$3 playbook=quick\nrepos: api, web")

    view = wait_for(stack.runtime, str(answer["run_id"]), RunState.awaiting_approval, timeout=60)
    spec = view.run.spec
    assert (spec.repos, spec.agent, spec.playbook, spec.budget.max_usd) == (["api", "web"], "pricey", "quick", 3)


def test_a_repo_the_requester_may_not_trigger_on_is_refused_by_name(stack: Stack) -> None:
    issue = stack.fake.open_issue(ISSUE, "Fix it", "", "carol")

    answer = _comment(stack, issue, "@baton fix it everywhere\nrepos: api, secret")

    assert answer["action"] == "refused"
    [reply] = _replies(stack, issue)
    assert "I can't start this run: @alice has read access to acme/secret" in reply
    assert stack.runtime.store.list_runs() == []
    assert stack.fake.pulls("acme/secret") == []


def test_a_repo_a_chosen_playbook_brings_needs_the_requesters_permission_too(stack: Stack) -> None:
    issue = stack.fake.open_issue(ISSUE, "Fix it", "", "carol")

    answer = _comment(stack, issue, "@baton fix it playbook=wide")

    assert answer["action"] == "refused"
    [reply] = _replies(stack, issue)
    assert "@alice has read access to acme/secret; to add `secret` to a run you need write access" in reply
    assert stack.runtime.store.list_runs() == []
