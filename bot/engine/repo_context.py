"""The durable context patterns run in, for one repo of one run.

Every agent invocation and checks run goes through the run's durable steps (`RunSteps`) with a
step key that only depends on the order of calls, so a replayed workflow takes the same path.
"""

from __future__ import annotations

from bot.config.playbooks import ROUTED_AGENT, Node
from bot.domain.models import AgentResult, AgentStatus, AgentTask, CheckOutcome, Decision, RunSpec, RunState
from bot.engine import patterns
from bot.engine.budget import BudgetExceeded
from bot.engine.ids import BUDGET_TOPIC
from bot.engine.patterns.base import Candidate, NodeResult
from bot.engine.steps import RunCancelled, RunSteps


def await_budget(steps: RunSteps, run_id: str, repo: str, reason: str) -> bool:
    """The run's budget is spent: pause this repo's work and ask; True when it was raised."""
    steps.event_step(run_id, "budget_exceeded", {"repo": repo, "reason": reason})
    steps.state_step(run_id, RunState.working, waiting_for="budget")
    message = steps.recv(BUDGET_TOPIC, steps.remaining_step(run_id))
    if not message or message.get("decision") != Decision.extend_budget.value:
        return False
    steps.state_step(run_id, RunState.working)
    return True


class RepoContext:
    def __init__(
        self,
        steps: RunSteps,
        spec: RunSpec,
        repo: str,
        branch: str,
        head: str,
        task: str,
        plan: str,
        key_prefix: str = "",
    ) -> None:
        self.steps = steps
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
        outcome = self.steps.agent_step(task, agent, self.branch, self.head, name)
        while outcome.run_budget_exceeded:
            # Work already done stays done: only this step waits for more budget, then runs.
            if not await_budget(self.steps, self.spec.run_id, self.repo, outcome.run_budget_exceeded):
                raise BudgetExceeded(outcome.run_budget_exceeded)
            task = task.model_copy(update={"step_key": self._key(name)})
            outcome = self.steps.agent_step(task, agent, self.branch, self.head, name)
        if outcome.result.status is AgentStatus.cancelled:
            raise RunCancelled()
        if outcome.result.ok and outcome.result.commit_sha:
            self.head = outcome.result.commit_sha
        return outcome.result

    def checks(self) -> CheckOutcome:
        return self.steps.checks_step(self.spec.run_id, self.repo, self.branch, self.head, self._key("checks"))

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
        candidates = self.steps.race(tasks, agents, names, self.branch, self.head, checks)
        if any(c.status is AgentStatus.cancelled for c in candidates):
            raise RunCancelled()
        return candidates

    def reset(self, sha: str) -> None:
        self.head = sha

    def say(self, speaker: str, text: str) -> None:
        self.steps.event_step(self.spec.run_id, "chat", {"repo": self.repo, "speaker": speaker, "text": text[:500]})

    def resolve(self, agent: str) -> list[str]:
        if agent != ROUTED_AGENT:
            return [agent]
        return self.steps.route(self.repo, self.spec)

    def execute(self, node: Node, feedback: str = "") -> NodeResult:
        return patterns.execute(node, self, feedback)
