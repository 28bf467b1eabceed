"""The handoff pattern end to end: a route (here: on failure) or the agent's own `HANDOFF: name`
summary passes the work to another agent, which is told what the previous one reported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.domain.models import RunState
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
from tests.e2e.pattern_support import events_of, exists_on
from tests.gitutil import read_file_on


def handoff_config(
    remotes: dict[str, Path], agents: list[dict[str, Any]], routes: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "repos": repo_entries(remotes),
        "agents": agents,
        "routing": {"default_agent": agents[0]["name"]},
        "playbooks": {"pass": {"per_repo": {"handoff": {"start": agents[0]["name"], "routes": routes}}}},
    }


def test_a_failure_route_passes_the_work_to_another_agent(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [
        agent("generalist", "--append", "WIP.md", "half done", "--exit", "1", "--summary", "cannot migrate"),
        # Succeeds only when told why the generalist gave up.
        agent("db-expert", "--fail-unless-feedback", "cannot migrate", "--append", "migration.sql", "ALTER"),
    ]
    routes = [{"to": "db-expert", "when": "failed"}]
    runtime = start_runtime(handoff_config(remotes, agents, routes))
    run_id = submit(runtime, "migrate the table", ["svc"], playbook="pass")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    chat = [(e.data["speaker"], e.data["text"]) for e in events_of(runtime, run_id, "chat")]
    assert chat == [("generalist", "handing off to db-expert")]
    approve_until_merged(runtime, run_id, timeout=20)
    assert read_file_on(remotes["svc"], "main", "migration.sql") == "ALTER\n"
    assert not exists_on(remotes["svc"], "main", "WIP.md")  # the failed agent's edits are gone


def test_an_agent_naming_a_successor_in_its_summary_hands_off(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [
        agent("triage", "--append", "TRIAGE.md", "slow query", "--summary", "found it. HANDOFF: db-expert"),
        agent("db-expert", "--append", "index.sql", "CREATE INDEX"),
    ]
    runtime = start_runtime(handoff_config(remotes, agents, routes=[]))
    run_id = submit(runtime, "speed up the report", ["svc"], playbook="pass")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    approve_until_merged(runtime, run_id, timeout=20)
    # The expert built on the triage agent's commit.
    assert read_file_on(remotes["svc"], "main", "TRIAGE.md") == "slow query\n"
    assert read_file_on(remotes["svc"], "main", "index.sql") == "CREATE INDEX\n"


def test_a_failure_route_is_not_taken_when_the_agent_succeeds(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    expert_calls = tmp_path / "expert.count"
    agents = [
        agent("generalist", "--append", "fix.py", "done"),
        agent("db-expert", "--count", str(expert_calls), "--append", "migration.sql", "ALTER"),
    ]
    routes = [{"to": "db-expert", "when": "failed"}]
    runtime = start_runtime(handoff_config(remotes, agents, routes))
    run_id = submit(runtime, "fix it", ["svc"], playbook="pass")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert lines(expert_calls) == []
    (change,) = view.changes
    assert not exists_on(remotes["svc"], change.branch, "migration.sql")
    assert read_file_on(remotes["svc"], change.branch, "fix.py") == "done\n"


def test_handing_off_to_an_unknown_agent_fails_the_run_naming_it(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [agent("triage", "--append", "TRIAGE.md", "seen", "--summary", "HANDOFF: nobody")]
    runtime = start_runtime(handoff_config(remotes, agents, routes=[]))
    run_id = submit(runtime, "look into it", ["svc"], playbook="pass")
    view = wait_for(runtime, run_id, RunState.failed, timeout=6)
    assert view.run.error is not None and "nobody" in view.run.error
    assert view.changes == []
