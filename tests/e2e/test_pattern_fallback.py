"""The fallback pattern end to end: when an agent fails or goes over its own step budget, the next
agent takes over from the same workspace state the first one started from; when every agent
fails, the run fails and says why each one did."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.domain.models import RunState
from tests.e2e.conftest import (
    RuntimeFactory,
    agent,
    approve_until_merged,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.e2e.pattern_support import exists_on
from tests.gitutil import read_file_on


def fallback_config(
    remotes: dict[str, Path], agents: list[dict[str, Any]], per_repo: dict[str, Any] | None = None
) -> dict[str, Any]:
    names = [a["name"] for a in agents]
    return {
        "repos": repo_entries(remotes),
        "agents": agents,
        "routing": {"default_agent": names[0]},
        "playbooks": {"chain": {"per_repo": per_repo or {"fallback": names}}},
    }


def test_a_failing_agent_hands_over_to_the_next_from_the_same_start(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [
        agent("setup", "--append", "SETUP.md", "ready"),
        agent("flaky", "--append", "PARTIAL.md", "half", "--exit", "1", "--summary", "crashed"),
        agent("steady", "--append", "DONE.md", "done"),
    ]
    per_repo = {"sequential": [{"agent": "setup"}, {"fallback": ["flaky", "steady"]}]}
    runtime = start_runtime(fallback_config(remotes, agents, per_repo))
    run_id = submit(runtime, "finish it", ["svc"], playbook="chain")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert [(s.agent, s.state.value) for s in view.steps if s.agent] == [
        ("setup", "succeeded"),
        ("flaky", "failed"),
        ("steady", "succeeded"),
    ]
    approve_until_merged(runtime, run_id, timeout=20)
    # steady started where flaky started: after setup's commit, without flaky's leftovers.
    assert read_file_on(remotes["svc"], "main", "SETUP.md") == "ready\n"
    assert read_file_on(remotes["svc"], "main", "DONE.md") == "done\n"
    assert not exists_on(remotes["svc"], "main", "PARTIAL.md")


def test_an_agent_over_its_step_budget_falls_back_to_the_next(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [
        agent(
            "pricey",
            *("--append", "PRICEY.md", "expensive", "--usage", '{"cost_usd": 0.5}'),
            budget={"max_usd": 0.01},
        ),
        agent("thrifty", "--append", "THRIFTY.md", "cheap"),
    ]
    runtime = start_runtime(fallback_config(remotes, agents))
    run_id = submit(runtime, "do it", ["svc"], playbook="chain")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    pricey = next(s for s in view.steps if s.agent == "pricey")
    assert pricey.state.value == "failed"
    assert "over its budget" in pricey.detail
    (change,) = view.changes
    assert read_file_on(remotes["svc"], change.branch, "THRIFTY.md") == "cheap\n"
    assert not exists_on(remotes["svc"], change.branch, "PRICEY.md")


def test_when_every_agent_fails_the_run_fails_with_each_agents_reason(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [
        agent("first", "--exit", "1", "--summary", "no compiler"),
        agent("second", "--exit", "2", "--summary", "rate limited"),
    ]
    runtime = start_runtime(fallback_config(remotes, agents))
    run_id = submit(runtime, "do it", ["svc"], playbook="chain")
    view = wait_for(runtime, run_id, RunState.failed, timeout=20)
    error = view.run.error or ""
    assert "first: exit code 1: no compiler" in error
    assert "second: exit code 2: rate limited" in error
    assert view.changes == []


def test_the_default_playbook_falls_back_along_the_routing_chain(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [
            agent("primary", "--exit", "1", "--summary", "unavailable"),
            agent("backup", "--append", "DONE.md", "done"),
        ],
        "routing": {"default_agent": "primary", "fallback": ["backup"]},
    }
    runtime = start_runtime(config)
    run_id = submit(runtime, "do it", ["svc"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert [(s.agent, s.state.value) for s in view.steps if s.agent] == [
        ("primary", "failed"),
        ("backup", "succeeded"),
    ]
    (change,) = view.changes
    assert read_file_on(remotes["svc"], change.branch, "DONE.md") == "done\n"
