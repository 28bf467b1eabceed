"""Verify/repair loop: run the repo's checks; on failure hand the output back, at most N attempts."""

from __future__ import annotations

from bot.config.playbooks import Node
from bot.domain.checks import missing_report
from bot.engine.patterns.base import NodeResult, PatternContext


def run(node: Node, ctx: PatternContext, feedback: str = "") -> NodeResult:
    assert node.verify is not None
    carried = feedback
    result = NodeResult(ok=False, head=ctx.head)
    for attempt in range(1, node.verify.max_attempts + 1):
        result = ctx.execute(node.verify.do, carried)
        if not result.ok:
            return result
        outcome = ctx.checks()
        if outcome.passed:
            return result
        if outcome.program_missing:  # configuration, not code: no agent attempt can fix it
            return NodeResult(ok=False, summary=missing_report(outcome.output_tail), head=ctx.head)
        carried = (
            f"The checks failed after attempt {attempt}. Fix the code so they pass.\n"
            f"--- checks output (tail) ---\n{outcome.output_tail[-3000:]}"
        )
    return NodeResult(
        ok=False,
        summary=f"checks still failing after {node.verify.max_attempts} attempt(s)",
        head=ctx.head,
        agent=result.agent,
    )
