"""Checks that finish after the PRs were opened: `check_suite`, `check_run` and `status` webhooks,
and a polling fallback for runs still waiting on checks when no webhook came.

Either way the PR's combined checks are read again from GitHub (one webhook is one check; the
combined state is what counts), stored on the run's ChangeSet with a `checks` event when they
changed (`Store.save_checks`: once per outcome, whoever read it first, this or the approval gate),
and the run is nudged: a re-check of its approval gate (an approval already recorded then merges),
or a repair round for red checks when `approval.repair_on_failed_checks` allows one.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from bot.domain.models import Actor, ChangeSet, ChangeState, ChecksState, RunState, Source
from bot.domain.naming import run_of_branch
from bot.domain.ports import ForgeError
from bot.scm.github import GitHubForge
from bot.surfaces.github.surface import pr_key

if TYPE_CHECKING:
    from bot.engine.commands import RunCommands

log = structlog.get_logger(__name__)
CHECKS_ACTOR = Actor(source=Source.github, id="github-checks", display="failing checks")


class ChecksTracker:
    def __init__(self, runs: RunCommands, forge: GitHubForge) -> None:
        self.runs = runs
        self.forge = forge
        self._lock = threading.Lock()

    def changes_for(self, full: str, numbers: list[int], branches: list[str]) -> list[ChangeSet]:
        """The runs' PRs a checks event on `full` is about (by PR number, else by Baton's branch)."""
        cfg = self.runs.config.repo_for_github(full)
        if cfg is None:
            return []
        store = self.runs.store
        runs = {r for n in numbers if (r := store.run_for_link(pr_key(full, n)))}
        runs |= {r for b in branches if (r := run_of_branch(b)) and store.get_run(r) is not None}
        found = []
        for run_id in sorted(runs):
            for change in store.changes(run_id):
                if change.repo == cfg.name and (change.number in numbers or change.branch in branches):
                    found.append(change)
        return found

    def update(self, change: ChangeSet) -> ChecksState | None:
        """Read the PR's checks now; store, announce and act on them if they changed."""
        store = self.runs.store
        run = store.get_run(change.run_id)
        if run is None or run.state.terminal or change.state is not ChangeState.open:
            return None
        with self._lock:  # one reader per PR at a time: a burst of check_run events reads once each
            fresh = self.forge.refresh(change)
            outcome = self.forge.run_checks(fresh)
            current = next((c for c in store.changes(change.run_id) if c.repo == change.repo), change)
            updated = current.model_copy(
                update={"head_sha": outcome.sha, "checks": outcome.state, "checks_output": outcome.output_tail[-2000:]}
            )
            # None when the store knew this outcome already (the approval gate may have read it first).
            if store.save_checks(updated, source="github", warnings=outcome.warnings) is None:
                return None
        log.info("github.checks", run_id=change.run_id, repo=change.repo, state=outcome.state.value)
        self._nudge(run.run_id, outcome.state, updated)
        return outcome.state

    def _nudge(self, run_id: str, state: ChecksState, change: ChangeSet) -> None:
        if state is ChecksState.pending:
            return
        repairs = self.runs.config.approval.repair_on_failed_checks
        if state is ChecksState.failed and repairs > 0:
            output = f"Checks failed in {change.repo} ({change.url}):\n{change.checks_output}"
            result = self.runs.follow_up(run_id, CHECKS_ACTOR, output, repair=True)
            log.info("github.repair_requested", run_id=run_id, accepted=result.accepted, message=result.message)
            return
        self.runs.recheck(run_id)

    def on_event(self, full: str, numbers: list[int], branches: list[str]) -> int:
        updated = 0
        for change in self.changes_for(full, numbers, branches):
            try:
                updated += self.update(change) is not None
            except ForgeError as err:  # the poller reads it again later
                log.warning("github.checks_unread", run_id=change.run_id, repo=change.repo, error=str(err)[:300])
        return updated

    # -- the polling fallback, a scheduler job (`github.checks_poll_interval_s`) ----------------------
    def poll_once(self) -> int:
        """Re-read checks of every open GitHub PR of every run waiting for approval with checks not
        settled (webhooks lost, or never configured)."""
        names = {r.name for r in self.runs.config.repos if r.forge == "github"}
        updated = 0
        for run in self.runs.store.list_runs(limit=200, state=RunState.awaiting_approval):
            for change in self.runs.store.changes(run.run_id):
                unsettled = change.checks in (ChecksState.pending, ChecksState.unknown)
                if change.repo in names and change.state is ChangeState.open and unsettled:
                    try:
                        updated += self.update(change) is not None
                    except ForgeError as err:
                        log.warning("github.checks_unread", run_id=run.run_id, repo=change.repo, error=str(err)[:300])
        return updated

    def poll(self, _at: datetime) -> str:
        """One firing of the scheduler's `github-checks` job."""
        return f"{self.poll_once()} PR(s) updated"
