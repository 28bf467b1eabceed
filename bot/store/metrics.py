"""Metrics read from the store at scrape time: runs by state, step durations by agent, tokens and
cost by agent, approval decisions and merge outcomes.

They describe work any process may have done (serve, or any worker), so they are computed from the
shared database when Prometheus scrapes, never counted in one process's memory. Each scrape is a
handful of aggregate queries (GROUP BY in the database, durations bucketed there too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from bot.domain.models import RunState
from bot.store.tables import ApprovalRow, EventRow, RunRow, StepRow

STEP_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
MERGE_EVENTS = {"merged": "merged", "merge_failed": "failed"}


class StoreCollector(Collector):
    """A Prometheus collector over the store's tables (`engine`: the store's database)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Sequence[Metric]:
        return []  # nothing is read when the collector is registered, only when scraped

    def collect(self) -> Iterator[Metric]:
        with Session(self.engine) as s:
            states = {str(k): int(n) for k, n in s.execute(select(RunRow.state, func.count()).group_by(RunRow.state))}
            agents = self._agents(s)
            decisions = s.execute(select(ApprovalRow.decision, func.count()).group_by(ApprovalRow.decision)).all()
            merges = s.execute(
                select(EventRow.kind, func.count()).where(EventRow.kind.in_(list(MERGE_EVENTS))).group_by(EventRow.kind)
            ).all()

        runs = GaugeMetricFamily("baton_runs", "Runs by state", labels=["state"])
        for state in RunState:
            runs.add_metric([state.value], float(states.get(state.value, 0)))
        yield runs

        durations = HistogramMetricFamily(
            "baton_step_duration_seconds", "Duration of finished steps, by agent", labels=["agent"]
        )
        tokens = CounterMetricFamily(
            "baton_agent_tokens", "Tokens used, by agent and direction", labels=["agent", "direction"]
        )
        cost = CounterMetricFamily("baton_agent_cost_usd", "Cost in US dollars, by agent", labels=["agent"])
        for agent in sorted(agents, key=lambda a: a.name):
            durations.add_metric([agent.name], agent.buckets, sum_value=agent.seconds)
            tokens.add_metric([agent.name, "in"], float(agent.tokens_in))
            tokens.add_metric([agent.name, "out"], float(agent.tokens_out))
            cost.add_metric([agent.name], agent.cost_usd)
        yield from (durations, tokens, cost)

        approvals = CounterMetricFamily(
            "baton_approvals", "Approval decisions recorded, by decision", labels=["decision"]
        )
        for decision, count in decisions:
            approvals.add_metric([str(decision)], float(count))
        yield approvals

        merged = CounterMetricFamily("baton_merges", "Pull request merges attempted, by outcome", labels=["outcome"])
        counts = {MERGE_EVENTS[str(kind)]: float(n) for kind, n in merges}
        for outcome in MERGE_EVENTS.values():
            merged.add_metric([outcome], counts.get(outcome, 0.0))
        yield merged

    def _agents(self, s: Session) -> list[_Agent]:
        """Per agent, in one aggregate query: usage of all its steps, and its finished steps'
        durations as cumulative bucket counts and a sum."""
        seconds = _seconds_between(self.engine.dialect.name, StepRow.started_at, StepRow.finished_at)
        finished = StepRow.finished_at.is_not(None)
        columns = [
            func.coalesce(func.sum(StepRow.usage["tokens_in"].as_integer()), 0),
            func.coalesce(func.sum(StepRow.usage["tokens_out"].as_integer()), 0),
            func.coalesce(func.sum(StepRow.usage["cost_usd"].as_float()), 0.0),
            func.coalesce(func.sum(case((finished, seconds), else_=0.0)), 0.0),
            func.coalesce(func.sum(case((finished, 1), else_=0)), 0),
            *(func.coalesce(func.sum(case((finished & (seconds <= le), 1), else_=0)), 0) for le in STEP_BUCKETS),
        ]
        rows = s.execute(select(StepRow.agent, *columns).where(StepRow.agent.is_not(None)).group_by(StepRow.agent))
        agents = []
        for name, tokens_in, tokens_out, cost, total, count, *buckets in rows:
            bounds = [(str(le), float(n)) for le, n in zip(STEP_BUCKETS, buckets, strict=True)]
            agents.append(
                _Agent(
                    str(name),
                    int(tokens_in),
                    int(tokens_out),
                    float(cost),
                    float(total),
                    [*bounds, ("+Inf", float(count))],
                )
            )
        return agents


@dataclass
class _Agent:
    name: str
    tokens_in: int
    tokens_out: int
    cost_usd: float
    seconds: float
    buckets: list[tuple[str, float]]


def _seconds_between(dialect: str, start: Any, end: Any) -> Any:
    """SQL for the seconds from `start` to `end` (timestamps) on the store's database."""
    if dialect == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86400.0
