"""The durable context patterns run in, for one repo of one run.

Every agent invocation and checks run goes through the engine's checkpointed steps with a step
key that only depends on the order of calls, so a replayed workflow takes the same path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import ROUTED_AGENT, Node
from bot.domain import AgentResult, AgentStatus, AgentTask, CheckOutcome, RunSpec
from bot.engine import patterns
from bot.engine.budget import BudgetExceeded
from bot.engine.patterns.base import Candidate, NodeResult
from bot.engine.race import race_step

if TYPE_CHECKING:
    from bot.engine.runs import RunEngine


class RunCancelled(Exception):
    pass


class RepoContext:
    def __init__(
        self,
        engine: RunEngine,
        spec: RunSpec,
        repo: str,
        branch: str,
        head: str,
        task: str,
        plan: str,
        key_prefix: str = "",
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.repo = repo
        self.branch = branch
        self.head = head
        self.task = task
        self.plan = plan
        self.key_prefix = key_prefix
        self._count = 0

    def _key(self, name: str) -> str:
        self._count += 1
        return f"{self.repo}/{self.key_prefix}{self._count:02d}-{name}"

    def invoke(
        self,
        agent: str,
        *,
        name: str,
        role: str = "implementer",
        feedback: str = "",
        transcript: list[str] | None = None,
    ) -> AgentResult:
        task = AgentTask(
            run_id=self.spec.run_id,
            repo=self.repo,
            step_key=self._key(name),
            prompt=self.task,
            plan=self.plan,
            feedback=feedback,
            role=role,
            transcript=transcript or [],
        )
        outcome = self.engine.agent_step(task, agent, self.branch, self.head, name)
        while outcome.run_budget_exceeded:
            # Work already done stays done: only this step waits for more budget, then runs.
            if not self.engine.await_budget(self.spec.run_id, self.repo, outcome.run_budget_exceeded):
                raise BudgetExceeded(outcome.run_budget_exceeded)
            task = task.model_copy(update={"step_key": self._key(name)})
            outcome = self.engine.agent_step(task, agent, self.branch, self.head, name)
        if outcome.result.status is AgentStatus.cancelled:
            raise RunCancelled()
        if outcome.result.ok and outcome.result.commit_sha:
            self.head = outcome.result.commit_sha
        return outcome.result

    def checks(self) -> CheckOutcome:
        return self.engine.checks_step(self.spec.run_id, self.repo, self.branch, self.head, self._key("checks"))

    def race(self, agents: list[str], *, names: list[str], feedback: str = "", checks: bool = True) -> list[Candidate]:
        tasks = [
            AgentTask(
                run_id=self.spec.run_id,
                repo=self.repo,
                step_key=self._key(name),
                prompt=self.task,
                plan=self.plan,
                feedback=feedback,
            )
            for name in names
        ]
        candidates = race_step(self.engine.deps, tasks, agents, names, self.branch, self.head, checks)
        if any(c.status is AgentStatus.cancelled for c in candidates):
            raise RunCancelled()
        return candidates

    def reset(self, sha: str) -> None:
        self.head = sha

    def say(self, speaker: str, text: str) -> None:
        self.engine.event_step(self.spec.run_id, "chat", {"repo": self.repo, "speaker": speaker, "text": text[:500]})

    def resolve(self, agent: str) -> list[str]:
        registry = self.engine.deps.agents
        if agent != ROUTED_AGENT:
            return [agent]
        trigger = self.spec.trigger
        routed = registry.route(self.repo, trigger.labels, trigger.reply_to.channel, self.spec.agent)
        return registry.chain(routed)

    def execute(self, node: Node, feedback: str = "") -> NodeResult:
        return patterns.execute(node, self, feedback)
