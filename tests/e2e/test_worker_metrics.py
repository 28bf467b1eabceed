"""A worker's own metrics: `baton worker --metrics-port` serves the errors its API clients saw. On
PostgreSQL `baton serve` only ingests, so a GitHub failure while a worker opens a pull request is
counted by that worker, and read from its port, not from serve's `/metrics`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.domain.models import RunState
from bot.store.store import Store
from tests.e2e.postgres_support import fresh_database
from tests.e2e.scale_support import Baton, cluster, free_port, until


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def _github_errors(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    name = "baton_outbound_api_errors_total"
    [errors] = [s.value for s in samples if s.name == name and s.labels["service"] == "github"]
    return errors


@pytest.mark.postgres
def test_a_workers_github_errors_are_read_from_its_own_metrics_port(tmp_path: Path, database_url: str) -> None:
    with cluster(tmp_path, database_url, ["r0"], {"global": 2, "per_repo": 1}) as world:
        server = world.serve()
        port = free_port()
        worker = Baton(world.env, "worker", "--metrics-port", str(port)).start()
        try:
            world.fake.fail("POST", r"/repos/acme/r0/pulls$", 502, times=2)
            run_id, _ = world.ask(["r0"])
            until("the run to wait for approval", lambda: _awaiting(world.store, run_id))

            assert _github_errors(f"http://127.0.0.1:{port}") == 2
            assert _github_errors(world.url) == 0
        finally:
            for process in (server, worker):
                process.kill()


def _awaiting(store: Store, run_id: str) -> bool:
    run = store.get_run(run_id)
    return run is not None and run.state is RunState.awaiting_approval
