"""The same engine on the machine's PostgreSQL: Baton's store and DBOS's system database share
one database (DBOS keeps its own schema), and a run goes from request to merge."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.domain.models import RunState
from tests.e2e.conftest import agent, approve_until_merged, make_repos, repo_entries, submit, wait_for
from tests.e2e.postgres_support import fresh_database
from tests.gitutil import read_file_on


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.mark.postgres
def test_a_run_merges_with_store_and_workflows_on_postgres(tmp_path: Path, database_url: str) -> None:
    remotes = make_repos(tmp_path, ["api", "web"])
    config = parse_baton_file(
        {
            "repos": repo_entries(remotes, {"web": ["api"]}),
            "agents": [agent("writer", "--append", "CHANGES.md", "renamed")],
        }
    )
    settings = Settings(home=tmp_path / ".baton", database_url=database_url)
    runtime = Runtime(settings, config)
    runtime.launch()
    try:
        run_id = submit(runtime, "note the rename", ["api", "web"])
        wait_for(runtime, run_id, RunState.awaiting_approval)
        view = approve_until_merged(runtime, run_id)
    finally:
        runtime.shutdown()
    assert [c.repo for c in view.changes] == ["api", "web"]
    for remote in remotes.values():
        assert read_file_on(remote, "main", "CHANGES.md") == "renamed\n"
    with psycopg.connect(database_url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata")}
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname='public'")}
    assert "dbos" in schemas
    assert {"runs", "events", "changes", "approvals", "deliveries"} <= tables
