"""An in-memory `RunSteps`: the run's workflow logic (waves, approval loop, rounds, merge train)
driven without DBOS, a database, git or agents.

Repos' work runs synchronously inside `start_repo`/`start_round_repo` through the real
`workflow.repo_work` / `approval_loop.round_work`; the agent, the checks and the forge are scripted
per repo. The gate is the real policy (`bot.engine.approvals.evaluate`) over the approvals recorded here.
A run parks when it finds no message, exactly as under `baton serve`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.config.models import BatonFile
from bot.domain.models import (
    Actor,
    AgentResult,
    AgentStatus,
    AgentTask,
    ChangeSet,
    ChangeState,
    CheckOutcome,
    ChecksState,
    Decision,
    ReplyTo,
    RunSpec,
    RunState,
    Source,
    Trigger,
    Usage,
    utcnow,
)
from bot.domain.records import Approval
from bot.engine import approval_loop, workflow
from bot.engine.approvals import GateVerdict, evaluate
from bot.engine.campaign_plan import CampaignState, approved_repos
from bot.engine.ids import BUDGET_TOPIC
from bot.engine.integration_gate import IntegrationOutcome
from bot.engine.merge_train import MergeOutcome, Preflight, train_report
from bot.engine.messages import FOLLOW_UP, LoopState, RepoOutcome, StepOutcome, Taken
from bot.engine.patterns.base import Candidate
from bot.engine.patterns.manager import Plan, SubTask, default_plan
from bot.engine.revert import RevertItem

REQUESTER = Actor(source=Source.slack, id="U-requester", display="requester")
REVIEWER = Actor(source=Source.cli, id="ops", display="ops")

Agent = Callable[[AgentTask, str], AgentResult]


def changes_file(agent: str = "fake") -> Agent:
    """An agent that always succeeds with a one-line change."""

    def run(task: AgentTask, head: str) -> AgentResult:
        return AgentResult(status=AgentStatus.succeeded, summary=f"{agent} changed {task.repo}", files_changed=["x"])

    return run


@dataclass
class Done:
    """A finished child workflow (`fan_out`'s handle); collecting its result frees a slot."""

    result: RepoOutcome
    steps: FakeSteps

    def get_result(self) -> RepoOutcome:
        self.steps.in_flight -= 1
        return self.result


@dataclass
class FakeSteps:
    config: BatonFile
    spec: RunSpec
    agent: Agent = field(default_factory=changes_file)
    red: set[str] = field(default_factory=set)
    """Repos whose PR checks fail (until a round's commit changes them, when `fixed_by_round`)."""
    fixed_by_round: bool = True
    red_workspace: set[str] = field(default_factory=set)
    """Repos whose checks fail in the workspace (the verify loop sees them)."""
    conflicts: set[str] = field(default_factory=set)
    """Repos whose PR no longer merges cleanly (pre-flight sees it; a rebase round fixes it)."""
    refused_push: set[str] = field(default_factory=set)
    """Repos whose remote refuses the merge itself (pre-flight cannot see it)."""
    moves_before_merge: set[str] = field(default_factory=set)
    """Repos someone pushes to between approval and merge (once)."""
    integration: bool = False
    """Whether the playbook has `integration_checks`."""
    integration_red: set[str] = field(default_factory=set)
    """Stages ("approval", "merge") at which the integration checks fail."""
    integration_runs: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    """Every integration check, in order: (stage, the heads it checked)."""
    merged_before: list[tuple[str, str]] = field(default_factory=list)
    """For a revert run: (repo, merge commit) of the reverted run, in the order they merged."""
    inbox: deque[dict[str, Any]] = field(default_factory=deque)
    budget_messages: deque[dict[str, Any]] = field(default_factory=deque)
    park: bool = True

    states: list[tuple[RunState, str | None, str | None]] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    """Repo work started, in order (`repo` or `repo#round`)."""
    agent_calls: list[tuple[str, str]] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    merge_layers: list[list[str]] = field(default_factory=list)
    """The repos each `merge_changes` merged at once."""
    most_open: int = 0
    """The most PRs open (unmerged, unclosed) at once, counted as each opens."""
    changes: dict[str, ChangeSet] = field(default_factory=dict)
    approvals: list[Approval] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    parked_loop: LoopState | None = None
    heads: dict[str, str] = field(default_factory=dict)
    bodies: dict[str, str] = field(default_factory=dict)
    """Each repo's PR body as the run wrote it."""
    in_flight: int = 0
    most_in_flight: int = 0
    _commits: int = 0

    # -- what tests do --------------------------------------------------------------------------
    def approve(self, actor: Actor = REVIEWER) -> None:
        """A person approves the PRs at their current heads (as ApprovalService records it)."""
        heads = {c.repo: c.head_sha for c in self.changes.values()}
        self.approvals.append(
            Approval(run_id=self.spec.run_id, actor=actor, decision=Decision.approve, head_shas=heads)
        )
        self.inbox.append({"decision": Decision.approve.value, "actor": actor.key})

    def say(self, decision: str, **data: Any) -> None:
        self.inbox.append({"decision": decision, **data})

    def follow_up(self, instruction: str) -> None:
        self.say(FOLLOW_UP, instruction=instruction, actor=REQUESTER.key)

    def event_kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]

    @property
    def state(self) -> RunState:
        return self.states[-1][0]

    # -- RunSteps ---------------------------------------------------------------------------------
    def load_spec(self, run_id: str) -> RunSpec:
        return self.spec

    def state_step(
        self, run_id: str, state: RunState, error: str | None = None, waiting_for: str | None = None
    ) -> None:
        self.states.append((state, error, waiting_for))

    def event_step(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, data))

    def plan_step(self, spec: RunSpec, attempt: int) -> Plan | str:
        return default_plan(spec.trigger.request, spec.repos, self.config)

    def take_step(self, run_id: str, attempt: int, loop: LoopState) -> Taken:
        if self.inbox:
            return Taken(message=self.inbox.popleft())
        self.parked_loop = loop.model_copy(deep=True)
        return Taken(parked=self.park)

    def loop_step(self, run_id: str, attempt: int) -> LoopState:
        assert self.parked_loop is not None, "only a parked run continues"
        return self.parked_loop

    def remaining_step(self, run_id: str) -> float:
        return 3600.0

    def recv(self, topic: str, timeout_s: float) -> dict[str, Any] | None:
        if topic == BUDGET_TOPIC:  # sent to the waiting repo directly
            return self.budget_messages.popleft() if self.budget_messages else None
        # A decision wakes the wait; the run then takes it from its inbox (take_step).
        return dict(self.inbox[0]) if self.inbox else None

    def expire_step(self, run_id: str) -> str:
        self.states.append((RunState.expired, "the approval window closed", None))
        return RunState.expired.value

    def start_repo(
        self, run_id: str, attempt: int, order: list[str], plan: Plan, task: SubTask, retry: int = 0
    ) -> Done:
        self._enter(task.repo)
        return Done(workflow.repo_work(self, run_id, task, order.index(task.repo), plan.summary), self)

    def start_round_repo(
        self,
        run_id: str,
        attempt: int,
        number: int,
        instruction: str,
        repair: bool,
        change: ChangeSet,
        *,
        rebase: bool = False,
    ) -> Done:
        self._enter(f"{change.repo}#{number}")
        return Done(approval_loop.round_work(self, run_id, change, number, instruction, repair, rebase), self)

    def merge_base_step(self, run_id: str, repo: str, branch: str, head: str) -> tuple[str, list[str]]:
        self.conflicts.discard(repo)  # the base merged in; the agent resolves what conflicted
        self.events.append(("base_merged", {"repo": repo}))
        return f"{head}-merged", []

    def unresolved_step(self, run_id: str, repo: str, branch: str, head: str, files: list[str]) -> list[str]:
        return []

    def revert_plan_step(self, spec: RunSpec) -> list[RevertItem] | str:
        if not self.merged_before:
            return f"run {spec.reverts} recorded no merged PR to revert"
        merged = list(reversed(self.merged_before))
        return [RevertItem(repo=r, sha=sha, number=i + 1, order=i) for i, (r, sha) in enumerate(merged)]

    def revert_commit_step(self, run_id: str, repo: str, branch: str, sha: str) -> str:
        self._enter(f"revert {repo}")
        self.heads[repo] = f"{repo}-reverts-{sha}"
        return self.heads[repo]

    def integration_step(self, run_id: str, stage: str, key: str) -> IntegrationOutcome | None:
        if not self.integration:
            return None
        heads = {c.repo: c.head_sha for c in self.changes.values()}
        self.integration_runs.append((stage, heads))
        self.events.append(("integration_checks", {"stage": stage}))
        return IntegrationOutcome(passed=stage not in self.integration_red, heads=heads, stage=stage)

    def wait_first(self, handles: list[Any]) -> Any:
        return handles[0]

    def finished_repo_step(self, run_id: str, repo: str) -> RepoOutcome | None:
        fact = self.facts.get(f"repo:{repo}")
        return RepoOutcome.model_validate(fact) if fact else None

    def remember_repo_step(self, run_id: str, outcome: RepoOutcome) -> None:
        self.facts[f"repo:{outcome.repo}"] = outcome.model_dump(mode="json")

    def prepare_step(self, run_id: str, repo: str, branch: str) -> tuple[str, str]:
        return f"{repo}-base", self.heads.get(repo, f"{repo}-base")

    def agent_step(self, task: AgentTask, agent: str, branch: str, head: str, name: str) -> StepOutcome:
        self.agent_calls.append((task.repo, agent))
        result = self.agent(task, agent)
        if result.ok and result.commit_sha is None:
            self._commits += 1
            result = result.model_copy(update={"commit_sha": f"{task.repo}-c{self._commits}"})
        return StepOutcome(result=result.model_copy(update={"usage": Usage(agent_steps=1)}))

    def checks_step(self, run_id: str, repo: str, branch: str, head: str, key: str) -> CheckOutcome:
        return CheckOutcome(passed=repo not in self.red_workspace, output_tail=f"{repo} failed", sha=head)

    def race(
        self, tasks: list[AgentTask], agents: list[str], names: list[str], branch: str, head: str, checks: bool
    ) -> list[Candidate]:
        raise NotImplementedError("the fast tier's patterns use their own PatternContext fake")

    def route(self, repo: str, spec: RunSpec) -> list[str]:
        return [spec.agent or "fake"]

    def push_step(self, run_id: str, repo: str, branch: str, head: str) -> str:
        self.heads[repo] = head
        if repo in self.changes:
            self.changes[repo] = self.changes[repo].model_copy(update={"head_sha": head})
        return head

    def open_change_step(self, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet:
        change = ChangeSet(
            run_id=run_id, repo=repo, branch=branch, base="main", number=len(self.changes) + 1,
            url=f"local://{repo}/pull/1", head_sha=self.heads[repo], order=order,
        )  # fmt: skip
        self.changes[repo] = change
        self.bodies[repo] = body
        self.events.append(("pr_opened", {"repo": repo}))
        self.most_open = max(self.most_open, sum(c.state is ChangeState.open for c in self.changes.values()))
        return change

    def change_checks_step(self, change: ChangeSet) -> ChangeSet:
        current = self.changes[change.repo]
        if self.fixed_by_round and current.head_sha != change.head_sha:
            self.red.discard(change.repo)  # a round's new commit fixed it
        checks = ChecksState.failed if change.repo in self.red else ChecksState.passed
        output = f"{change.repo}: 1 test failed" if change.repo in self.red else ""
        updated = current.model_copy(update={"checks": checks, "checks_output": output})
        self.changes[change.repo] = updated
        return updated

    def current_changes_step(self, run_id: str) -> list[ChangeSet]:
        return sorted(self.changes.values(), key=lambda c: c.order)

    def invalidate_step(self, run_id: str, reason: str) -> None:
        if any(a.valid for a in self.approvals):
            self.approvals = [a.model_copy(update={"valid": False}) for a in self.approvals]
            self.events.append(("approval_invalidated", {"reason": reason}))

    def gate(self, run_id: str) -> GateVerdict:
        changes = list(self.changes.values())
        return evaluate(self.config.approval, changes, self.approvals, utcnow(), utcnow())

    def wave_gate(self, run_id: str, repos: list[str]) -> GateVerdict:
        changes = [c for c in self.changes.values() if c.repo in repos]
        return approved_repos(self.config.approval, changes, self.approvals, utcnow(), utcnow())

    def close_change_step(self, run_id: str, repo: str) -> ChangeSet:
        self.closed.append(repo)
        self.changes[repo] = self.changes[repo].model_copy(update={"state": ChangeState.closed})
        return self.changes[repo]

    def campaign_step(self, run_id: str, state: CampaignState, summary: dict[str, Any]) -> None:
        self.facts["campaign"] = state.model_dump(mode="json")
        self.events.append(("campaign_progress", summary))

    def preflight(self, run_id: str, gate: GateVerdict, attempt: int, repos: list[str] | None = None) -> Preflight:
        open_prs = [c for c in self.changes.values() if c.state is ChangeState.open]
        open_prs = [c for c in open_prs if repos is None or c.repo in repos]
        conflicting = sorted(c.repo for c in open_prs if c.repo in self.conflicts)
        if not conflicting:
            return Preflight(ok=True)
        self.facts["rebase"] = {"attempt": attempt, "repos": conflicting}
        return Preflight(
            ok=False,
            report="Nothing was merged: " + "; ".join(f"{r}: merge conflict with main" for r in conflicting),
            conflicts=conflicting,
        )

    def rebase_step(self, run_id: str, attempt: int) -> list[str]:
        fact = self.facts.get("rebase") or {}
        if not fact.get("repos") or fact["attempt"] >= attempt:
            return []
        self.facts["rebase"] = {"attempt": attempt, "repos": []}
        self.conflicts -= set(fact["repos"])  # the agent merges the base in
        return list(fact["repos"])

    def merge_changes(self, run_id: str, heads: dict[str, str]) -> dict[str, MergeOutcome]:
        self.merge_layers.append(sorted(heads))
        return {repo: self.merge_change(run_id, repo, sha) for repo, sha in heads.items()}

    def merge_change(self, run_id: str, repo: str, expected_sha: str) -> MergeOutcome:
        change = self.changes[repo]
        if change.state is ChangeState.merged:
            return MergeOutcome(ok=True)  # merged before the train stopped: never twice
        if repo in self.moves_before_merge:
            self.moves_before_merge.discard(repo)
            self.changes[repo] = change.model_copy(update={"head_sha": change.head_sha + "-pushed"})
            self.invalidate_step(run_id, "a PR was pushed to after the approval")
            return MergeOutcome(ok=False, moved=True, report=f"{repo} moved since approval")
        if repo in self.refused_push:
            report = train_report(list(self.changes.values()), repo, "the remote refused the push")
            return MergeOutcome(ok=False, report=report)
        self.merged.append(repo)
        self.changes[repo] = change.model_copy(update={"state": ChangeState.merged, "merge_sha": f"m-{repo}"})
        return MergeOutcome(ok=True)

    # -- internals --------------------------------------------------------------------------------
    def _enter(self, label: str) -> None:
        self.started.append(label)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)


def spec_for(repos: list[str], request: str = "Rename /v1/items to /v1/products", **extra: Any) -> RunSpec:
    trigger = Trigger(
        source=Source.slack,
        actor=REQUESTER,
        request=request,
        reply_to=ReplyTo(source=Source.slack, channel="C1", thread_ts="1.0"),
        delivery_id="d1",
    )
    return RunSpec(run_id="run1", trigger=trigger, repos=repos, playbook="default", **extra)


def config_for(repos: dict[str, list[str]], **sections: Any) -> BatonFile:
    """`repos`: name → the repos it depends on (its providers)."""
    data: dict[str, Any] = {
        "repos": [{"name": name, "url": f"/srv/{name}.git", "depends_on": deps} for name, deps in repos.items()],
        "agents": [{"name": "fake", "command": ["true"]}],
        "routing": {"default_agent": "fake"},
        **sections,
    }
    return BatonFile.model_validate(data)
