"""Concurrent best-of-N end to end: two agents work on the same sub-task at the same time, each in
its own git worktree, the checks run in both, the passing one is kept (the cheaper on a tie), and
the run's steps show both candidates with their agent and cost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.domain.models import ChecksState, RunState
from tests.e2e.conftest import RuntimeFactory, agent, approve_until_merged, make_repos, repo_entries, submit, wait_for
from tests.e2e.pattern_support import events_of, exists_on
from tests.gitutil import read_file_on


def race_config(remotes: dict[str, Path], agents: list[dict[str, Any]]) -> dict[str, Any]:
    names = [a["name"] for a in agents]
    best_of = {"agents": names, "judge": "checks_then_cheapest", "concurrent": True}
    return {
        "repos": repo_entries(remotes),
        "agents": agents,
        "routing": {"default_agent": names[0]},
        "playbooks": {"race": {"per_repo": {"best_of": best_of}}},
    }


def test_both_candidates_run_at_once_and_the_cheaper_passing_one_is_kept(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    started_a, started_b = tmp_path / "a.started", tmp_path / "b.started"
    agents = [
        # Each waits until the other has started: only a concurrent race can finish at all.
        agent(
            "pricey",
            "--marker",
            str(started_a),
            "--block-until",
            str(started_b),
            "--append",
            "A.md",
            "a",
            "--usage",
            '{"cost_usd": 0.5}',
            "--summary",
            "pricey did it",
        ),
        agent(
            "thrifty",
            "--marker",
            str(started_b),
            "--block-until",
            str(started_a),
            "--append",
            "B.md",
            "b",
            "--usage",
            '{"cost_usd": 0.1}',
            "--summary",
            "thrifty did it",
        ),
    ]
    runtime = start_runtime(race_config(remotes, agents))
    run_id = submit(runtime, "add the notes", ["svc"], playbook="race")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    candidates = [(s.name, s.agent, s.state.value, s.usage.cost_usd) for s in view.steps if s.agent]
    assert sorted(candidates) == [
        ("candidate 1:pricey", "pricey", "succeeded", 0.5),
        ("candidate 2:thrifty", "thrifty", "succeeded", 0.1),
    ]
    assert [s.state.value for s in view.steps if s.name == "checks"] == ["succeeded", "succeeded"]
    (change,) = view.changes
    # Separate worktrees: the kept branch has thrifty's file and nothing of pricey's.
    assert read_file_on(remotes["svc"], change.branch, "B.md") == "b\n"
    assert not exists_on(remotes["svc"], change.branch, "A.md")
    judged = [e.data["text"] for e in events_of(runtime, run_id, "chat") if e.data["speaker"] == "judge"]
    assert len(judged) == 1 and judged[0].startswith("picked thrifty")
    assert view.run.usage.cost_usd == 0.6  # both candidates were paid for
    approve_until_merged(runtime, run_id, timeout=20)
    assert read_file_on(remotes["svc"], "main", "B.md") == "b\n"


def test_the_passing_candidate_wins_over_a_cheaper_failing_one(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [
        # Cheap, but it leaves BROKEN behind, so its checks (`test ! -e BROKEN`) fail in its worktree.
        agent("hasty", "--append", "BROKEN", "x", "--usage", '{"cost_usd": 0.01}'),
        agent("careful", "--append", "feature.py", "done", "--usage", '{"cost_usd": 0.2}'),
    ]
    runtime = start_runtime(race_config(remotes, agents))
    run_id = submit(runtime, "add the feature", ["svc"], playbook="race")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    assert sorted(s.state.value for s in view.steps if s.name == "checks") == ["failed", "succeeded"]
    (change,) = view.changes
    assert change.checks is ChecksState.passed
    assert read_file_on(remotes["svc"], change.branch, "feature.py") == "done\n"
    assert not exists_on(remotes["svc"], change.branch, "BROKEN")


def test_when_every_candidate_fails_the_repo_fails_and_says_so(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [agent("one", "--exit", "1", "--summary", "no"), agent("two", "--exit", "2", "--summary", "nope")]
    runtime = start_runtime(race_config(remotes, agents))
    run_id = submit(runtime, "try", ["svc"], playbook="race")
    view = wait_for(runtime, run_id, RunState.failed, timeout=30)
    assert "none of 2 candidates produced a change" in (view.run.error or "")
    assert sorted((s.agent, s.state.value) for s in view.steps if s.agent) == [("one", "failed"), ("two", "failed")]
