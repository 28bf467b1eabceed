"""Best-of-N: the same task given to N agents, results compared, the best kept.

Every candidate starts from the same head. With `concurrent: true` they run at once, each in its
own git worktree with the checks run in that worktree (PatternContext.race); otherwise one after
another in the repo's workspace, each a durable step. Either way each candidate is a step of its
own on the card (agent, state, cost), and the judge keeps, in order of preference:

- `checks_then_smallest_diff`: passing checks, then the smallest diff, then the lower cost;
- `checks_then_cheapest`: passing checks, then the lower cost ("cheaper first on a tie"), then
  the smallest diff;
- `smallest_diff`: the smallest diff, then the lower cost (checks are not run).
"""

from __future__ import annotations

from bot.config.playbooks import BestOf, Node
from bot.engine.patterns.base import Candidate, NodeResult, PatternContext

Score = tuple[float, ...]


def run(node: Node, ctx: PatternContext, feedback: str = "") -> NodeResult:
    spec = node.best_of
    assert spec is not None
    count = spec.n or len(spec.agents)
    agents = [ctx.resolve(spec.agents[i % len(spec.agents)])[0] for i in range(count)]
    names = [f"candidate {i + 1}:{agent}" for i, agent in enumerate(agents)]
    checked = spec.judge != "smallest_diff"
    start = ctx.head
    if spec.concurrent:
        candidates = ctx.race(agents, names=names, feedback=feedback, checks=checked)
    else:
        candidates = [
            _one_by_one(ctx, agent, name, start, feedback, checked) for agent, name in zip(agents, names, strict=True)
        ]

    scored: list[tuple[Score, int, Candidate]] = []
    for i, candidate in enumerate(candidates):
        label = f"candidate {i + 1}"
        if not candidate.ok or candidate.head == start:
            ctx.say(candidate.agent, f"{label} discarded: {candidate.summary or 'no change'}")
            continue
        passed = candidate.checks_passed is not False
        scored.append((_score(spec, passed, candidate), i, candidate))
        checks = "not run" if candidate.checks_passed is None else ("pass" if passed else "fail")
        ctx.say(
            candidate.agent,
            f"{label}: checks {checks}, {candidate.diff_lines} diff lines, ${candidate.cost_usd:.4f}",
        )
    if not scored:
        ctx.reset(start)
        return NodeResult(ok=False, summary=f"none of {count} candidates produced a change", head=start)
    _, index, best = min(scored, key=lambda s: (s[0], s[1]))
    ctx.reset(best.head)
    ctx.say(
        "judge",
        f"picked {best.agent} (candidate {index + 1}: {best.diff_lines} diff lines, ${best.cost_usd:.4f})",
    )
    return NodeResult(ok=True, summary=best.summary, head=best.head, agent=best.agent)


def _score(spec: BestOf, passed: bool, candidate: Candidate) -> Score:
    failed = 0.0 if passed else 1.0
    if spec.judge == "checks_then_cheapest":
        return (failed, candidate.cost_usd, candidate.diff_lines)
    if spec.judge == "smallest_diff":
        return (candidate.diff_lines, candidate.cost_usd)
    return (failed, candidate.diff_lines, candidate.cost_usd)


def _one_by_one(ctx: PatternContext, agent: str, name: str, start: str, feedback: str, checked: bool) -> Candidate:
    ctx.reset(start)
    result = ctx.invoke(agent, name=name, feedback=feedback)
    candidate = Candidate(
        agent=agent,
        status=result.status,
        summary=result.summary,
        head=ctx.head,
        diff_lines=result.diff_stats.lines,
        cost_usd=result.usage.cost_usd,
    )
    if checked and candidate.ok and candidate.head != start:
        candidate.checks_passed = ctx.checks().passed
    return candidate
