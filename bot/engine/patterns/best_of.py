"""Best-of-N: the same task given to N agents, results compared, the best kept.

Each candidate starts from the same head; the judge prefers candidates whose checks pass, then
the smallest diff. Candidates run one after another in the repo's workspace (each a durable step),
while repos still fan out concurrently (concurrent.py).
"""

from __future__ import annotations

from bot.config import Node
from bot.engine.patterns.base import NodeResult, PatternContext


def run(node: Node, ctx: PatternContext, feedback: str = "") -> NodeResult:
    spec = node.best_of
    assert spec is not None
    count = spec.n or len(spec.agents)
    start = ctx.head
    scored: list[tuple[tuple[int, int], str, str, str]] = []
    for i in range(count):
        agent = ctx.resolve(spec.agents[i % len(spec.agents)])[0]
        ctx.reset(start)
        result = ctx.invoke(agent, name=f"candidate {i + 1}:{agent}", feedback=feedback)
        if not result.ok or ctx.head == start:
            ctx.say(agent, f"candidate {i + 1} discarded: {result.summary or 'no change'}")
            continue
        passed = True
        if spec.judge == "checks_then_smallest_diff":
            passed = ctx.checks().passed
        size = len(result.diff.splitlines())
        scored.append(((0 if passed else 1, size), ctx.head, agent, result.summary))
        ctx.say(agent, f"candidate {i + 1}: checks {'pass' if passed else 'fail'}, {size} diff lines")
    if not scored:
        ctx.reset(start)
        return NodeResult(ok=False, summary=f"none of {count} candidates produced a change", head=start)
    (_, size), head, agent, summary = min(scored)
    ctx.reset(head)
    ctx.say("judge", f"picked {agent} ({size} diff lines)")
    return NodeResult(ok=True, summary=summary, head=head, agent=agent)
