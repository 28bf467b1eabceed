"""Two `baton serve` replicas on the machine's PostgreSQL, each with its own scheduler firing the same
cron playbook: every firing both of them handled started exactly one run and one run workflow."""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from bot.config.settings import Settings
from bot.domain.models import Source
from bot.engine.runs import workflow_id
from bot.store.store import Store, make_engine
from tests.e2e.conftest import agent, make_repos, repo_entries
from tests.e2e.postgres_support import fresh_database
from tests.e2e.scale_support import Baton, baton_env, free_port, until


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    remotes = make_repos(tmp_path, ["api"])
    tick = {"name": "tick", "cron": "*/2 * * * * *", "request": "bump deps", "repos": ["api"], "misfire_grace_s": 30}
    config = {"repos": repo_entries(remotes), "agents": [agent("coder", "--append", "README.md", "x")]}
    config["schedules"] = [tick]
    return baton_env(tmp_path, config, BATON_DATABASE_URL=database_url)


def _ready(port: int) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    return False


def _fired(log: Path) -> set[str]:
    """The firings a replica logged as handled (its log is JSON lines)."""
    found = set()
    for line in log.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError, AttributeError):
            entry = json.loads(line)
            # The cron job's firings only: the minute sweeps (expiry, claimed continuations) log too.
            if entry.get("event") == "scheduler.fired" and str(entry["firing"]).startswith("schedule:"):
                found.add(str(entry["firing"]))
    return found


def _start(env: dict[str, str], home: Path, known: list[Path]) -> tuple[Baton, Path]:
    port = free_port()
    server = Baton(env, "serve", "--port", str(port)).start()
    until("baton serve to answer /readyz", lambda: _ready(port))
    [log] = [p for p in home.glob("serve-*.log") if p not in known]
    return server, log


@pytest.mark.postgres
def test_two_serve_replicas_start_one_run_per_cron_firing(tmp_path: Path, database_url: str) -> None:
    env = _env(tmp_path, database_url)
    home = Path(env["BATON_HOME"])
    replicas: list[Baton] = []
    logs: list[Path] = []
    try:
        for _ in range(2):
            server, log = _start({**env, "BATON_LOG_FORMAT": "json"}, home, logs)
            replicas.append(server)
            logs.append(log)
        common = until("both replicas fired the same firing", lambda: _fired(logs[0]) & _fired(logs[1]), 60)
    finally:
        for server in replicas:
            if server.process is not None and server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
                server.process.wait(30)

    engine = make_engine(Settings(database_url=database_url).store_url)
    try:
        store = Store(engine)
        runs: dict[str, list[str]] = {}
        for run in store.list_runs(limit=1000):
            if run.spec.trigger.source is Source.schedule:
                runs.setdefault(run.spec.trigger.delivery_id, []).append(run.run_id)
    finally:
        engine.dispose()
    assert common and set(runs) == _fired(logs[0]) | _fired(logs[1])
    assert all(len(ids) == 1 for ids in runs.values()), runs
    with psycopg.connect(database_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT workflow_uuid FROM dbos.workflow_status")]
    for [run_id] in runs.values():
        assert ids.count(workflow_id(run_id, 1)) == 1
