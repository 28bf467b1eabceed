"""Each orchestration pattern on its own, over an in-memory PatternContext: agents are scripted by
name (a queue of results each), heads are counted commits, checks are scripted per head."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from bot.config.playbooks import Node
from bot.domain.models import AgentResult, AgentStatus, CheckOutcome, DiffStats
from bot.engine import patterns
from bot.engine.patterns.base import Candidate, NodeResult


def ok(summary: str = "done", lines: int = 1, files: tuple[str, ...] = ("a.py",), cost: float = 0.0) -> AgentResult:
    stats = DiffStats(files=len(files), insertions=lines if files else 0)
    result = AgentResult(status=AgentStatus.succeeded, summary=summary, diff_stats=stats, files_changed=list(files))
    result.usage.cost_usd = cost
    return result


def failed(summary: str = "broke") -> AgentResult:
    return AgentResult(status=AgentStatus.failed, summary=summary)


@dataclass
class Context:
    """`PatternContext` in memory: every successful agent call makes one commit."""

    script: dict[str, deque[AgentResult]]
    failing_heads: set[str] = field(default_factory=set)
    routed: list[str] = field(default_factory=lambda: ["impl", "backup"])
    repo: str = "api"
    head: str = "h0"
    calls: list[tuple[str, str, str]] = field(default_factory=list)
    """(agent, name, feedback) per invocation, in order."""
    said: list[tuple[str, str]] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    commits: int = 0

    def invoke(
        self,
        agent: str,
        *,
        name: str,
        role: str = "implementer",
        feedback: str = "",
        transcript: list[str] | None = None,
    ) -> AgentResult:
        self.calls.append((agent, name, feedback))
        result = self.script[agent].popleft() if self.script.get(agent) else ok(f"{agent} ok")
        if result.ok and result.files_changed:
            self.commits += 1
            self.head = f"h{self.commits}"
        return result

    def checks(self) -> CheckOutcome:
        self.checked.append(self.head)
        passed = self.head not in self.failing_heads
        return CheckOutcome(passed=passed, output_tail="" if passed else "2 tests failed", sha=self.head)

    def race(self, agents: list[str], *, names: list[str], feedback: str = "", checks: bool = True) -> list[Candidate]:
        start, found = self.head, []
        for agent, name in zip(agents, names, strict=True):
            self.head = start
            result = self.invoke(agent, name=name, feedback=feedback)
            passed = self.checks().passed if checks and result.ok and self.head != start else None
            found.append(
                Candidate(agent=agent, status=result.status, summary=result.summary, head=self.head,
                          diff_lines=result.diff_stats.lines, cost_usd=result.usage.cost_usd,
                          checks_passed=passed)
            )  # fmt: skip
        self.head = start
        return found

    def reset(self, sha: str) -> None:
        self.head = sha

    def say(self, speaker: str, text: str) -> None:
        self.said.append((speaker, text))

    def resolve(self, agent: str) -> list[str]:
        return list(self.routed) if agent == "@routed" else [agent]

    def execute(self, node: Node, feedback: str = "") -> NodeResult:
        return patterns.execute(node, self, feedback)


def node(**data: object) -> Node:
    return Node.model_validate(data)


def test_an_agent_node_carries_its_own_task_with_the_feedback() -> None:
    ctx = Context({})
    patterns.execute(node(agent="impl", task="write tests first"), ctx, "the request")
    assert ctx.calls == [("impl", "impl", "write tests first\n\nthe request")]


def test_sequential_feeds_each_result_to_the_next_step() -> None:
    ctx = Context({"impl": deque([ok("renamed the route")])})
    result = patterns.execute(node(sequential=[{"agent": "impl"}, {"agent": "review"}]), ctx)
    assert result.ok
    assert ctx.calls[1] == ("review", "review", "The previous step (impl) reported: renamed the route")


def test_sequential_stops_at_the_first_failure() -> None:
    ctx = Context({"impl": deque([failed()])})
    result = patterns.execute(node(sequential=[{"agent": "impl"}, {"agent": "review"}]), ctx)
    assert not result.ok and [c[0] for c in ctx.calls] == ["impl"]


def test_verify_hands_the_failing_checks_back_until_they_pass() -> None:
    ctx = Context({}, failing_heads={"h1"})
    result = patterns.execute(node(verify={"do": {"agent": "impl"}, "max_attempts": 3}), ctx)
    assert result.ok and ctx.checked == ["h1", "h2"]
    assert "The checks failed after attempt 1" in ctx.calls[1][2] and "2 tests failed" in ctx.calls[1][2]


def test_verify_gives_up_after_its_attempts() -> None:
    ctx = Context({}, failing_heads={"h1", "h2"})
    result = patterns.execute(node(verify={"do": {"agent": "impl"}, "max_attempts": 2}), ctx)
    assert not result.ok and result.summary == "checks still failing after 2 attempt(s)"


def test_fallback_starts_the_next_agent_from_where_the_first_started() -> None:
    ctx = Context({"impl": deque([failed("rate limited")])})
    result = patterns.execute(node(fallback=["@routed"]), ctx)
    assert result.ok and result.agent == "backup"
    assert [c[0] for c in ctx.calls] == ["impl", "backup"]


def test_fallback_reports_every_failure_when_the_chain_runs_out() -> None:
    ctx = Context({"impl": deque([failed("a")]), "backup": deque([failed("b")])})
    result = patterns.execute(node(fallback=["@routed"]), ctx)
    assert not result.ok and result.summary == "every agent failed — impl: a; backup: b"
    assert ctx.head == "h0"


def test_best_of_keeps_the_smallest_passing_diff() -> None:
    ctx = Context(
        {"a": deque([ok(lines=3)]), "b": deque([ok(lines=1)]), "c": deque([ok(lines=1)])},
        failing_heads={"h3"},
    )
    result = patterns.execute(node(best_of={"agents": ["a", "b", "c"]}), ctx)
    assert result.ok and result.agent == "b" and ctx.head == "h2"


def test_best_of_cheapest_prefers_cost_over_size_among_passing() -> None:
    ctx = Context({"a": deque([ok(lines=2, cost=0.01)]), "b": deque([ok(lines=1, cost=0.50)])})
    result = patterns.execute(node(best_of={"agents": ["a", "b"], "judge": "checks_then_cheapest"}), ctx)
    assert result.agent == "a"


def test_best_of_concurrent_judges_the_race_the_same_way() -> None:
    ctx = Context({"a": deque([ok(lines=2)]), "b": deque([ok(lines=1)])})
    result = patterns.execute(node(best_of={"agents": ["a", "b"], "concurrent": True}), ctx)
    assert result.agent == "b" and ctx.head == "h2"


def test_best_of_fails_when_no_candidate_changed_anything() -> None:
    ctx = Context({"a": deque([ok(files=())]), "b": deque([failed()])})
    result = patterns.execute(node(best_of={"agents": ["a", "b"]}), ctx)
    assert not result.ok and ctx.head == "h0"


def test_group_chat_ends_when_every_reviewer_agrees_after_the_last_change() -> None:
    ctx = Context({"r1": deque([ok("LGTM", files=())]), "r2": deque([ok("lgtm!", files=())])})
    result = patterns.execute(node(group_chat={"participants": ["impl", "r1", "r2"]}), ctx)
    assert result.ok and [c[0] for c in ctx.calls] == ["impl", "r1", "r2"]


def test_group_chat_gives_the_implementer_another_turn_after_a_review() -> None:
    reviews = deque([ok("rename the test too", files=()), ok("LGTM", files=())])
    ctx = Context({"r1": reviews})
    result = patterns.execute(node(group_chat={"participants": ["impl", "r1"], "max_rounds": 3}), ctx)
    assert result.ok and [c[0] for c in ctx.calls] == ["impl", "r1", "impl", "r1"]


def test_group_chat_without_agreement_fails_after_its_rounds() -> None:
    ctx = Context({"r1": deque([ok("no", files=())] * 4)})
    result = patterns.execute(node(group_chat={"participants": ["impl", "r1"], "max_rounds": 2}), ctx)
    assert not result.ok and result.summary == "no agreement after 2 round(s)"


def test_handoff_follows_a_route_on_failure() -> None:
    ctx = Context({"impl": deque([failed("cannot parse the spec")])})
    spec = {"start": "impl", "routes": [{"to": "expert", "when": "failed"}]}
    result = patterns.execute(node(handoff=spec), ctx)
    assert result.ok and result.agent == "expert"
    assert ctx.said == [("impl", "handing off to expert")]


def test_an_agent_may_hand_off_by_name_and_hops_are_bounded() -> None:
    loop = deque([ok("HANDOFF: b")] * 5)
    ctx = Context({"a": loop, "b": deque([ok("HANDOFF: a")] * 5)})
    result = patterns.execute(node(handoff={"start": "a", "max_hops": 2}), ctx)
    assert [c[0] for c in ctx.calls] == ["a", "b", "a"]
    assert result.agent == "a"
