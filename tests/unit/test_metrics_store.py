"""The store-read metrics bucket step durations and sum usage per agent in the database itself,
the same on SQLite and on PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config.models import parse_baton_file
from bot.domain.models import Usage, utcnow
from bot.domain.records import Step, StepState
from bot.engine.intake import build_spec
from bot.observability.metrics import Metrics
from bot.store.metrics import StoreCollector
from bot.store.store import Store, make_engine, migrate
from handlers.cli import cli_trigger
from tests.e2e.postgres_support import fresh_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    sqlite = contextlib.nullcontext(f"sqlite:///{tmp_path / 'baton.db'}")
    with fresh_database() if request.param == "postgresql" else sqlite as url:
        engine = make_engine(url)
        migrate(engine)
        yield Store(engine)
        engine.dispose()


def test_step_durations_are_bucketed_and_usage_summed_per_agent(store: Store) -> None:
    config = parse_baton_file({"repos": [{"name": "api", "url": "/nowhere/api.git"}]})
    spec = build_spec(cli_trigger("rename"), config, repos=["api"])
    store.create_run(spec)
    start = utcnow()
    for key, agent, seconds in [("s1", "coder", 0.5), ("s2", "coder", 3.0), ("s3", "coder", 70.0), ("s4", "helper", 9)]:
        usage = Usage(tokens_in=100, tokens_out=10, cost_usd=0.125)
        end = start + timedelta(seconds=seconds)
        store.save_step(
            Step(
                run_id=spec.run_id,
                key=key,
                name=agent,
                agent=agent,
                state=StepState.succeeded,
                started_at=start,
                finished_at=end,
                usage=usage,
            )
        )
    store.save_step(Step(run_id=spec.run_id, key="s5", name="coder", agent="coder", usage=Usage(tokens_in=7)))

    text = Metrics([StoreCollector(store.engine)]).exposition().decode()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    buckets = {
        le: samples[("baton_step_duration_seconds_bucket", (("agent", "coder"), ("le", le)))]
        for le in ("1.0", "5.0", "60.0", "120.0", "+Inf")
    }
    assert buckets == {"1.0": 1, "5.0": 2, "60.0": 2, "120.0": 3, "+Inf": 3}
    assert samples[("baton_step_duration_seconds_sum", (("agent", "coder"),))] == pytest.approx(73.5, abs=0.01)
    assert samples[("baton_agent_tokens_total", (("agent", "coder"), ("direction", "in")))] == 307
    assert samples[("baton_agent_cost_usd_total", (("agent", "helper"),))] == pytest.approx(0.125)
