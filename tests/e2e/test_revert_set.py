"""Reverting a merged change set, end to end on real git and the local forge: `revert` on a merged
run starts a linked revert run that opens one revert PR per merged PR in reverse merge order, waits
for an authorised approval bound to the revert PRs' heads, then merges them in that order; a run
that did not merge cannot be reverted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.domain.models import Decision, RunState
from bot.engine.revert_spec import revert_run_id
from bot.surfaces.render import next_actions
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    approve_until_merged,
    event_data,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.gitutil import read_file_on, ref_sha

CHAIN = {"b": ["a"], "c": ["b"]}


def _merged_chain(tmp_path: Path, start_runtime: RuntimeFactory) -> tuple[Runtime, dict[str, Path], str]:
    remotes = make_repos(tmp_path, ["a", "b", "c"])
    config: dict[str, Any] = {
        "repos": repo_entries(remotes, CHAIN),
        "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
    }
    runtime = start_runtime(config)
    run_id = submit(runtime, "move to /v2/items", ["a", "b", "c"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    approve_until_merged(runtime, run_id)
    return runtime, remotes, run_id


def test_revert_opens_revert_prs_in_reverse_merge_order_and_merges_them_only_after_approval(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes, run_id = _merged_chain(tmp_path, start_runtime)
    assert [e["repo"] for e in event_data(runtime, run_id, "merged")] == ["a", "b", "c"]
    merged_mains = {name: ref_sha(remote, "main") for name, remote in remotes.items()}

    asked = runtime.runs.revert(run_id, APPROVER)

    assert asked.accepted, asked.message
    revert_id = revert_run_id(run_id)
    view = wait_for(runtime, revert_id, RunState.awaiting_approval, timeout=60)
    assert [(c.repo, c.order) for c in sorted(view.changes, key=lambda c: c.order)] == [("c", 0), ("b", 1), ("a", 2)]
    assert {name: ref_sha(remote, "main") for name, remote in remotes.items()} == merged_mains  # nothing merged yet
    assert view.run.spec.reverts == run_id
    assert event_data(runtime, run_id, "revert_requested") == [{"actor": APPROVER.key, "revert_run": revert_id}]

    approved = runtime.runs.decide(revert_id, APPROVER, Decision.approve)
    assert approved.accepted, approved.message
    wait_for(runtime, revert_id, RunState.merged, timeout=60)

    assert [e["repo"] for e in event_data(runtime, revert_id, "merged")] == ["c", "b", "a"]
    [decision] = event_data(runtime, revert_id, "decision")
    assert decision["shas"] == {c.repo: c.head_sha for c in view.changes}
    assert {name: read_file_on(remote, "main", "README.md") for name, remote in remotes.items()} == {
        "a": "# a\n",
        "b": "# b\n",
        "c": "# c\n",
    }


def test_a_merged_run_offers_revert_and_asking_twice_joins_the_same_revert_run(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, _, run_id = _merged_chain(tmp_path, start_runtime)
    view = runtime.store.view(run_id)
    assert view is not None and next_actions(view) == ["revert"]

    first = runtime.runs.revert(run_id, APPROVER)
    second = runtime.runs.revert(run_id, APPROVER)

    assert first.accepted and second.accepted
    wait_for(runtime, revert_run_id(run_id), RunState.awaiting_approval, timeout=60)
    reverts = [r for r in runtime.store.list_runs(limit=100) if r.spec.reverts == run_id]
    assert [r.run_id for r in reverts] == [revert_run_id(run_id)]
    assert len(runtime.store.changes(revert_run_id(run_id))) == 3
    assert len(event_data(runtime, run_id, "revert_requested")) == 1


def test_revert_is_refused_for_a_run_that_did_not_merge_with_a_clear_reply(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["a"])
    runtime = start_runtime(
        {"repos": repo_entries(remotes), "agents": [agent("coder", "--append", "README.md", "use /v2/items")]}
    )
    run_id = submit(runtime, "move to /v2/items", ["a"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)

    refused = runtime.runs.revert(run_id, APPROVER)

    assert not refused.accepted
    assert refused.message == (
        f"run {run_id} is awaiting_approval; only a merged run can be reverted (nothing of it is merged)"
    )
    assert runtime.store.get_run(revert_run_id(run_id)) is None
    assert [
        (r.kind.value, r.outcome.value) for r in runtime.store.audit.records(run_id) if r.kind.value == "revert"
    ] == [("revert", "refused")]
