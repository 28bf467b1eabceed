"""GitHub end to end for the approval-gate tests: a writer asks on an issue, the run's PRs get checks
from `check_suite` webhooks, maintainers comment `/baton approve` — every webhook signed, every API
call answered by the GitHub stand-in over real bare repos."""

from __future__ import annotations

from bot.domain.models import ChangeState, ChecksState, RunState
from bot.services.github.issues import status_marker
from tests.e2e.conftest import until, wait_for
from tests.fakes.github_stack import Stack

ISSUE = "acme/api"


def ask(stack: Stack, text: str = "@baton rename /items to /v2/items", author: str = "alice") -> tuple[int, str]:
    """`author` asks on a new issue; returns (issue, run id) once the run waits for approval."""
    issue = stack.fake.open_issue(ISSUE, "Rename /items", "The /items endpoint should be /v2/items.", "carol")
    answer = comment(stack, issue, text, author)
    run_id = str(answer["run_id"])
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    return issue, run_id


def comment(stack: Stack, issue: int, text: str, author: str) -> dict[str, object]:
    made = stack.fake.add_comment(ISSUE, issue, text, author)
    answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, issue, made.id))
    assert answer.status_code == 200, answer.text
    result: dict[str, object] = answer.json()
    return result


def green(stack: Stack, run_id: str) -> None:
    """Every open PR of the run gets a passing check run, announced by a `check_suite` webhook."""
    store = stack.runtime.store
    for change in store.changes(run_id):
        if change.state is not ChangeState.open:
            continue
        full = f"acme/{change.repo}"
        stack.fake.add_check_run(full, change.head_sha, "test", "success")
        answer = stack.hooks.send("check_suite", stack.hooks.check_suite_completed(full, change.number))
        assert answer.status_code == 200, answer.text
    until(
        "checks passed",
        lambda: all(c.checks is ChecksState.passed for c in store.changes(run_id) if c.state is ChangeState.open),
    )


def merges(stack: Stack) -> list[int]:
    """What GitHub answered to each merge Baton asked for, in order."""
    return [c.status for c in stack.fake.calls("PUT", r"/merge$")]


def status_comment(stack: Stack, issue: int, run_id: str) -> str:
    [body] = [c.body for c in stack.fake.comments_on(ISSUE, issue) if status_marker(run_id) in c.body]
    return body


def events(stack: Stack, run_id: str, kind: str) -> list[dict[str, object]]:
    return [e.data for e in stack.runtime.store.events(run_id) if e.kind == kind]
