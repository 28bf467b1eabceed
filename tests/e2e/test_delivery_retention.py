"""The record of what Baton acted on (what makes a re-sent body a duplicate) is kept for
`retention.deliveries_days`, then pruned by the scheduler — the table does not grow forever."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.domain.models import RunState, utcnow
from bot.store.tables import DeliveryRow
from tests.e2e.conftest import agent, wait_for
from tests.fakes.github_stack import Stack, github_stack

ISSUE = "acme/api"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    extra = {
        "agents": [agent("coder", "--append", "README.md", "x")],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
        "retention": {"deliveries_days": 2},
    }
    with github_stack(tmp_path, ["api"], extra) as stack:
        stack.fake.grant(ISSUE, "alice", "write")
        yield stack


def _deliveries(stack: Stack) -> list[str]:
    with stack.runtime.db.connect() as conn:
        return [row.delivery_key for row in conn.execute(select(DeliveryRow))]


def test_deliveries_are_pruned_once_older_than_the_retention(stack: Stack) -> None:
    issue = stack.fake.open_issue(ISSUE, "Rename", "", "carol")
    comment = stack.fake.add_comment(ISSUE, issue, "@baton rename it", "alice")
    answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, issue, comment.id)).json()
    wait_for(stack.runtime, str(answer["run_id"]), RunState.awaiting_approval, timeout=60)
    now = utcnow()

    kept = stack.runtime.scheduler.fire("deliveries-pruning", now + timedelta(days=1))
    assert (kept, _deliveries(stack)) == ("0 delivery record(s) pruned", [f"github:comment:{comment.id}"])

    pruned = stack.runtime.scheduler.fire("deliveries-pruning", now + timedelta(days=3))
    assert (pruned, _deliveries(stack)) == ("1 delivery record(s) pruned", [])


def test_a_comment_older_than_the_retention_is_never_acted_on(stack: Stack) -> None:
    issue = stack.fake.open_issue(ISSUE, "Rename", "", "carol")
    old = stack.fake.add_comment(ISSUE, issue, "@baton rename it", "alice")
    old.created_at = old.updated_at = (utcnow() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")

    answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, issue, old.id)).json()

    assert answer["action"] == "ignored: written longer ago than Baton keeps its delivery records"
    assert stack.runtime.store.list_runs() == [] and _deliveries(stack) == []
