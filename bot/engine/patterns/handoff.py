"""Handoff: a routing rule, or the current agent's own result, passes the work to another agent.

After each agent the routes are tried in order (`when`: failed | succeeded | always, and/or a
regular expression on its summary); an agent may also hand off itself with `HANDOFF: <name>`.
"""

from __future__ import annotations

import re

from bot.config.playbooks import Handoff, Node
from bot.domain.models import AgentResult
from bot.engine.patterns.base import NodeResult, PatternContext, feedback_from

_SELF_HANDOFF = re.compile(r"HANDOFF:\s*([A-Za-z0-9._-]+)")


def run(node: Node, ctx: PatternContext, feedback: str = "") -> NodeResult:
    spec = node.handoff
    assert spec is not None
    current: str | None = ctx.resolve(spec.start)[0]
    carried = feedback
    last: AgentResult | None = None
    hops = 0
    while current is not None:
        last = ctx.invoke(current, name=f"handoff:{current}", feedback=carried)
        nxt = next_agent(spec, last)
        if nxt is None or hops >= spec.max_hops:
            return NodeResult(ok=last.ok, summary=last.summary, head=ctx.head, agent=current)
        hops += 1
        ctx.say(current, f"handing off to {nxt}")
        carried = feedback_from(last, current)
        current = nxt
    return NodeResult(ok=False, summary="no agent", head=ctx.head)


def next_agent(spec: Handoff, result: AgentResult) -> str | None:
    explicit = _SELF_HANDOFF.search(result.summary)
    if explicit:
        return explicit.group(1)
    for route in spec.routes:
        if route.when == "failed" and result.ok:
            continue
        if route.when == "succeeded" and not result.ok:
            continue
        if route.summary_matches and not re.search(route.summary_matches, result.summary):
            continue
        if route.when is None and route.summary_matches is None:
            continue
        return route.to
    return None
