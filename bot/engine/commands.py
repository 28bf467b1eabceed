"""The run service as the edge, the clock and the CLI see it: a narrow interface (what people and
schedules do with runs) with the store people read and the team's configuration.

Callers type against `RunCommands`, never the concrete `service.RunService` (which knows DBOS), so
the edge depends on what it may do, not on how runs are executed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.config.models import BatonFile
from bot.domain.models import Actor, Budget, Decision, RunSpec
from bot.engine.approvals import DecisionResult
from bot.store.store import Store


class RunCommands(Protocol):
    @property
    def store(self) -> Store:
        """What people read: runs, events, PRs, approvals, links, the audit trail."""
        ...

    @property
    def config(self) -> BatonFile: ...

    def submit(self, spec: RunSpec, before_start: Callable[[str], None] | None = None) -> str:
        """Record and start a run; a second submit of the same spec joins the first."""
        ...

    def decide(
        self,
        run_id: str,
        actor: Actor,
        decision: Decision,
        reason: str = "",
        seen_shas: dict[str, str] | None = None,
        *,
        not_before: datetime | None = None,
        seen_digest: str | None = None,
    ) -> DecisionResult:
        """Approve, reject or cancel as `actor`, bound to the PRs' heads and bases."""
        ...

    def follow_up(self, run_id: str, actor: Actor, instruction: str, *, repair: bool = False) -> DecisionResult:
        """Another round of work on the run's own branches."""
        ...

    def recheck(self, run_id: str) -> None:
        """Something the approval gate reads changed: evaluate it again."""
        ...

    def expire(self, run_id: str) -> None: ...

    def cancel(self, run_id: str, actor: Actor) -> DecisionResult: ...

    def retry(self, run_id: str, actor: Actor) -> DecisionResult:
        """A failed run's next attempt; a campaign that is still going re-works only its failed repos."""
        ...

    def skip(self, run_id: str, actor: Actor, repo: str) -> DecisionResult:
        """Drop one repo from a campaign."""
        ...

    def close(self, run_id: str, actor: Actor) -> DecisionResult:
        """End a campaign; its open PRs are closed or left per `campaign.on_close`."""
        ...

    def extend_budget(self, run_id: str, actor: Actor, budget: Budget) -> DecisionResult: ...

    def revert(self, run_id: str, actor: Actor, before_start: Callable[[str], None] | None = None) -> DecisionResult:
        """On a merged run: a revert run opens revert PRs for the whole set, in reverse merge order,
        behind the same approval gate; refused for a run that did not merge. `before_start(revert
        run id)` as for `submit` (a surface's first post of the revert run)."""

    def drop_repo(self, run_id: str, actor: Actor, repo: str) -> DecisionResult:
        """Take a repo out of the plan awaiting approval (it then proceeds without it)."""
        ...

    def base_changed(self, run_id: str, repo: str, base: str, by: str) -> str | None:
        """A PR of the run now targets `base` (someone retargeted it): approvals void. The event
        recorded, or None when its base did not change."""
        ...

    def resume_claimed(self) -> int: ...

    def has_active_runs(self) -> bool: ...
