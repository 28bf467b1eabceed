"""Follow-ups and repairs: more work on a run's own branches, never a second set of PRs.

A follow-up (a person asking for more after the PRs are open) and a repair (red checks handed back
to the agent, `approval.repair_on_failed_checks` times) are rounds on the same branches: every
affected PR gets new commits, approvals bound to the old heads are void, and the run asks again.
"""

from __future__ import annotations

from pathlib import Path

from bot.app import Runtime
from bot.domain.models import Actor, ChecksState, Decision, RunState, Source
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
from tests.gitutil import read_file_on, ref_sha

REVIEWER = Actor(source=Source.github, id="reviewer", display="reviewer")
ONE_AGENT = {"default": {"per_repo": {"agent": "coder"}}}


def _awaiting_after_round(runtime: Runtime, run_id: str, rounds: int) -> None:
    until(f"round {rounds} finished", lambda: len(event_data(runtime, run_id, "round_finished")) >= rounds)
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)


def _two_repo_runtime(tmp_path: Path, start_runtime: RuntimeFactory) -> tuple[Runtime, dict[str, Path]]:
    remotes = make_repos(tmp_path, ["api", "web"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "use /v2/items", "--task-to", "TASK.md")],
        "playbooks": ONE_AGENT,
    }
    return start_runtime(config), remotes


def test_a_follow_up_adds_commits_to_the_same_prs(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, remotes = _two_repo_runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename /items to /v2/items", ["api", "web"])
    before = {c.repo: c for c in wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30).changes}

    assert runtime.runs.follow_up(run_id, REVIEWER, "also update the changelog").accepted
    _awaiting_after_round(runtime, run_id, 1)

    after = {c.repo: c for c in runtime.store.changes(run_id)}
    assert {r: c.number for r, c in after.items()} == {r: c.number for r, c in before.items()}
    for repo, change in after.items():
        assert change.head_sha != before[repo].head_sha
        assert ref_sha(remotes[repo], change.branch) == change.head_sha
        assert "also update the changelog" in read_file_on(remotes[repo], change.branch, "TASK.md")


def test_a_follow_up_asks_for_approval_again_and_merges_nothing_meanwhile(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime, remotes = _two_repo_runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename /items to /v2/items", ["api", "web"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    main_before = ref_sha(remotes["api"], "main")

    assert runtime.runs.follow_up(run_id, REVIEWER, "rename the test too").accepted
    _awaiting_after_round(runtime, run_id, 1)

    assert ref_sha(remotes["api"], "main") == main_before
    assert [e["round"] for e in event_data(runtime, run_id, "approval_requested")] == [0, 1]


def test_an_approval_recorded_before_a_follow_up_no_longer_counts(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["api"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "use /v2/items")],
        "playbooks": ONE_AGENT,
        "approval": {"min_approvals": 2},
    }
    runtime = start_runtime(config)
    run_id = submit(runtime, "rename /items to /v2/items", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    until("the first approval was weighed", lambda: bool(event_data(runtime, run_id, "approval_not_enough")))

    assert runtime.runs.follow_up(run_id, REVIEWER, "one more thing").accepted
    _awaiting_after_round(runtime, run_id, 1)

    assert [a.valid for a in runtime.store.approvals(run_id)] == [False]
    assert event_data(runtime, run_id, "approval_invalidated")


def test_a_run_merges_the_follow_up_commits_once_approved(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, remotes = _two_repo_runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename /items to /v2/items", ["api", "web"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    assert runtime.runs.follow_up(run_id, REVIEWER, "and the docs").accepted
    _awaiting_after_round(runtime, run_id, 1)

    approve_until_merged(runtime, run_id)

    for repo in ("api", "web"):
        assert "and the docs" in read_file_on(remotes[repo], "main", "TASK.md")
        assert read_file_on(remotes[repo], "main", "README.md").count("use /v2/items") == 2


def test_a_follow_up_on_a_merged_run_is_refused_with_a_reason(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, _ = _two_repo_runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename /items to /v2/items", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    approve_until_merged(runtime, run_id)

    result = runtime.runs.follow_up(run_id, REVIEWER, "one more thing")

    assert not result.accepted
    assert "already merged" in result.message


def test_an_empty_follow_up_is_refused(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime, _ = _two_repo_runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename /items to /v2/items", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    assert not runtime.runs.follow_up(run_id, REVIEWER, "   ").accepted
    assert event_data(runtime, run_id, "round_started") == []


def _repairing_runtime(tmp_path: Path, start_runtime: RuntimeFactory, rounds: int, fixes: bool) -> Runtime:
    remotes = make_repos(tmp_path, ["api"])
    behaviour = ["--break-unless-feedback", "BROKEN"] if fixes else ["--append", "BROKEN", "still broken"]
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "use /v2/items", *behaviour)],
        "playbooks": ONE_AGENT,
        "approval": {"repair_on_failed_checks": rounds},
    }
    return start_runtime(config)


def test_red_checks_are_handed_back_to_the_agent_and_repaired(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _repairing_runtime(tmp_path, start_runtime, rounds=2, fixes=True)
    run_id = submit(runtime, "rename /items to /v2/items", ["api"])
    _awaiting_after_round(runtime, run_id, 1)

    [change] = runtime.store.changes(run_id)
    assert change.checks is ChecksState.passed
    assert [(e["round"], e["kind"]) for e in event_data(runtime, run_id, "round_started")] == [(1, "repair")]
    assert approve_until_merged(runtime, run_id).run.state is RunState.merged


def test_repairs_stop_after_the_configured_rounds_and_ask_a_person(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime = _repairing_runtime(tmp_path, start_runtime, rounds=2, fixes=False)
    run_id = submit(runtime, "rename /items to /v2/items", ["api"])
    until("repairs exhausted", lambda: bool(event_data(runtime, run_id, "repair_exhausted")))
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    assert len(event_data(runtime, run_id, "round_started")) == 2
    assert event_data(runtime, run_id, "repair_exhausted") == [{"rounds": 2, "repos": ["api"]}]
    assert [c.checks for c in view.changes] == [ChecksState.failed]


def test_without_a_repair_policy_red_checks_wait_for_a_person(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _repairing_runtime(tmp_path, start_runtime, rounds=0, fixes=True)
    run_id = submit(runtime, "rename /items to /v2/items", ["api"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    assert [c.checks for c in view.changes] == [ChecksState.failed]
    assert event_data(runtime, run_id, "round_started") == []
