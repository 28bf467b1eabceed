"""Metrics read from the store at scrape time: runs by state, step durations by agent, tokens and
cost by agent, approval decisions and merge outcomes.

They describe work any process may have done (serve, or any worker), so they are computed from the
shared database when Prometheus scrapes, never counted in one process's memory. Each scrape is a
handful of aggregate queries plus one pass over finished steps' (agent, start, end, usage).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from bot.domain import RunState
from bot.store_models import ApprovalRow, EventRow, RunRow, StepRow

STEP_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
MERGE_EVENTS = {"merged": "merged", "merge_failed": "failed"}


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class _Agent:
    """One agent's finished steps, as histogram buckets, and all its steps' usage."""

    def __init__(self) -> None:
        self.buckets = [0] * (len(STEP_BUCKETS) + 1)
        self.seconds = 0.0
        self.tokens_in = 0
        self.tokens_out = 0
        self.cost_usd = 0.0

    def add_duration(self, seconds: float) -> None:
        self.buckets[bisect.bisect_left(STEP_BUCKETS, seconds)] += 1
        self.seconds += seconds

    def add_usage(self, usage: dict[str, Any]) -> None:
        self.tokens_in += int(usage.get("tokens_in") or 0)
        self.tokens_out += int(usage.get("tokens_out") or 0)
        self.cost_usd += float(usage.get("cost_usd") or 0.0)

    def cumulative(self) -> list[tuple[str, float]]:
        total, out = 0, []
        for bound, count in zip([*map(str, STEP_BUCKETS), "+Inf"], self.buckets, strict=True):
            total += count
            out.append((bound, float(total)))
        return out


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
        for name, agent in sorted(agents.items()):
            durations.add_metric([name], agent.cumulative(), sum_value=agent.seconds)
            tokens.add_metric([name, "in"], float(agent.tokens_in))
            tokens.add_metric([name, "out"], float(agent.tokens_out))
            cost.add_metric([name], agent.cost_usd)
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

    @staticmethod
    def _agents(s: Session) -> dict[str, _Agent]:
        agents: dict[str, _Agent] = defaultdict(_Agent)
        rows = s.execute(
            select(StepRow.agent, StepRow.started_at, StepRow.finished_at, StepRow.usage).where(
                StepRow.agent.is_not(None)
            )
        )
        for name, started, finished, usage in rows:
            agent = agents[str(name)]
            agent.add_usage(usage or {})
            if finished is not None:
                agent.add_duration(max(0.0, (_aware(finished) - _aware(started)).total_seconds()))
        return agents
