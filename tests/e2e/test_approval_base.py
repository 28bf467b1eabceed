"""An approval is bound to the branch each PR merges into, not only to its head: retargeting a PR
after the approval voids it (told by `pull_request.edited`, or seen when Baton reads the PR again),
and nothing ever merges into a branch other than the repo's configured default branch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import agent
from tests.e2e.github_gate_support import ask, comment, events, green, merges
from tests.fakes.github_stack import Stack, github_stack
from tests.fakes.served_app import until
from tests.gitutil import commit_to_remote, ref_sha

REPO = "acme/api"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    extra = {
        "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
    }
    with github_stack(tmp_path, ["api"], extra) as stack:
        stack.fake.grant(REPO, "alice", "write")
        stack.fake.grant(REPO, "maya", "maintain")
        commit_to_remote(stack.remotes["api"], "release", {"RELEASE.md": "1.0\n"}, "the release branch")
        yield stack


def _approved_waiting_for_checks(stack: Stack) -> tuple[int, str, int]:
    issue, run_id = ask(stack)
    comment(stack, issue, "/baton approve", "maya")  # no checks yet: the approval waits for them
    until("the approval weighed", lambda: events(stack, run_id, "approval_not_enough"))
    [change] = stack.runtime.store.changes(run_id)
    return issue, run_id, change.number


def _replies(stack: Stack, issue: int) -> list[str]:
    return [c.body for c in stack.fake.comments_on(REPO, issue) if c.author == "baton-bot"]


def test_retargeting_a_pr_after_the_approval_voids_it_and_nothing_merges_into_the_new_base(stack: Stack) -> None:
    issue, run_id, number = _approved_waiting_for_checks(stack)
    release, main = ref_sha(stack.remotes["api"], "release"), ref_sha(stack.remotes["api"], "main")

    stack.fake.retarget_pull(REPO, number, "release", "alice")
    edited = stack.hooks.send("pull_request", stack.hooks.pull_request_edited(REPO, number, "alice", "main"))

    assert edited.status_code == 200, edited.text
    until("the approval voided", lambda: not any(a.valid for a in stack.runtime.store.approvals(run_id)))
    [voided] = events(stack, run_id, "approval_invalidated")
    assert "from main to release" in str(voided["reason"])
    green(stack, run_id)
    comment(stack, issue, "/baton approve", "maya")
    refusal = until("Baton's answer", lambda: [r for r in _replies(stack, issue) if "Not recorded" in r])
    assert "targets release, not main" in refusal[0]
    assert merges(stack) == []
    assert (ref_sha(stack.remotes["api"], "release"), ref_sha(stack.remotes["api"], "main")) == (release, main)


def test_a_base_change_seen_when_the_pr_is_read_again_voids_the_approval(stack: Stack) -> None:
    _issue, run_id, number = _approved_waiting_for_checks(stack)
    release = ref_sha(stack.remotes["api"], "release")

    stack.fake.retarget_pull(REPO, number, "release", "alice")  # no webhook arrives
    green(stack, run_id)

    until("the approval voided", lambda: events(stack, run_id, "approval_invalidated"))
    [voided] = events(stack, run_id, "approval_invalidated")
    assert "from main to release" in str(voided["reason"])
    assert not any(a.valid for a in stack.runtime.store.approvals(run_id))
    assert merges(stack) == []
    assert ref_sha(stack.remotes["api"], "release") == release
