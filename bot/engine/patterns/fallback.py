"""Fallback: when an agent fails or exceeds its budget, the next agent in the chain takes over
from the same workspace state the first one started from."""

from __future__ import annotations

from bot.config.playbooks import Node
from bot.engine.patterns.base import NodeResult, PatternContext


def run(node: Node, ctx: PatternContext, feedback: str = "") -> NodeResult:
    assert node.fallback is not None
    chain: list[str] = []
    for name in node.fallback:
        chain += [a for a in ctx.resolve(name) if a not in chain]
    start = ctx.head
    failures: list[str] = []
    for name in chain:
        ctx.reset(start)
        result = ctx.invoke(
            name,
            name=node.name or name,
            feedback="\n\n".join(p for p in (node.task, feedback) if p),
        )
        if result.ok:
            return NodeResult(ok=True, summary=result.summary, head=ctx.head, agent=name)
        failures.append(f"{name}: {result.summary or result.status.value}")
    ctx.reset(start)
    return NodeResult(ok=False, summary="every agent failed — " + "; ".join(failures), head=start)
