"""Pre-flight: before the first merge of a train every PR is read again and must be open, not a
draft, mergeable and green at the approved head and base — otherwise nothing merges and the run says
exactly why. GitHub's transient "Base branch was modified" is retried; a PR a person moved back to
draft stays a draft; a PR someone merged by hand is reported with its real merge commit."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Runtime
from bot.domain.models import Decision, RunState
from bot.store.audit import AuditKind
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    event_data,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.e2e.github_gate_support import ask, comment, events, green, merges, status_comment
from tests.fakes.github_stack import Stack, github_stack
from tests.fakes.served_app import until
from tests.gitutil import commit_to_remote, read_file_on, ref_sha

TWO = "@baton rename /items to /v2/items\nrepos: api, web"
BASE_MOVED = "Base branch was modified. Review and try the merge again."


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


def _local_train(tmp_path: Path, start_runtime: RuntimeFactory) -> tuple[Runtime, dict[str, Path]]:
    remotes = make_repos(tmp_path, ["a", "b", "c"])
    config: dict[str, Any] = {
        "repos": repo_entries(remotes, {"b": ["a"], "c": ["b"]}),
        "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
    }
    return start_runtime(config), remotes


def _conflicting_train(runtime: Runtime, remotes: dict[str, Path]) -> str:
    """A run on a, b, c whose PR on c conflicts with c's main before anyone approves it. The
    attempt's own rebase round cannot resolve it (this agent appends a line, leaving the markers,
    so nothing is pushed); approved again, pre-flight finds it still conflicting."""
    run_id = submit(runtime, "move to /v2/items", ["a", "b", "c"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=40)
    commit_to_remote(remotes["c"], "main", {"README.md": "# c\nuse /v3/items\n"}, "someone else's change")
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    until("the rebase round to end", lambda: bool(event_data(runtime, run_id, "round_finished")))
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    wait_for(runtime, run_id, RunState.failed, timeout=30)
    return run_id


def test_a_pr_conflicting_before_the_merge_stops_the_train_before_anything_merges(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes = _local_train(tmp_path, start_runtime)
    mains = {name: ref_sha(remote, "main") for name, remote in remotes.items()}

    run_id = _conflicting_train(runtime, remotes)

    error = runtime.store.get_run(run_id).error or ""  # type: ignore[union-attr]
    assert error.startswith("Nothing was merged: ")
    assert "c: merge conflict with main in README.md" in error
    assert "retry" in error and "rebase" in error
    assert ref_sha(remotes["a"], "main") == mains["a"] and ref_sha(remotes["b"], "main") == mains["b"]
    assert event_data(runtime, run_id, "merged") == []
    assert [p["conflicts"] for p in event_data(runtime, run_id, "preflight_failed")] == [["c"], ["c"]]
    [round_finished] = event_data(runtime, run_id, "round_finished")
    assert round_finished["results"] == {"c": "failed"}


def test_retrying_after_a_conflict_starts_a_rebase_round_on_the_conflicting_repo_only(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes = _local_train(tmp_path, start_runtime)
    run_id = _conflicting_train(runtime, remotes)

    assert runtime.runs.retry(run_id, APPROVER).accepted
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)

    started = event_data(runtime, run_id, "round_started")
    assert [(r["kind"], r["repos"]) for r in started] == [("rebase", ["c"]), ("rebase", ["c"])]
    assert "main" in str(started[-1]["instruction"])
    assert event_data(runtime, run_id, "merged") == []


def test_a_transient_base_branch_was_modified_is_retried_and_the_merge_lands(stack: Stack) -> None:
    issue, run_id = ask(stack)
    green(stack, run_id)
    stack.fake.fail("PUT", r"^/repos/acme/api/pulls/\d+/merge$", 405, body=stack.fake.bodies.error(BASE_MOVED))

    comment(stack, issue, "/baton approve", "maya")

    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)
    assert merges(stack) == [405, 200]
    assert "use /v2/items" in read_file_on(stack.remotes["api"], "main", "README.md")


def test_a_pr_a_person_moved_back_to_draft_is_not_undrafted_and_nothing_merges(stack: Stack) -> None:
    issue, run_id = ask(stack)
    green(stack, run_id)
    [change] = stack.runtime.store.changes(run_id)
    stack.fake.convert_to_draft("acme/api", change.number, "maya")
    readied = len(stack.fake.calls("POST", r"^/graphql$"))
    main = ref_sha(stack.remotes["api"], "main")

    comment(stack, issue, "/baton approve", "maya")

    view = wait_for(stack.runtime, run_id, RunState.failed, timeout=60)
    assert f"api: #{change.number} is a draft" in (view.run.error or "")
    assert view.run.error.startswith("Nothing was merged: ")  # type: ignore[union-attr]
    assert merges(stack) == []
    assert len(stack.fake.calls("POST", r"^/graphql$")) == readied
    assert stack.fake.pulls("acme/api")[0].draft
    assert ref_sha(stack.remotes["api"], "main") == main


def test_a_pr_merged_by_someone_else_is_reported_with_its_real_merge_commit(stack: Stack) -> None:
    issue, run_id = ask(stack, TWO)
    green(stack, run_id)
    web = next(c for c in stack.runtime.store.changes(run_id) if c.repo == "web")
    merged_by_hand = stack.fake.merge_as("acme/web", web.number, "maya")
    stack.hooks.send("pull_request", stack.hooks.pull_request("closed", "acme/web", web.number, "maya"))

    comment(stack, issue, "/baton approve", "maya")

    view = wait_for(stack.runtime, run_id, RunState.merged, timeout=60)
    assert events(stack, run_id, "merged_elsewhere") == [
        {"repo": "web", "number": web.number, "sha": merged_by_hand, "by": "maya"}
    ]
    assert [e["repo"] for e in events(stack, run_id, "merged")] == ["api"]
    assert next(c for c in view.changes if c.repo == "web").merge_sha == merged_by_hand
    trail = [(r.actor, r.shas) for r in stack.runtime.store.audit.records(run_id) if r.kind is AuditKind.merge]
    api = next(c for c in view.changes if c.repo == "api")
    assert trail == [("github:maya", {"web": merged_by_hand}), ("baton", {"api": api.merge_sha})]
    assert merges(stack) == [200]
    until("the status comment says so", lambda: "Merged outside Baton" in status_comment(stack, issue, run_id))


def test_a_conflict_on_github_before_the_merge_merges_nothing(stack: Stack) -> None:
    issue, run_id = ask(stack, TWO)
    green(stack, run_id)
    commit_to_remote(stack.remotes["web"], "main", {"README.md": "# web\nuse /v3/items\n"}, "someone else's change")
    api_main = ref_sha(stack.remotes["api"], "main")

    comment(stack, issue, "/baton approve", "maya")
    # The attempt's rebase round leaves the markers (this agent appends), so nothing is pushed and
    # the PRs wait again; approved again, pre-flight still finds the conflict.
    until("the rebase round to end", lambda: events(stack, run_id, "round_finished"), timeout=60)
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    comment(stack, issue, "/baton approve", "maya")

    view = wait_for(stack.runtime, run_id, RunState.failed, timeout=60)
    web = next(c for c in view.changes if c.repo == "web")
    assert f"web: #{web.number} has conflicts with main" in (view.run.error or "")
    assert merges(stack) == []
    assert ref_sha(stack.remotes["api"], "main") == api_main
