"""Sequential: each step's output feeds the next (e.g. implement → review → fix)."""

from __future__ import annotations

from bot.config.playbooks import Node
from bot.engine.patterns.base import NodeResult, PatternContext


def run(node: Node, ctx: PatternContext, feedback: str = "") -> NodeResult:
    assert node.sequential is not None
    result = NodeResult(ok=True, head=ctx.head)
    carried = feedback
    for child in node.sequential:
        result = ctx.execute(child, carried)
        if not result.ok:
            return result
        carried = f"The previous step ({result.agent or child.pattern}) reported: {result.summary}"
    return result
