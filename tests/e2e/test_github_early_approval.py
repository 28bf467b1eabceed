"""A GitHub run waits for approval as soon as its PRs are open, before CI has reported: an approval
given while the checks are still pending is kept, and the run merges by itself once the checks
come back green (as the README's operations notes say)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.models import ChecksState, RunState
from tests.e2e.conftest import agent, event_data, until, wait_for
from tests.e2e.github_gate_support import ask, comment, green, merges, status_comment
from tests.fakes.github_stack import Stack, github_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    extra = {"agents": [agent("coder", "--append", "README.md", "use /v2/items")]}
    with github_stack(tmp_path, ["api"], extra) as stack:
        stack.fake.grant("acme/api", "alice", "write")
        stack.fake.grant("acme/api", "maya", "maintain")
        yield stack


def test_an_approval_given_while_checks_are_pending_merges_once_they_pass(stack: Stack) -> None:
    issue, run_id = ask(stack, "@baton rename /items to /v2/items\nrepos: api")
    assert [c.checks for c in stack.runtime.store.changes(run_id)] == [ChecksState.pending]

    comment(stack, issue, "/baton approve", "maya")
    until("the approval waits for the checks", lambda: bool(event_data(stack.runtime, run_id, "approval_not_enough")))
    until("the status comment says why", lambda: "Waiting before merging" in status_comment(stack, issue, run_id))
    assert merges(stack) == []

    green(stack, run_id)  # CI reports; nobody approves again
    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)
    assert merges(stack) == [200]
