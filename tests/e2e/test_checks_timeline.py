"""Every checks outcome of every PR is in the run's timeline exactly once (`runs show --json`'s
events and the dashboard's Timeline), whoever read it first: the run itself when the PR opened, a
`check_suite` webhook, or the approval gate, which reads checks again before it weighs an approval
(a webhook arriving after the gate then has nothing new to say)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import Runtime
from bot.domain.models import Decision, RunState
from bot.surfaces.jsonview import run_json
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    event_data,
    make_repos,
    repo_entries,
    submit,
    until,
    wait_for,
)
from tests.e2e.github_gate_support import ask, comment
from tests.fakes.github_stack import Stack, github_stack
from tests.gitutil import commit_to_remote


def _outcomes(runtime: Runtime, run_id: str) -> dict[str, list[tuple[str, str]]]:
    """repo → the (head, state) of each `checks` event in `runs show --json`'s events, in order."""
    view = runtime.store.view(run_id)
    assert view is not None
    shown = run_json(view, runtime.store.events(run_id))
    found: dict[str, list[tuple[str, str]]] = {}
    for event in (e for e in shown["events"] if e["kind"] == "checks"):
        found.setdefault(event["data"]["repo"], []).append((event["data"]["sha"], event["data"]["state"]))
    return found


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    extra = {
        "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
        "approval": {"min_approvals": 2},
        "repos_extra": {"web": {"depends_on": ["api"]}},
    }
    with github_stack(tmp_path, ["api", "web"], extra) as stack:
        for repo in ("acme/api", "acme/web"):
            stack.fake.grant(repo, "alice", "write")
            stack.fake.grant(repo, "maya", "maintain")
            stack.fake.grant(repo, "omar", "maintain")
        yield stack


def test_a_github_run_records_each_prs_checks_once_whether_a_webhook_or_the_gate_read_them(stack: Stack) -> None:
    issue, run_id = ask(stack, "@baton rename /items to /v2/items\nrepos: api, web")
    store = stack.runtime.store
    api, web = store.changes(run_id)
    # api's checks are announced by their webhook; web's go green on GitHub with no webhook yet.
    stack.fake.add_check_run("acme/api", api.head_sha, "test", "success")
    stack.hooks.send("check_suite", stack.hooks.check_suite_completed("acme/api", api.number))
    until("api's checks passed", lambda: store.changes(run_id)[0].checks.value == "passed")
    stack.fake.add_check_run("acme/web", web.head_sha, "test", "success")

    comment(stack, issue, "/baton approve", "maya")  # the gate reads web's checks: one approval is not enough
    until("the gate weighed the approval", lambda: bool(event_data(stack.runtime, run_id, "approval_not_enough")))
    late = stack.hooks.send("check_suite", stack.hooks.check_suite_completed("acme/web", web.number))
    assert late.status_code == 200, late.text
    comment(stack, issue, "/baton approve", "omar")
    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)

    assert _outcomes(stack.runtime, run_id) == {
        "api": [(api.head_sha, "pending"), (api.head_sha, "passed")],
        "web": [(web.head_sha, "pending"), (web.head_sha, "passed")],
    }
    page = httpx.get(f"{stack.url}/runs/{run_id}", timeout=10).text
    rows = re.findall(r"<td>checks</td>\s*<td>([^<]*)</td>", page)
    for change in (api, web):
        assert len([r for r in rows if f"repo={change.repo} " in r and "state=passed" in r]) == 1


def test_a_local_run_records_the_checks_of_a_head_pushed_before_approval_once(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["api"])
    config = {"repos": repo_entries(remotes), "agents": [agent("coder", "--append", "README.md", "use /v2/items")]}
    runtime = start_runtime(config)
    run_id = submit(runtime, "move to /v2/items", ["api"])
    [opened] = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60).changes
    pushed = commit_to_remote(remotes["api"], opened.branch, {"HUMAN.md": "a human was here\n"}, "late push")

    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted  # the gate checks the pushed head
    until("the approval voided", lambda: bool(event_data(runtime, run_id, "approval_invalidated")))
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    wait_for(runtime, run_id, RunState.merged, timeout=60)

    assert _outcomes(runtime, run_id) == {"api": [(opened.head_sha, "passed"), (pushed, "passed")]}
