"""The GitHub events about a run's pull requests: a push to its branch (approvals void), a new base
(approvals void), a close without merging (the run is abandoned), a review asking for changes
(a follow-up round), and the check suites, check runs and statuses its approval gate reads.
"""

from __future__ import annotations

from typing import Any

import structlog

from bot.domain.models import ChecksState, Decision
from bot.surfaces.github.surface import pr_key
from handlers.commands import mention_text
from handlers.github import models as m
from handlers.github.base import ROUTER, GitHubEventsBase, Handled
from handlers.github.runs import actor

log = structlog.get_logger(__name__)


class PullRequestEvents(GitHubEventsBase):
    # -- pull requests and reviews ---------------------------------------------------------------------
    def _pr_event(self, delivery: str, payload: dict[str, Any]) -> tuple[m.PullRequestEvent, str | None]:
        """The event and its run, once per thing that happened (this head pushed, the PR closed at
        this time, this base), keyed by that and never by the delivery; None: not a run's PR, or seen."""
        ev = m.PullRequestEvent.model_validate(payload)
        full, pr = ev.repository.full_name, ev.pull_request
        run_id = self.runs.store.run_for_link(pr_key(full, pr.number))
        if run_id is None:
            return ev, None
        what = pr.head.sha if ev.action == "synchronize" else (pr.closed_at or delivery)
        if not self._first(f"github:{ev.action}:{full}#{pr.number}:{what}"):
            return ev, ""
        return ev, run_id

    @ROUTER.register("pull_request", action="synchronize", model=m.PullRequestEvent)
    def on_pushed(self, delivery: str, payload: dict[str, Any]) -> Handled:
        ev, run_id = self._pr_event(delivery, payload)
        if not run_id:
            return Handled(action="ignored" if run_id is None else "duplicate")
        return self._pushed(run_id, ev.repository.full_name, ev.pull_request, ev.sender)

    @ROUTER.register("pull_request", action="edited", model=m.PullRequestEvent)
    def on_edited(self, delivery: str, payload: dict[str, Any]) -> Handled:
        ev, run_id = self._pr_event(delivery, payload)
        if not run_id:
            return Handled(action="ignored" if run_id is None else "duplicate")
        return self._edited(run_id, ev.repository.full_name, ev.pull_request, ev.sender)

    @ROUTER.register("pull_request", action="closed", model=m.PullRequestEvent)
    def on_closed(self, delivery: str, payload: dict[str, Any]) -> Handled:
        ev, run_id = self._pr_event(delivery, payload)
        if not run_id:
            return Handled(action="ignored" if run_id is None else "duplicate")
        full, pr = ev.repository.full_name, ev.pull_request
        if pr.merged or pr.merged_at or not self._live(run_id) or self._from_bot(ev.sender, None):
            return Handled(action="ignored", run_id=run_id)
        reason = f"{full}#{pr.number} was closed without merging by @{ev.sender.login}"
        self.runs.store.append_event(run_id, "abandoned", {"repo": full, "number": pr.number, "reason": reason})
        self.runs.cancel(run_id, actor(ev.sender.login))
        return Handled(action="abandoned", run_id=run_id)

    def _pushed(self, run_id: str, full: str, pr: m.PullRequest, sender: m.User) -> Handled:
        store = self.runs.store
        cfg = self.runs.config.repo_for_github(full)
        change = next((c for c in store.changes(run_id) if cfg and c.repo == cfg.name), None)
        if change is None or change.head_sha == pr.head.sha:
            return Handled(action="ignored", run_id=run_id)
        store.save_change(change.model_copy(update={"head_sha": pr.head.sha, "checks": ChecksState.pending}))
        valid = [a for a in store.approvals(run_id) if a.valid and a.decision is Decision.approve]
        if valid and not self._from_bot(sender, None):
            store.invalidate_approvals(run_id)
            reason = f"@{sender.login} pushed new commits to {full}#{pr.number} after the approval"
            store.append_event(
                run_id,
                "approval_invalidated",
                {"repo": change.repo, "reason": reason, "sha": pr.head.sha, "by": sender.login},
            )
            return Handled(action="approval_invalidated", run_id=run_id)
        store.append_event(run_id, "head_moved", {"repo": change.repo, "sha": pr.head.sha, "by": sender.login})
        return Handled(action="head_moved", run_id=run_id)

    def _edited(self, run_id: str, full: str, pr: m.PullRequest, sender: m.User) -> Handled:
        """A PR of the run now targets another branch: approvals bind the base too, so they void."""
        cfg = self.runs.config.repo_for_github(full)
        kind = self.runs.base_changed(run_id, cfg.name, pr.base.ref, sender.login) if cfg else None
        return Handled(action=kind or "ignored", run_id=run_id)

    @ROUTER.register("pull_request_review", action="submitted", model=m.ReviewEvent)
    def on_review(self, delivery: str, payload: dict[str, Any]) -> Handled:
        ev = m.ReviewEvent.model_validate(payload)
        full, review = ev.repository.full_name, ev.review
        run_id = self.runs.store.run_for_link(pr_key(full, ev.pull_request.number))
        asked = mention_text(review.body or "", self.config.mention)
        if review.state.lower() != "changes_requested" or run_id is None or asked is None:
            return Handled(action="ignored")
        key = f"github:review:{review.id}"
        if self._from_bot(review.user, review.body) or not self._first(key):
            return Handled(action="ignored", run_id=run_id)
        self.github.follow_up(run_id, review.user.login, asked, full, ev.pull_request.number, key)
        return Handled(action="follow_up", run_id=run_id)

    # -- checks ----------------------------------------------------------------------------------------
    def _checks(self, delivery: str, full: str, numbers: list[int], branches: list[str]) -> Handled:
        if not self._first(f"github:{delivery}"):  # re-reading checks is harmless: the delivery will do
            return Handled(action="duplicate")
        updated = self.checks.on_event(full, numbers, branches)
        return Handled(action=f"checks updated on {updated} PR(s)")

    @ROUTER.register("check_suite", action="completed", model=m.CheckSuiteEvent)
    def on_check_suite(self, delivery: str, payload: dict[str, Any]) -> Handled:
        ev = m.CheckSuiteEvent.model_validate(payload)
        suite = ev.check_suite
        branches = [suite.head_branch] if suite.head_branch else []
        return self._checks(delivery, ev.repository.full_name, [p.number for p in suite.pull_requests], branches)

    @ROUTER.register("check_run", action="completed", model=m.CheckRunEvent)
    def on_check_run(self, delivery: str, payload: dict[str, Any]) -> Handled:
        ev = m.CheckRunEvent.model_validate(payload)
        run = ev.check_run
        branches = [run.check_suite.head_branch] if run.check_suite.head_branch else []
        return self._checks(delivery, ev.repository.full_name, [p.number for p in run.pull_requests], branches)

    @ROUTER.register("status", model=m.StatusEvent)
    def on_status(self, delivery: str, payload: dict[str, Any]) -> Handled:
        ev = m.StatusEvent.model_validate(payload)
        return self._checks(delivery, ev.repository.full_name, [], [b.name for b in ev.branches])
