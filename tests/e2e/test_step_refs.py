"""On PostgreSQL (workers may have separate homes) a run's finished agent steps wait on the repo's
remote under hidden refs while it works, so a worker on another home can continue the repo, and the
refs are gone once the run ends. On SQLite (one home) a step pushes nothing before the branch."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.domain.models import RunState
from bot.scm.git import run_git
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    _close_open_runs,
    agent,
    approve_until_merged,
    event_data,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.e2e.postgres_support import fresh_database

OnPostgres = Callable[[dict[str, Any]], Runtime]


@pytest.fixture
def on_postgres(tmp_path: Path) -> Iterator[OnPostgres]:
    """A Runtime on a fresh PostgreSQL database (shut down after the test)."""
    started: list[Runtime] = []
    with fresh_database() as url:

        def start(config: dict[str, Any]) -> Runtime:
            settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml", database_url=url)
            runtime = Runtime(settings, parse_baton_file(config))
            runtime.launch()
            started.append(runtime)
            return runtime

        try:
            yield start
        finally:
            for runtime in started:
                _close_open_runs(runtime)  # a run left waiting holds a DBOS thread
                runtime.shutdown()


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


@pytest.mark.postgres
def test_each_finished_agent_step_waits_on_the_remote_at_its_recorded_commit(
    tmp_path: Path, on_postgres: OnPostgres
) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    runtime = on_postgres(_config(remotes))
    run_id = submit(runtime, "add the endpoint", ["svc"], playbook="chain")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    recorded = [e["commit"] for e in event_data(runtime, run_id, "step_finished")]
    refs = _step_refs(remotes["svc"])
    assert len(recorded) == 2
    assert sorted(refs.values()) == sorted(recorded)
    assert all(ref.startswith(f"refs/baton/steps/{run_id}/svc/") for ref in refs)


@pytest.mark.postgres
def test_a_runs_hidden_refs_are_gone_once_it_merges(tmp_path: Path, on_postgres: OnPostgres) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    runtime = on_postgres(_config(remotes))
    run_id = submit(runtime, "add the endpoint", ["svc"], playbook="chain")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    approve_until_merged(runtime, run_id, timeout=30)
    assert _step_refs(remotes["svc"]) == {}


@pytest.mark.postgres
def test_a_cancelled_runs_hidden_refs_are_gone(tmp_path: Path, on_postgres: OnPostgres) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    runtime = on_postgres(_config(remotes))
    run_id = submit(runtime, "add the endpoint", ["svc"], playbook="chain")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    assert len(_step_refs(remotes["svc"])) == 2
    assert runtime.runs.cancel(run_id, APPROVER).accepted
    assert _step_refs(remotes["svc"]) == {}


def test_on_sqlite_a_step_pushes_no_hidden_ref(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    runtime = start_runtime(_config(remotes))
    run_id = submit(runtime, "add the endpoint", ["svc"], playbook="chain")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)
    assert len(event_data(runtime, run_id, "step_finished")) == 2
    assert _step_refs(remotes["svc"]) == {}
