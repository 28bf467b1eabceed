"""GitHub redelivers a webhook while Baton is still handling its first copy (the first copy is
slow to start the run): the second copy is a duplicate — no second 👀, no second status comment,
no second start — not a first copy whose run was lost in a crash."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import agent, until
from tests.fakes.github_stack import Stack, github_stack

ISSUE = "acme/api"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    extra = {
        "agents": [agent("coder", "--append", "README.md", "bumped")],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
    }
    with github_stack(tmp_path, ["api"], extra) as stack:
        stack.fake.grant(ISSUE, "alice", "write")
        yield stack


def test_a_redelivery_during_the_first_copys_handling_is_answered_as_a_duplicate(stack: Stack) -> None:
    issue = stack.fake.open_issue(ISSUE, "Bump", "Bump the version.", "alice")
    comment = stack.fake.add_comment(ISSUE, issue, "@baton bump the version", "alice")
    body = stack.hooks.issue_comment(ISSUE, issue, comment.id)
    released = threading.Event()
    # The first copy's 👀 is held at GitHub until the second copy has been answered.
    stack.fake.before("POST", rf"/issues/comments/{comment.id}/reactions$", lambda: released.wait(30))
    first: list[httpx.Response] = []
    sender = threading.Thread(target=lambda: first.append(stack.hooks.send("issue_comment", body, delivery="d-1")))
    sender.start()
    until("the first copy to reach GitHub", lambda: stack.fake.calls("POST", r"/reactions$"))

    second = stack.hooks.send("issue_comment", body, delivery="d-1")
    released.set()
    sender.join(30)

    assert second.status_code == 200 and second.json()["action"] == "duplicate"
    assert first[0].status_code == 200 and first[0].json()["action"] == "started"
    assert len(stack.fake.calls("POST", r"/reactions$")) == 1
    assert len(stack.fake.calls("POST", rf"/issues/{issue}/comments$")) == 1
