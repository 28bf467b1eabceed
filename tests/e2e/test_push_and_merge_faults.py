"""The forge says no: a remote that rejects the bot's branch, and a merge train that stops part-way
because a consumer's remote refuses the merge into its default branch (a protected branch: nothing
pre-flight can see — a conflict it can see merges nothing, `test_merge_preflight.py`). The run says
exactly what happened, and a retry never merges a repo twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.domain.models import ChangeState, Decision, RunState
from bot.scm.git import run_git
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    lines,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.gitutil import read_file_on, ref_sha

REJECT_BATON_BRANCHES = """#!/bin/sh
while read old new ref; do
  case "$ref" in
    refs/heads/baton/*) echo "policy: bots may not push $ref" >&2; exit 1 ;;
  esac
done
exit 0
"""
PROTECT_MAIN = """#!/bin/sh
while read old new ref; do
  case "$ref" in
    refs/heads/main) echo "policy: main is protected" >&2; exit 1 ;;
  esac
done
exit 0
"""


def _protect_main(remote: Path, on: bool = True) -> None:
    hook = remote / "hooks" / "pre-receive"
    if not on:
        hook.unlink()
        return
    hook.write_text(PROTECT_MAIN)
    hook.chmod(0o755)


def _merge_commits(remote: Path) -> list[str]:
    return run_git(["--git-dir", str(remote), "rev-list", "--merges", "main"], remote).split()


def _train(tmp_path: Path, start_runtime: RuntimeFactory) -> tuple[Runtime, dict[str, Path], Path]:
    remotes = make_repos(tmp_path, ["a", "b", "c"])
    count = tmp_path / "count"
    config: dict[str, Any] = {
        "repos": repo_entries(remotes, {"b": ["a"], "c": ["b"]}),
        "agents": [agent("coder", "--count", str(count), "--append", "README.md", "use /v2/items")],
    }
    return start_runtime(config), remotes, count


def _stopped_train(runtime: Runtime, remotes: dict[str, Path]) -> str:
    """A run whose PRs are open on a, b, c and whose train stopped at c: its remote refused the merge."""
    run_id = submit(runtime, "move to /v2/items", ["a", "b", "c"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=40)
    _protect_main(remotes["c"])
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    wait_for(runtime, run_id, RunState.failed, timeout=20)
    return run_id


def _approve_again(runtime: Runtime, run_id: str) -> None:
    """The retry asks for a fresh approval: the same person approving the same heads again counts."""
    result = runtime.runs.decide(run_id, APPROVER, Decision.approve)
    assert result.accepted, result.message
    live = [a for a in runtime.store.approvals(run_id) if a.valid]
    assert len(live) == 1, f"the fresh approval was not recorded: {result.message}"


def test_a_remote_rejecting_the_push_fails_the_run_naming_the_repo(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["api", "web"])
    hook = remotes["web"] / "hooks" / "pre-receive"
    hook.write_text(REJECT_BATON_BRANCHES)
    hook.chmod(0o755)
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
    }
    runtime = start_runtime(config)

    run_id = submit(runtime, "move to /v2/items", ["api", "web"])
    view = wait_for(runtime, run_id, RunState.failed, timeout=20)

    error = view.run.error or ""
    assert "web" in error
    assert "rejected" in error
    assert "bots may not push" in error, "the remote's own reason is not shown"
    assert "web" not in {c.repo for c in runtime.store.changes(run_id)}
    assert run_git(["--git-dir", str(remotes["web"]), "branch", "--list", "baton/*"], tmp_path) == ""


def test_a_merge_refused_mid_train_merges_the_providers_and_reports_what_did_not_merge(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes, _ = _train(tmp_path, start_runtime)
    run_id = _stopped_train(runtime, remotes)

    view = runtime.store.view(run_id)
    assert view is not None
    states = {c.repo: c.state for c in view.changes}
    assert states == {"a": ChangeState.merged, "b": ChangeState.merged, "c": ChangeState.open}
    error = view.run.error or ""
    assert "stopped at c" in error
    assert "the remote rejected the merge into main" in error and "main is protected" in error
    assert "Merged: a, b." in error
    assert "Not merged: c." in error
    assert "use /v2/items" in read_file_on(remotes["a"], "main", "README.md")
    assert "use /v2/items" in read_file_on(remotes["b"], "main", "README.md")
    assert read_file_on(remotes["c"], "main", "README.md") == "# c\n"
    merged = [e.data["repo"] for e in runtime.store.events(run_id) if e.kind == "merged"]
    assert merged == ["a", "b"]
    [failure] = [e.data for e in runtime.store.events(run_id) if e.kind == "merge_failed"]
    assert failure["repo"] == "c"


def test_retrying_a_stopped_train_while_the_refusal_remains_fails_again_without_remerging(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes, count = _train(tmp_path, start_runtime)
    run_id = _stopped_train(runtime, remotes)
    merges = {n: _merge_commits(remotes[n]) for n in ("a", "b")}
    c_main = ref_sha(remotes["c"], "main")
    agent_runs = len(lines(count))

    assert runtime.runs.retry(run_id, APPROVER).accepted
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    _approve_again(runtime, run_id)
    view = wait_for(runtime, run_id, RunState.failed, timeout=20)

    assert view.run.attempt == 2
    assert "stopped at c" in (view.run.error or "")
    assert "Merged: a, b." in (view.run.error or "")
    assert {n: _merge_commits(remotes[n]) for n in ("a", "b")} == merges
    assert all(len(m) == 1 for m in merges.values())
    assert ref_sha(remotes["c"], "main") == c_main
    assert len(lines(count)) == agent_runs, "the retry re-ran agents on finished repos"
    merged = [e.data["repo"] for e in runtime.store.events(run_id) if e.kind == "merged"]
    assert merged == ["a", "b"]


def test_retrying_after_the_refusal_is_lifted_merges_only_the_remaining_repo(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes, count = _train(tmp_path, start_runtime)
    run_id = _stopped_train(runtime, remotes)
    merges = {n: _merge_commits(remotes[n]) for n in ("a", "b")}
    agent_runs = len(lines(count))
    # Whoever protected c's main lifts the protection.
    _protect_main(remotes["c"], on=False)

    assert runtime.runs.retry(run_id, APPROVER).accepted
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    _approve_again(runtime, run_id)
    view = wait_for(runtime, run_id, RunState.merged, timeout=20)

    assert {c.repo: c.state for c in view.changes} == {r: ChangeState.merged for r in ("a", "b", "c")}
    assert {n: _merge_commits(remotes[n]) for n in ("a", "b")} == merges
    assert len(_merge_commits(remotes["c"])) == 1
    assert read_file_on(remotes["c"], "main", "README.md") == "# c\nuse /v2/items\n"
    assert len(lines(count)) == agent_runs
    merged = [e.data["repo"] for e in runtime.store.events(run_id) if e.kind == "merged"]
    assert merged == ["a", "b", "c"]
