"""The concurrent patterns end to end: one request fans out across repos, at most
`concurrency.per_run` agents at a time, each repo ending in its own PR; and best-of-N inside a
repo, where the judge keeps the candidate whose checks pass, then the one with the smallest diff."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.domain.models import ChecksState, RunState
from tests.e2e.conftest import (
    RuntimeFactory,
    agent,
    approve_until_merged,
    lines,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.e2e.pattern_support import events_of, exists_on, wait_for_path
from tests.gitutil import read_file_on


def test_fan_out_runs_at_most_per_run_agents_at_once(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    names = ["alpha", "bravo", "charlie", "delta"]
    remotes = make_repos(tmp_path, names)
    gate = tmp_path / "gate"
    gate.mkdir()
    # Each agent marks that it started, then holds its slot until the test releases its repo.
    worker = agent(
        "worker",
        "--marker",
        f"{gate}/started-{{repo}}",
        "--block-until",
        f"{gate}/release-{{repo}}",
        "--append",
        "CHANGES.md",
        "{repo} done",
    )
    config = {"repos": repo_entries(remotes), "agents": [worker], "concurrency": {"per_run": 2}}
    runtime = start_runtime(config)

    def started() -> set[str]:
        return {p.name.removeprefix("started-") for p in gate.glob("started-*")}

    run_id = submit(runtime, "update the changelog", names)
    wait_for_path(lambda: len(started()), 2)
    time.sleep(0.4)  # time enough for a third agent to start if the bound did not hold
    first = started()
    assert len(first) == 2, first

    released = sorted(first)[0]
    (gate / f"release-{released}").touch()
    wait_for_path(lambda: len(started()), 3)
    time.sleep(0.4)
    assert len(started()) == 3, started()  # one finished, one took its slot: still two running

    for name in names:
        (gate / f"release-{name}").touch()
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert sorted(c.repo for c in view.changes) == names


def test_every_repo_gets_its_own_pr_and_all_merge_on_one_approval(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    names = ["api", "web", "mobile"]
    remotes = make_repos(tmp_path, names)
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("worker", "--append", "VERSION", "2.0 for {repo}")],
    }
    runtime = start_runtime(config)
    run_id = submit(runtime, "bump the version", names)
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert sorted(c.repo for c in view.changes) == sorted(names)
    assert len({c.url for c in view.changes}) == len(names)
    approve_until_merged(runtime, run_id, timeout=20)
    for name in names:
        assert read_file_on(remotes[name], "main", "VERSION") == f"2.0 for {name}\n"
    assert sorted(e.data["repo"] for e in events_of(runtime, run_id, "merged")) == sorted(names)


def best_of_config(remotes: dict[str, Path], agents: list[dict[str, Any]], **best_of: Any) -> dict[str, Any]:
    names = [a["name"] for a in agents]
    return {
        "repos": repo_entries(remotes),
        "agents": agents,
        "routing": {"default_agent": names[0]},
        "playbooks": {"best": {"per_repo": {"best_of": {"agents": names, **best_of}}}},
    }


def test_best_of_keeps_the_candidate_whose_checks_pass(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [
        # Larger diff, checks pass.
        agent("careful", "--append", "feature.py", "one", "--append", "feature.py", "two"),
        # Smaller diff, but it leaves BROKEN behind so the checks (`test ! -e BROKEN`) fail.
        agent("hasty", "--append", "BROKEN", "x"),
    ]
    runtime = start_runtime(best_of_config(remotes, agents))
    run_id = submit(runtime, "add the feature", ["svc"], playbook="best")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    (change,) = view.changes
    # The PR carries the winner's commit: the passing candidate's file and not the other's.
    assert not exists_on(remotes["svc"], change.branch, "BROKEN")
    assert read_file_on(remotes["svc"], change.branch, "feature.py") == "one\ntwo\n"
    assert change.checks is ChecksState.passed
    approve_until_merged(runtime, run_id, timeout=20)
    assert read_file_on(remotes["svc"], "main", "feature.py") == "one\ntwo\n"
    assert not exists_on(remotes["svc"], "main", "BROKEN")


def test_best_of_keeps_the_smallest_diff_when_every_candidate_passes(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [
        agent("verbose", *("--append", "fix.py", "a"), *("--append", "fix.py", "b"), "--append", "fix.py", "c"),
        agent("terse", "--append", "fix.py", "a"),
    ]
    runtime = start_runtime(best_of_config(remotes, agents))
    run_id = submit(runtime, "fix it", ["svc"], playbook="best")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    (change,) = view.changes
    assert read_file_on(remotes["svc"], change.branch, "fix.py") == "a\n"
    judged = [e.data["text"] for e in events_of(runtime, run_id, "chat") if e.data["speaker"] == "judge"]
    assert len(judged) == 1 and "terse" in judged[0]


def test_best_of_gives_n_candidates_the_same_starting_point(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    calls = tmp_path / "solo.count"
    agents = [agent("solo", "--count", str(calls), "--append", "NOTES.md", "candidate")]
    runtime = start_runtime(best_of_config(remotes, agents, n=3))
    run_id = submit(runtime, "write notes", ["svc"], playbook="best")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert len(lines(calls)) == 3
    (change,) = view.changes
    # Each candidate started from the same head, so the kept one holds one line, not three.
    assert read_file_on(remotes["svc"], change.branch, "NOTES.md") == "candidate\n"
