"""Keeping a change set consistent, end to end on real git and the local forge: a playbook's
`integration_checks` run over every repo of the run at its PR head side by side (`BATON_SET_DIR`)
before approval and again before merge, and red blocks the approval; a base branch that moves
under a PR with a conflicting change brings a rebase round, then a fresh approval, then the merge."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.app import Runtime
from bot.domain.models import Decision, RunState
from bot.engine.approvals import DecisionOutcome
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
    until,
    wait_for,
)
from tests.gitutil import commit_to_remote, read_file_on, ref_sha

LAYOUT = 'for r in $(ls "$BATON_SET_DIR"); do echo "== $r"; cat "$BATON_SET_DIR/$r/README.md"; done'


Setup = tuple[Runtime, dict[str, Path]]


def _set(tmp_path: Path, start_runtime: RuntimeFactory, integration: str | None, coder: dict[str, Any]) -> Setup:
    remotes = make_repos(tmp_path, ["api", "web"])
    playbook: dict[str, Any] = {"per_repo": {"agent": "coder"}}
    if integration is not None:
        playbook["integration_checks"] = integration
    config: dict[str, Any] = {
        "repos": repo_entries(remotes, {"web": ["api"]}),
        "agents": [coder],
        "playbooks": {"default": playbook},
    }
    return start_runtime(config), remotes


def _waiting(runtime: Runtime) -> str:
    run_id = submit(runtime, "move to /v2/items", ["api", "web"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    return run_id


APPENDER = agent("coder", "--append", "README.md", "use /v2/items")


# -- integration checks -----------------------------------------------------------------------------
def test_green_integration_checks_see_every_repo_at_its_pr_head_and_the_approval_merges(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes = _set(tmp_path, start_runtime, LAYOUT, APPENDER)
    run_id = _waiting(runtime)

    [checked] = event_data(runtime, run_id, "integration_checks")
    heads = {c.repo: c.head_sha for c in runtime.store.changes(run_id)}
    assert (checked["passed"], checked["stage"], checked["heads"]) == (True, "approval", heads)
    assert checked["output"].splitlines() == ["== api", "# api", "use /v2/items", "== web", "# web", "use /v2/items"]
    assert read_file_on(remotes["web"], "main", "README.md") == "# web\n"  # PR heads, not main
    approve_until_merged(runtime, run_id)


def test_integration_checks_run_again_at_the_approved_heads_before_the_merge(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, _ = _set(tmp_path, start_runtime, LAYOUT, APPENDER)
    run_id = _waiting(runtime)
    heads = {c.repo: c.head_sha for c in runtime.store.changes(run_id)}

    approve_until_merged(runtime, run_id)

    checks = event_data(runtime, run_id, "integration_checks")
    assert [(c["stage"], c["heads"], c["passed"]) for c in checks] == [
        ("approval", heads, True),
        ("merge", heads, True),
    ]
    kinds = [e.kind for e in runtime.store.events(run_id) if e.kind in ("integration_checks", "decision", "merged")]
    assert kinds == ["integration_checks", "decision", "integration_checks", "merged", "merged"]


def test_red_integration_checks_refuse_the_approval_with_their_output_and_withhold_the_button(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    red = 'grep -q v3 "$BATON_SET_DIR/web/README.md" || { echo "web still calls /v2, api serves it"; exit 1; }'
    runtime, remotes = _set(tmp_path, start_runtime, red, APPENDER)
    run_id = _waiting(runtime)
    mains = {name: ref_sha(remote, "main") for name, remote in remotes.items()}

    decision = runtime.runs.decide(run_id, APPROVER, Decision.approve)

    assert (decision.accepted, decision.outcome) == (False, DecisionOutcome.refused)
    assert "integration checks failed" in decision.message
    assert "web still calls /v2, api serves it" in decision.message
    view = runtime.store.view(run_id)
    assert view is not None and view.run.state is RunState.awaiting_approval
    assert next_actions(view) == ["reject"]
    assert runtime.store.approvals(run_id) == []
    assert {name: ref_sha(remote, "main") for name, remote in remotes.items()} == mains


def test_integration_checks_red_at_the_merge_stop_the_train_with_nothing_merged(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    # Green the first time (before approval), red the second (before merge): the command keeps a
    # mark in its own HOME, which persists between the run's integration checks.
    flaky = 'if [ -e "$HOME/ran" ]; then echo "contract broken at merge time"; exit 1; fi; touch "$HOME/ran"'
    runtime, remotes = _set(tmp_path, start_runtime, flaky, APPENDER)
    run_id = _waiting(runtime)
    mains = {name: ref_sha(remote, "main") for name, remote in remotes.items()}

    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    view = wait_for(runtime, run_id, RunState.failed, timeout=60)

    assert (view.run.error or "").startswith("Nothing was merged: the integration checks failed")
    assert "contract broken at merge time" in (view.run.error or "")
    assert [c["passed"] for c in event_data(runtime, run_id, "integration_checks")] == [True, False]
    assert event_data(runtime, run_id, "merged") == []
    assert {name: ref_sha(remote, "main") for name, remote in remotes.items()} == mains


def test_integration_checks_get_batons_set_dir_and_no_secret_from_batons_environment(
    tmp_path: Path, start_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-not-for-checks")
    runtime, _ = _set(tmp_path, start_runtime, "env | sort", APPENDER)
    run_id = _waiting(runtime)

    [checked] = event_data(runtime, run_id, "integration_checks")
    names = {line.split("=", 1)[0] for line in checked["output"].splitlines() if "=" in line}
    assert "BATON_SET_DIR" in names
    assert "SLACK_BOT_TOKEN" not in names and "xoxb-not-for-checks" not in checked["output"]


# -- base drift ---------------------------------------------------------------------------------------
def test_a_base_that_moves_with_a_conflicting_change_gets_a_rebase_round_a_fresh_approval_and_merges(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    # The agent writes the file whole: the first time it is its change, in the rebase round it is
    # the resolution of the conflict markers Baton's merge of the moved base left there.
    writer = agent("coder", "--write", "README.md", "# web\nuse /v2/items\nand /v3/health")
    runtime, remotes = _set(tmp_path, start_runtime, None, writer)
    run_id = _waiting(runtime)
    web = remotes["web"]
    theirs = commit_to_remote(web, "main", {"README.md": "# web\nuse /v3/health\n"}, "someone else's change")

    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    until("the rebase round to end", lambda: bool(event_data(runtime, run_id, "round_finished")), timeout=60)
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    assert runtime.store.approvals(run_id) and not any(a.valid for a in runtime.store.approvals(run_id))
    approve_until_merged(runtime, run_id)

    [started] = event_data(runtime, run_id, "round_started")
    assert (started["kind"], started["repos"]) == ("rebase", ["web"])
    [merged_base] = event_data(runtime, run_id, "base_merged")
    assert (merged_base["repo"], merged_base["conflicts"]) == ("web", ["README.md"])
    assert event_data(runtime, run_id, "round_finished")[0]["results"] == {"web": "done"}
    order = [e.kind for e in runtime.store.events(run_id) if e.kind in ("preflight_failed", "base_drift", "merged")]
    assert order == ["preflight_failed", "base_drift", "merged", "merged"]
    assert read_file_on(web, "main", "README.md") == "# web\nuse /v2/items\nand /v3/health\n"
    # Their commit is in main's history: merged in, never force-pushed away.
    ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", theirs, "main"], cwd=web, check=False)
    assert ancestor.returncode == 0


def test_integration_checks_see_files_only_and_leave_no_work_tree_behind(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, _ = _set(tmp_path, start_runtime, 'ls -A "$BATON_SET_DIR/api" "$BATON_SET_DIR/web"', APPENDER)
    run_id = _waiting(runtime)

    [checked] = event_data(runtime, run_id, "integration_checks")
    assert ".git" not in checked["output"].split()
    assert "README.md" in checked["output"].split()
    for repo in ("api", "web"):
        clone = runtime.deps.workspace.locate(run_id, repo, "unused: the clone exists")
        listed = subprocess.run(["git", "worktree", "list"], cwd=clone, capture_output=True, text=True, check=True)
        assert len(listed.stdout.splitlines()) == 1
    left = runtime.settings.home / "integration" / run_id
    assert not left.exists() or list(left.iterdir()) == []
