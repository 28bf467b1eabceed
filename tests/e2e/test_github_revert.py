"""Reverting a merged run from GitHub (the stand-in): `/baton revert` on the run's issue starts the
revert run, whose revert PRs open on GitHub in reverse merge order and merge only after an
authorised `/baton approve` on that issue; asked of a run that did not merge, the reply says why."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.models import RunState
from bot.engine.revert_spec import revert_run_id
from tests.e2e.conftest import agent, wait_for
from tests.e2e.github_gate_support import ISSUE, ask, comment, events, green, merges
from tests.fakes.github_stack import Stack, github_stack
from tests.fakes.served_app import until
from tests.gitutil import read_file_on

TWO = "@baton rename /items to /v2/items\nrepos: api, web"


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
        yield stack


def test_a_revert_comment_opens_revert_prs_in_reverse_merge_order_that_merge_after_approval(stack: Stack) -> None:
    issue, run_id = ask(stack, TWO)
    green(stack, run_id)
    comment(stack, issue, "/baton approve", "maya")
    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)
    assert [e["repo"] for e in events(stack, run_id, "merged")] == ["api", "web"]

    comment(stack, issue, "/baton revert", "alice")

    revert_id = revert_run_id(run_id)
    view = wait_for(stack.runtime, revert_id, RunState.awaiting_approval, timeout=60)
    assert [c.repo for c in sorted(view.changes, key=lambda c: c.order)] == ["web", "api"]
    assert merges(stack) == [200, 200]  # the revert PRs wait for an approval
    green(stack, revert_id)
    comment(stack, issue, "/baton approve", "maya")
    wait_for(stack.runtime, revert_id, RunState.merged, timeout=60)

    assert [e["repo"] for e in events(stack, revert_id, "merged")] == ["web", "api"]
    assert merges(stack) == [200, 200, 200, 200]
    assert "use /v2/items" not in read_file_on(stack.remotes["api"], "main", "README.md")
    assert "use /v2/items" not in read_file_on(stack.remotes["web"], "main", "README.md")


def test_a_revert_comment_on_a_run_that_did_not_merge_is_refused_with_a_clear_reply(stack: Stack) -> None:
    issue, run_id = ask(stack, TWO)  # waiting for approval: nothing merged

    comment(stack, issue, "/baton revert", "alice")

    reason = f"Not done: run {run_id} is awaiting_approval; only a merged run can be reverted"
    until("the refusal reply", lambda: any(reason in c.body for c in stack.fake.comments_on(ISSUE, issue)))
    assert stack.runtime.store.get_run(revert_run_id(run_id)) is None
