"""Orchestration patterns, one module each, composed by playbooks (see bot/config/models.py `Node`).

Run level: manager (plan → delegate → assemble) and concurrent (fan-out per repo).
Repo level, dispatched here by the node's pattern: agent, sequential, best_of, group_chat,
handoff, verify (verify/repair loop) and fallback.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.config.playbooks import Node
from bot.engine.patterns import (
    agent,
    best_of,
    fallback,
    group_chat,
    handoff,
    sequential,
    verify,
)
from bot.engine.patterns.base import NodeResult, PatternContext

Runner = Callable[[Node, PatternContext, str], NodeResult]

RUNNERS: dict[str, Runner] = {
    "agent": agent.run,
    "sequential": sequential.run,
    "best_of": best_of.run,
    "group_chat": group_chat.run,
    "handoff": handoff.run,
    "verify": verify.run,
    "fallback": fallback.run,
}


def execute(node: Node, ctx: PatternContext, feedback: str = "") -> NodeResult:
    return RUNNERS[node.pattern](node, ctx, feedback)
