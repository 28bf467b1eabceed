"""A single agent step: the leaf every other pattern is built from."""

from __future__ import annotations

from bot.config.playbooks import Node
from bot.engine.patterns.base import NodeResult, PatternContext


def run(node: Node, ctx: PatternContext, feedback: str = "") -> NodeResult:
    assert node.agent is not None
    name = ctx.resolve(node.agent)[0]
    result = ctx.invoke(name, name=node.name or name, feedback=_task(node, feedback))
    return NodeResult(ok=result.ok, summary=result.summary, head=ctx.head, agent=name)


def _task(node: Node, feedback: str) -> str:
    """A node's own instruction (e.g. "review the diff") travels with what came before."""
    parts = [p for p in (node.task, feedback) if p]
    return "\n\n".join(parts)
