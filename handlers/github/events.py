"""One function per GitHub event Baton listens to, in the style of Probot's `app.on(...)`.

Each reads the payload through its model, decides what the delivery means, claims it under what
GitHub made — the comment, the label event, the review, the pushed head — never under the
`X-GitHub-Delivery` header, which the signature does not cover (a body sent again under a new
delivery id is answered 200 "duplicate" and does nothing more — except a trigger whose run was
never recorded, e.g. after a crash, which is tried again), then acts. A comment counts only once
GitHub confirms it as delivered (`github_verify.py`). Comments by bots, by Baton itself or carrying
Baton's markers never trigger anything; only newly created comments count.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, ValidationError

from bot.domain.models import ChecksState, Decision, RunState
from bot.domain.ports import ForgeError
from bot.services.github.client import GitHubApi
from bot.services.github.issues import is_baton_comment
from bot.store.intake import Stored
from bot.surfaces.github.surface import pr_key
from handlers.commands import mention_text, parse_commands
from handlers.github import models as m
from handlers.github import verify
from handlers.github.checks import ChecksTracker
from handlers.github.router import Router
from handlers.github.runs import GitHubRuns, actor, trigger_run_id
from handlers.http import WebhookError

if TYPE_CHECKING:
    from bot.engine.commands import RunCommands

log = structlog.get_logger(__name__)


class Handled(BaseModel):
    ok: bool = True
    action: str
    run_id: str | None = None


ROUTER = Router()
"""Every GitHub event Baton handles, registered on the handler that handles it."""
ROUTER.ignores("issue_comment", "ignored: only new comments count")
ROUTER.ignores("issues", "ignored: not Baton's label")


class GitHubEvents:
    def __init__(self, runs: RunCommands, api: GitHubApi, github: GitHubRuns, checks: ChecksTracker) -> None:
        self.runs = runs
        self.api = api
        self.github = github
        self.checks = checks
        self.config = runs.config.github
        # Keys being handled in this process now: a copy arriving while the first is still starting
        # the run is a duplicate, not a first copy whose run was lost in a crash.
        self._handling: Counter[str] = Counter()
        self._handling_lock = threading.Lock()
        self._claimed = threading.local()  # the keys this thread's current delivery claimed

    def check(self, event: str, payload: dict[str, Any]) -> Handled | None:
        """Before the answer: None when the delivery is to be stored and processed; the answer
        when Baton does not use it; a 400 when its payload is not of its event's shape."""
        if not ROUTER.knows(event):
            return Handled(action=f"ignored: Baton does not use {event} events")
        action = payload.get("action")
        if ROUTER.takes_actions(event) and not isinstance(action, str):
            raise WebhookError(400, f"malformed {event} payload: action missing")
        name = action if isinstance(action, str) else None
        if ROUTER.find(event, name) is None:
            return Handled(action=ROUTER.ignored(event))
        model = ROUTER.model(event, name)
        try:
            if model is not None:
                model.model_validate(payload)
        except ValidationError as err:
            where = ".".join(str(p) for p in err.errors()[0]["loc"])
            raise WebhookError(400, f"malformed {event} payload: {where or 'body'} {err.errors()[0]['msg']}") from None
        return None

    def process(self, stored: Stored) -> dict[str, Any]:
        """A stored delivery, after its answer (the intake drain calls this)."""
        payload = json.loads(stored.body)
        handled = self.handle(stored.kind, stored.delivery, payload)
        return handled.model_dump()

    def handle(self, event: str, delivery: str, payload: dict[str, Any]) -> Handled:
        if not ROUTER.knows(event):
            return Handled(action=f"ignored: Baton does not use {event} events")
        action = payload.get("action")
        if ROUTER.takes_actions(event) and not isinstance(action, str):
            raise WebhookError(400, f"malformed {event} payload: action missing")
        handler = ROUTER.find(event, action if isinstance(action, str) else None)
        if handler is None:
            return Handled(action=ROUTER.ignored(event))
        self._claimed.keys = []
        try:
            result: Handled = handler(self, delivery, payload)
            return result
        except ValidationError as err:
            where = ".".join(str(p) for p in err.errors()[0]["loc"])
            raise WebhookError(400, f"malformed {event} payload: {where or 'body'} {err.errors()[0]['msg']}") from None
        finally:
            with self._handling_lock:
                for key in self._claimed.keys:
                    self._handling[key] -= 1
                    if not self._handling[key]:
                        del self._handling[key]

    # -- helpers ------------------------------------------------------------------------------------
    def _first(self, key: str, starts_run: str | None = None) -> bool:
        """Claim `key`; False when it was handled before (a trigger whose run was never recorded
        counts as new, so a crash between claim and run does not lose the request)."""
        with self._handling_lock:
            self._handling[key] += 1
            self._claimed.keys.append(key)
        claimed = self.runs.store.claim_delivery(key, starts_run)
        if claimed is None:
            return True
        with self._handling_lock:
            if self._handling[key] > 1:  # its first copy is being handled right now
                return False
        return bool(starts_run) and claimed == starts_run and self.runs.store.get_run(starts_run) is None

    def _keep_days(self) -> float:
        return self.runs.config.retention.deliveries_days

    def _bot_login(self) -> str | None:
        try:
            return self.api.bot_login()
        except ForgeError as err:
            log.warning("github.bot_login_unknown", error=str(err)[:200])
            return self.config.bot_login

    def _from_bot(self, sender: m.User, body: str | None) -> bool:
        if sender.type == "Bot" or is_baton_comment(body or ""):
            return True
        own = self._bot_login()
        return own is not None and sender.login.lower() == own.lower()

    def _live(self, run_id: str | None) -> bool:
        run = self.runs.store.get_run(run_id) if run_id else None
        return run is not None and not run.state.terminal

    # -- issues and comments ------------------------------------------------------------------------
    @ROUTER.register("issue_comment", action="created", model=m.IssueCommentEvent)
    def on_comment(self, delivery: str, payload: dict[str, Any]) -> Handled:
        ev = m.IssueCommentEvent.model_validate(payload)
        text = ev.comment.body or ""
        if self._from_bot(ev.sender, text):
            return Handled(action="ignored: written by a bot")
        commands = parse_commands(text)
        mention = mention_text(text, self.config.mention)
        if not commands and mention is None:
            return Handled(action="ignored: not addressed to Baton")
        full, number, login = ev.repository.full_name, ev.issue.number, ev.sender.login
        confirmed = verify.comment(self.github.issues, full, ev, self._keep_days())
        if confirmed.problem is not None:
            log.info("github.comment_ignored", repo=full, comment=ev.comment.id, reason=confirmed.problem)
            return Handled(action=f"ignored: {confirmed.problem}")
        key = confirmed.key
        on_pull = ev.issue.pull_request is not None
        pr_run = self.runs.store.run_for_link(pr_key(full, number)) if on_pull else None
        run_id = pr_run or self.github.run_for_issue(full, number)
        run_command = next((c for c in commands if c.name == "run"), None)
        others = [c for c in commands if c.name != "run"]
        if others:
            if not self._first(key):
                return Handled(action="duplicate", run_id=run_id)
            self.github.react(full, ev.comment.id)
            if run_id is None:
                self.github.reply(full, number, "No Baton run belongs to this conversation yet.", key)
                return Handled(action="no run")
            for i, command in enumerate(others):
                where = (full, number, f"{key}-{i}")
                self.github.command(command.name, command.args, run_id, login, where, written_at=confirmed.created_at)
            return Handled(action=",".join(c.name for c in others), run_id=run_id)
        follow_up = run_command is None and (pr_run is not None or self._awaiting(run_id))
        if follow_up and run_id is not None:
            if not self._first(key):
                return Handled(action="duplicate", run_id=run_id)
            self.github.react(full, ev.comment.id)
            self.github.follow_up(run_id, login, mention or "", full, number, key)
            return Handled(action="follow_up", run_id=run_id)
        instruction = run_command.args if run_command else (mention or "")
        return self._start(key, delivery, ev.repository, ev.issue, login, instruction, ev.comment.id, trusted=True)

    def _awaiting(self, run_id: str | None) -> bool:
        run = self.runs.store.get_run(run_id) if run_id else None
        return run is not None and run.state in (RunState.awaiting_approval, RunState.working)

    @ROUTER.register("issues", action="labeled", model=m.IssuesEvent)
    def on_labeled(self, delivery: str, payload: dict[str, Any]) -> Handled:
        ev = m.IssuesEvent.model_validate(payload)
        if ev.label is None or ev.label.name.lower() != self.config.label.lower():
            return Handled(action="ignored: not Baton's label")
        issue, full = ev.issue, ev.repository.full_name
        keep = self._keep_days()
        confirmed = verify.label(self.github.issues, full, issue.number, ev.label.name, ev.sender.login, keep)
        if confirmed.problem is not None:
            log.info("github.label_ignored", repo=full, issue=issue.number, reason=confirmed.problem)
            return Handled(action=f"ignored: {confirmed.problem}")
        # A label carries no words: the issue's text is context, never the request's options.
        return self._start(confirmed.key, delivery, ev.repository, issue, ev.sender.login, "", None, trusted=False)

    def _start(
        self,
        key: str,
        delivery: str,
        repository: m.Repository,
        issue: m.Issue,
        login: str,
        instruction: str,
        comment_id: int | None,
        trusted: bool,
    ) -> Handled:
        run_id = trigger_run_id(key)
        if not self._first(key, starts_run=run_id):
            return Handled(action="duplicate", run_id=run_id)
        full = repository.full_name
        self.github.react(full, comment_id)  # 👀 at once, before anything slower
        started = self.github.start(
            full=full,
            number=issue.number,
            login=login,
            instruction=instruction,
            context=(issue.title, issue.body or ""),
            delivery=delivery,
            key=key,
            comment_id=comment_id,
            labels=[label.name for label in issue.labels],
            trusted_options=trusted,
        )
        return Handled(action="started" if started else "refused", run_id=started)

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
