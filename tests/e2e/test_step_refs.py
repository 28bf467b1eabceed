"""A run's finished agent steps wait on the repo's remote under hidden refs while it works (so a
worker on another home can continue the repo), and the refs are gone once the run ends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.domain.models import RunState
from bot.scm.git import run_git
from tests.e2e.conftest import (
    RuntimeFactory,
    agent,
    approve_until_merged,
    event_data,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)


def _config(remotes: dict[str, Path]) -> dict[str, Any]:
    agents = [agent("schema", "--append", "CHANGES.md", "schema"), agent("docs", "--append", "CHANGES.md", "docs")]
    return {
        "repos": repo_entries(remotes),
        "agents": agents,
        "routing": {"default_agent": "schema"},
        "playbooks": {"chain": {"per_repo": {"sequential": [{"agent": "schema"}, {"agent": "docs"}]}}},
    }


def _step_refs(remote: Path) -> dict[str, str]:
    listed = run_git(["--git-dir", str(remote), "for-each-ref", "--format=%(objectname) %(refname)"], remote)
    pairs = (line.split(" ", 1) for line in listed.splitlines())
    return {ref: sha for sha, ref in pairs if ref.startswith("refs/baton/")}


def test_each_finished_agent_step_waits_on_the_remote_at_its_recorded_commit(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    runtime = start_runtime(_config(remotes))
    run_id = submit(runtime, "add the endpoint", ["svc"], playbook="chain")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    recorded = [e["commit"] for e in event_data(runtime, run_id, "step_finished")]
    refs = _step_refs(remotes["svc"])
    assert len(recorded) == 2
    assert sorted(refs.values()) == sorted(recorded)
    assert all(ref.startswith(f"refs/baton/steps/{run_id}/svc/") for ref in refs)


def test_a_runs_hidden_refs_are_gone_once_it_merges(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    runtime = start_runtime(_config(remotes))
    run_id = submit(runtime, "add the endpoint", ["svc"], playbook="chain")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    approve_until_merged(runtime, run_id, timeout=30)
    assert _step_refs(remotes["svc"]) == {}
