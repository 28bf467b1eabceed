"""The manager pattern end to end: a planner agent writes a plan of sub-tasks per repo with
dependencies; the engine delegates wave by wave (providers before consumers), merges in plan
order, refuses a plan that reaches outside the run, and can wait for the plan to be approved."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bot.domain.models import Decision, RunState
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    approve_until_merged,
    lines,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.e2e.pattern_support import events_of, wait_for_path, wait_until
from tests.gitutil import read_file_on

CHAIN: dict[str, list[dict[str, Any]]] = {
    # Listed consumers first: the order must come from depends_on, not from the list.
    "subtasks": [
        {"repo": "app", "task": "show the price", "depends_on": ["web"]},
        {"repo": "web", "task": "call the price endpoint", "depends_on": ["api"]},
        {"repo": "api", "task": "add the price endpoint"},
    ]
}
STAR: dict[str, list[dict[str, Any]]] = {
    "subtasks": [
        {"repo": "web", "task": "call the price endpoint", "depends_on": ["api"]},
        {"repo": "app", "task": "show the price", "depends_on": ["api"]},
        {"repo": "api", "task": "add the price endpoint"},
    ]
}


def manager_config(
    remotes: dict[str, Path],
    plan: dict[str, Any],
    worker: dict[str, Any],
    planner_calls: Path,
    approve_plan: bool = False,
) -> dict[str, Any]:
    planner = agent("planner", "--count", str(planner_calls), "--plan", json.dumps(plan))
    return {
        "repos": repo_entries(remotes),
        "agents": [worker, planner],
        "routing": {"default_agent": "worker"},
        "playbooks": {
            "managed": {
                "planner": "planner",
                "approve_plan": approve_plan,
                "per_repo": {"agent": "worker"},
            }
        },
    }


def test_providers_merge_before_their_consumers(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["app", "web", "api"])
    worker = agent("worker", "--append", "CHANGES.md", "{repo} changed")
    runtime = start_runtime(manager_config(remotes, CHAIN, worker, tmp_path / "planner.count"))
    run_id = submit(runtime, "show prices", ["app", "web", "api"], playbook="managed")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    approve_until_merged(runtime, run_id, timeout=20)
    assert [e.data["repo"] for e in events_of(runtime, run_id, "merged")] == ["api", "web", "app"]
    for name in ("app", "web", "api"):
        assert read_file_on(remotes[name], "main", "CHANGES.md") == f"{name} changed\n"


def test_a_consumer_starts_only_after_its_provider_finished(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["app", "web", "api"])
    gate = tmp_path / "gate"
    gate.mkdir()
    (gate / "release-web").touch()
    (gate / "release-app").touch()
    worker = agent(
        "worker",
        *("--marker", f"{gate}/started-{{repo}}"),
        *("--block-until", f"{gate}/release-{{repo}}"),
        *("--append", "CHANGES.md", "{repo} changed"),
    )
    runtime = start_runtime(manager_config(remotes, STAR, worker, tmp_path / "planner.count"))

    def started() -> set[str]:
        return {p.name.removeprefix("started-") for p in gate.glob("started-*")}

    run_id = submit(runtime, "show prices", ["app", "web", "api"], playbook="managed")
    wait_for_path(lambda: len(started()), 1)
    time.sleep(0.4)  # time enough for a consumer to start if it did not wait for its provider
    assert started() == {"api"}
    (gate / "release-api").touch()
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert started() == {"api", "web", "app"}


def test_each_repo_works_on_its_own_subtask(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["app", "web", "api"])
    worker = agent("worker", "--append", "TASK.md", "{task}")
    runtime = start_runtime(manager_config(remotes, STAR, worker, tmp_path / "planner.count"))
    run_id = submit(runtime, "show prices", ["app", "web", "api"], playbook="managed")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    branches = {c.repo: c.branch for c in view.changes}
    tasks = {t["repo"]: t["task"] for t in STAR["subtasks"]}
    for name in ("app", "web", "api"):
        assert read_file_on(remotes[name], branches[name], "TASK.md") == f"{tasks[name]}\n"


def test_a_plan_naming_a_repo_outside_the_run_fails_the_run(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api", "billing"])
    worker_calls = tmp_path / "worker.count"
    worker = agent("worker", "--count", str(worker_calls), "--append", "CHANGES.md", "changed")
    # `billing` is configured, but this run was only asked to touch `api`.
    plan = {"subtasks": [{"repo": "api", "task": "add it"}, {"repo": "billing", "task": "bill it"}]}
    runtime = start_runtime(manager_config(remotes, plan, worker, tmp_path / "planner.count"))
    run_id = submit(runtime, "add invoices", ["api"], playbook="managed")
    view = wait_for(runtime, run_id, RunState.failed, timeout=20)
    assert view.run.error == "the plan names repos outside this run: billing; allowed: api"
    assert lines(worker_calls) == []
    assert view.changes == []


def test_approve_plan_waits_for_approval_before_any_agent_works(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["app", "web", "api"])
    worker_calls, planner_calls = tmp_path / "worker.count", tmp_path / "planner.count"
    worker = agent("worker", "--count", str(worker_calls), "--append", "CHANGES.md", "changed")
    runtime = start_runtime(manager_config(remotes, STAR, worker, planner_calls, approve_plan=True))
    run_id = submit(runtime, "show prices", ["app", "web", "api"], playbook="managed")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert view.run.waiting_for == "plan"
    time.sleep(0.3)  # nothing may start while the plan waits
    assert len(lines(planner_calls)) == 1
    assert lines(worker_calls) == []
    assert view.changes == []
    (ready,) = events_of(runtime, run_id, "plan_ready")
    assert ready.data["order"] == ["api", "web", "app"]  # providers first, then plan order

    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    wait_until(runtime, run_id, lambda r: r.waiting_for == "approval")
    assert sorted(line.split()[0] for line in lines(worker_calls)) == ["api", "app", "web"]


def test_rejecting_the_plan_ends_the_run_before_any_agent_works(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["app", "web", "api"])
    worker_calls = tmp_path / "worker.count"
    worker = agent("worker", "--count", str(worker_calls), "--append", "CHANGES.md", "changed")
    runtime = start_runtime(manager_config(remotes, STAR, worker, tmp_path / "planner.count", approve_plan=True))
    run_id = submit(runtime, "show prices", ["app", "web", "api"], playbook="managed")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert runtime.runs.decide(run_id, APPROVER, Decision.reject, "wrong order").accepted
    view = wait_for(runtime, run_id, RunState.rejected, timeout=20)
    assert view.run.error == "wrong order"
    assert lines(worker_calls) == []
