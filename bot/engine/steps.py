"""The durable steps a run's workflow is made of, as a protocol the workflow logic is written against.

`workflow.py`, `approval_loop.py` and `repo_context.py` decide *what* happens in a run (plan, waves,
approval, rounds, merge train); every effect they cause goes through a `RunSteps`. The DBOS shell
(`runs.RunEngine`) implements it with checkpointed steps, child workflows and `recv`; the fast test
tier implements it in memory. Nothing here imports DBOS, so the logic can be read — and tested —
without a database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from bot.config.models import BatonFile
from bot.domain.models import AgentTask, ChangeSet, CheckOutcome, RunSpec, RunState
from bot.engine.approvals import GateVerdict
from bot.engine.campaign_plan import CampaignState
from bot.engine.integration_gate import IntegrationOutcome
from bot.engine.merge_train import MergeOutcome, Preflight
from bot.engine.messages import LoopState, RepoOutcome, StepOutcome, Taken
from bot.engine.patterns.base import Candidate
from bot.engine.patterns.concurrent import Handle
from bot.engine.patterns.manager import Plan, SubTask

if TYPE_CHECKING:
    from bot.engine.revert import RevertItem


class RunCancelled(Exception):
    """The run was cancelled while one of its repos was working: that repo's work stops."""


class RunSteps(Protocol):
    """Every effect of a run's workflow, each durable (replayed, never repeated, after a crash)."""

    @property
    def config(self) -> BatonFile:
        """The team's configuration (playbooks, approval policy, concurrency)."""
        ...

    # -- the run's record ------------------------------------------------------------------------
    def load_spec(self, run_id: str) -> RunSpec: ...

    def state_step(
        self, run_id: str, state: RunState, error: str | None = None, waiting_for: str | None = None
    ) -> None: ...

    def event_step(self, run_id: str, kind: str, data: dict[str, Any]) -> None: ...

    def plan_step(self, spec: RunSpec, attempt: int) -> Plan | str:
        """The run's plan, or why it cannot be planned."""
        ...

    # -- waiting for people ----------------------------------------------------------------------
    def take_step(self, run_id: str, attempt: int, loop: LoopState) -> Taken:
        """The run's next message, or park the run (or record that it blocks)."""
        ...

    def loop_step(self, run_id: str, attempt: int) -> LoopState:
        """Where a parked run's approval loop stood (a continuation goes on from there)."""
        ...

    def remaining_step(self, run_id: str) -> float:
        """Seconds left in the run's approval window."""
        ...

    def recv(self, topic: str, timeout_s: float) -> dict[str, Any] | None:
        """Block until a message on `topic` comes (None at the timeout)."""
        ...

    def expire_step(self, run_id: str) -> str: ...

    # -- repos -----------------------------------------------------------------------------------
    def start_repo(
        self, run_id: str, attempt: int, order: list[str], plan: Plan, task: SubTask, retry: int = 0
    ) -> Handle[Any]:
        """Start one repo's work of the run (a child workflow on the repo queue); `retry`: how many
        times a campaign's `retry` started it over (each try is its own child workflow)."""
        ...

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
    ) -> Handle[Any]:
        """Start one repo's part of a follow-up, repair or rebase round."""
        ...

    def merge_base_step(self, run_id: str, repo: str, branch: str, head: str) -> tuple[str, list[str]]:
        """Merge the repo's moved default branch into `branch` at `head` in the workspace, as a commit
        (conflicted files committed with their markers, for the agent to resolve): (new head, the
        conflicted files)."""
        ...

    def unresolved_step(self, run_id: str, repo: str, branch: str, head: str, files: list[str]) -> list[str]:
        """Which of `files` still hold conflict markers at `head`."""
        ...

    def wait_first(self, handles: list[Handle[Any]]) -> Handle[Any]:
        """The first of `handles` to finish."""
        ...

    def finished_repo_step(self, run_id: str, repo: str) -> RepoOutcome | None: ...

    def remember_repo_step(self, run_id: str, outcome: RepoOutcome) -> None: ...

    def prepare_step(self, run_id: str, repo: str, branch: str) -> tuple[str, str]:
        """(base SHA, head SHA) of the repo's workspace on `branch`."""
        ...

    def agent_step(self, task: AgentTask, agent: str, branch: str, head: str, name: str) -> StepOutcome:
        """Run one agent from `head`; on success its result carries the commit it made."""
        ...

    def checks_step(self, run_id: str, repo: str, branch: str, head: str, key: str) -> CheckOutcome: ...

    def race(
        self, tasks: list[AgentTask], agents: list[str], names: list[str], branch: str, head: str, checks: bool
    ) -> list[Candidate]:
        """Concurrent best-of candidates from `head`, each in its own worktree."""
        ...

    def route(self, repo: str, spec: RunSpec) -> list[str]:
        """The routed agent for `repo` and its fallback chain."""
        ...

    def push_step(self, run_id: str, repo: str, branch: str, head: str) -> str: ...

    def open_change_step(self, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet: ...

    def change_checks_step(self, change: ChangeSet) -> ChangeSet: ...

    # -- approval and merging ----------------------------------------------------------------------
    def current_changes_step(self, run_id: str) -> list[ChangeSet]: ...

    def invalidate_step(self, run_id: str, reason: str) -> None: ...

    def gate(self, run_id: str) -> GateVerdict: ...

    def preflight(self, run_id: str, gate: GateVerdict, attempt: int, repos: list[str] | None = None) -> Preflight:
        """Every PR (of `repos`, when given) read again before the first merge: open, not a
        person's draft, mergeable, green, at the approved head and base."""
        ...

    def wave_gate(self, run_id: str, repos: list[str]) -> GateVerdict:
        """`repos`' PRs refreshed from the forge (stale approvals void); `head_shas` holds each PR
        an approval binds at its current head and base (a campaign approves wave by wave)."""
        ...

    def close_change_step(self, run_id: str, repo: str) -> ChangeSet:
        """Close the run's PR in `repo` unmerged (a campaign's `close`/`skip` with `on_close: close`)."""
        ...

    def campaign_step(self, run_id: str, state: CampaignState, summary: dict[str, Any]) -> None:
        """Keep a campaign's per-repo progress (the dashboard's table) and announce its burndown."""
        ...

    def rebase_step(self, run_id: str, attempt: int) -> list[str]:
        """The repos whose PRs conflicted at the last attempt's pre-flight (a rebase round first)."""
        ...

    def merge_change(self, run_id: str, repo: str, expected_sha: str) -> MergeOutcome: ...

    def integration_step(self, run_id: str, stage: str, key: str) -> IntegrationOutcome | None:
        """The playbook's `integration_checks` over the change set at its PRs' heads (None: none set)."""
        ...

    # -- reverting a merged run (a revert run, bot/engine/revert.py) --------------------------------
    def revert_plan_step(self, spec: RunSpec) -> list[RevertItem] | str:
        """The merged PRs of `spec.reverts` to revert, in reverse merge order; or why none."""
        ...

    def revert_commit_step(self, run_id: str, repo: str, branch: str, sha: str) -> str:
        """The revert branch of `repo` with the merged commit `sha` undone; its head."""
        ...

    def merge_changes(self, run_id: str, heads: dict[str, str]) -> dict[str, MergeOutcome]:
        """Merge PRs that do not depend on one another at once (repo → approved SHA)."""
        ...
