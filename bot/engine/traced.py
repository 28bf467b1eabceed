"""Where the engine's work meets tracing (bot/observability/tracing.py): the run's trace around its workflows,
a span per step, and the run span exported once the run has ended.

The workflow decorators sit under `@DBOS.workflow()`, so a workflow resumed in another process
runs inside the same trace as before: the run span's ids derive from the run id and attempt.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar, cast

from bot.domain.models import AgentResult
from bot.engine.deps import EngineDeps

F = TypeVar("F", bound=Callable[..., Any])


class _HasDeps(Protocol):
    deps: EngineDeps


def run_workflow(fn: F) -> F:
    """For `run_workflow(self, run_id, attempt, ...)`: the run's trace, and its span when it ends."""

    @functools.wraps(fn)
    def traced(self: _HasDeps, run_id: str, attempt: int, *args: Any, **kwargs: Any) -> Any:
        try:
            with self.deps.tracer.in_run(run_id, lambda: attempt):
                return fn(self, run_id, attempt, *args, **kwargs)
        finally:
            finish_run(self.deps, run_id, attempt)

    return cast(F, traced)


def in_run(fn: F) -> F:
    """For a workflow of part of a run (`self, run_id, ...`): inside the run's trace."""

    @functools.wraps(fn)
    def traced(self: _HasDeps, run_id: str, *args: Any, **kwargs: Any) -> Any:
        with self.deps.tracer.in_run(run_id, lambda: _attempt(self.deps, run_id)):
            return fn(self, run_id, *args, **kwargs)

    return cast(F, traced)


def _attempt(deps: EngineDeps, run_id: str) -> int:
    run = deps.store.get_run(run_id)
    return run.attempt if run else 1


def finish_run(deps: EngineDeps, run_id: str, attempt: int) -> None:
    """Export the run span if the run has ended (a process stopping mid-run leaves it to the next)."""
    if not deps.tracer.enabled:
        return
    run = deps.store.get_run(run_id)
    if run is None or not run.state.terminal or run.attempt != attempt:
        return
    attributes = {
        "baton.source": run.spec.trigger.source.value,
        "baton.repos": list(run.spec.repos),
        "baton.playbook": run.spec.playbook,
        "baton.state": run.state.value,
        "baton.tokens": run.usage.tokens,
        "baton.cost_usd": run.usage.cost_usd,
    }
    deps.tracer.run_finished(run_id, attempt, run.created_at, max(run.updated_at, run.created_at), attributes)


@contextmanager
def step(deps: EngineDeps, name: str, **attributes: str) -> Iterator[Any]:
    """A span for one step of a run (`baton.<key>` attributes); yields the span or None."""
    with deps.tracer.span(f"step {name}", {f"baton.{k}": v for k, v in attributes.items()}) as span:
        yield span


def record(span: Any, result: AgentResult) -> None:
    """An agent step's outcome on its span: state, tokens and cost."""
    if span is None:
        return
    span.set_attribute("baton.state", result.status.value)
    span.set_attribute("baton.tokens_in", result.usage.tokens_in)
    span.set_attribute("baton.tokens_out", result.usage.tokens_out)
    span.set_attribute("baton.cost_usd", result.usage.cost_usd)
    span.set_attribute("baton.files_changed", len(result.files_changed))
