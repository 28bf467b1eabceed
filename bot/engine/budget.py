"""Budgets: tokens, USD, wall time and agent steps, per run and per step.

A budget is checked before every agent step; when one is exceeded the run pauses and asks for
more (or stops) — it never silently continues.
"""

from __future__ import annotations

import re

from bot.domain.models import Budget, Usage


class BudgetExceeded(Exception):
    """Raised inside a repo's work when the run's budget is spent; the run then asks for more."""


def exceeded(budget: Budget, usage: Usage, elapsed_s: float) -> str | None:
    """The reason the budget is spent, or None while there is some left."""
    if budget.max_usd is not None and usage.cost_usd >= budget.max_usd:
        return f"cost ${usage.cost_usd:.4f} reached the budget of ${budget.max_usd:.2f}"
    if budget.max_tokens is not None and usage.tokens >= budget.max_tokens:
        return f"{usage.tokens} tokens reached the budget of {budget.max_tokens}"
    if budget.max_agent_steps is not None and usage.agent_steps >= budget.max_agent_steps:
        return f"{usage.agent_steps} agent steps reached the budget of {budget.max_agent_steps}"
    if budget.max_seconds is not None and elapsed_s >= budget.max_seconds:
        return f"{elapsed_s:.0f}s of wall time reached the budget of {budget.max_seconds:.0f}s"
    return None


def step_exceeded(budget: Budget, usage: Usage) -> str | None:
    """Per-step check after an agent returns (wall time is enforced by the agent's timeout)."""
    if budget.max_usd is not None and usage.cost_usd > budget.max_usd:
        return f"step cost ${usage.cost_usd:.4f} is over its budget of ${budget.max_usd:.2f}"
    if budget.max_tokens is not None and usage.tokens > budget.max_tokens:
        return f"step used {usage.tokens} tokens, over its budget of {budget.max_tokens}"
    return None


_MONEY = re.compile(r"^\$?(\d+(?:\.\d+)?)$")


def parse_usd(text: str) -> float:
    """`$5`, `5`, `2.50` → dollars; anything else is a ValueError with the reason."""
    match = _MONEY.match(text.strip())
    if not match:
        raise ValueError(f"budget must look like $5 or 2.50, got {text!r}")
    return float(match.group(1))
