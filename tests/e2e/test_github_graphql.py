"""A GitHub whose GraphQL API fails (a proxy that does not pass `/graphql`, a GraphQL rate limit):
Baton's draft PRs cannot be marked ready for review while their checks are read. Being a draft is
cosmetic until the merge, so the run goes on: the checks count as passed, the issue's status comment
warns about the draft, and the merge tries again to mark it ready."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import agent, event_data, until, wait_for
from tests.e2e.github_gate_support import ask, comment, green, status_comment
from tests.fakes.github_stack import Stack, github_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    extra = {"agents": [agent("coder", "--append", "README.md", "use /v2/items")]}
    with github_stack(tmp_path, ["api"], extra) as stack:
        stack.fake.grant("acme/api", "alice", "write")
        stack.fake.grant("acme/api", "maya", "maintain")
        yield stack


def test_a_404_from_graphql_warns_on_the_status_comment_and_the_run_still_merges_after_approval(
    stack: Stack,
) -> None:
    stack.fake.graphql_status = 404
    issue, run_id = ask(stack, "@baton rename /items to /v2/items\nrepos: api")
    green(stack, run_id)  # the webhook's read of the checks cannot un-draft the PR
    until("the status comment warns", lambda: "⚠️ **Warning:**" in status_comment(stack, issue, run_id))

    [pull] = stack.fake.pulls("acme/api")
    body = status_comment(stack, issue, run_id)
    assert f"acme/api#{pull.number} is still a draft" in body and "404" in body and f"{stack.fake.url}/graphql" in body
    assert "✅ passed" in body
    assert pull.draft is True
    assert stack.runtime.store.get_run(run_id).state is RunState.awaiting_approval  # type: ignore[union-attr]

    stack.fake.graphql_status = None  # GitHub answers GraphQL again
    comment(stack, issue, "/baton approve", "maya")
    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)

    assert stack.fake.pulls("acme/api")[0].draft is False
    assert [c.status for c in stack.fake.calls("PUT", r"/merge$")] == [200]
    assert [w["repo"] for w in event_data(stack.runtime, run_id, "forge_warning")] == ["api"]
    assert [c["state"] for c in event_data(stack.runtime, run_id, "checks")] == ["pending", "passed"]
    until("the status comment says merged", lambda: "**merged**" in status_comment(stack, issue, run_id))
    assert "⚠️ **Warning:**" not in status_comment(stack, issue, run_id)
