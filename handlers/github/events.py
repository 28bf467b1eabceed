"""One function per GitHub event Baton listens to, in the style of Probot's `app.on(...)`.

Each reads the payload through its model, decides what the delivery means, claims it under what
GitHub made — the comment, the label event, the review, the pushed head — never under the
`X-GitHub-Delivery` header, which the signature does not cover (a body sent again under a new
delivery id is answered 200 "duplicate" and does nothing more — except a trigger whose run was
never recorded, e.g. after a crash, which is tried again), then acts. A comment counts only once
GitHub confirms it as delivered (`github_verify.py`). Comments by bots, by Baton itself or carrying
Baton's markers never trigger anything; only newly created comments count.

This module: the entry points (`check`, `handle`, `process`) and issues and comments; a run's pull
requests, reviews and checks are pulls.py; the router and shared helpers base.py.
"""

from __future__ import annotations

import json
from typing import Any

import structlog
from pydantic import ValidationError

from bot.domain.models import RunState
from bot.store.intake import Stored
from bot.surfaces.github.surface import pr_key
from handlers.commands import mention_text, parse_commands
from handlers.github import models as m
from handlers.github import verify
from handlers.github.base import ROUTER, Handled
from handlers.github.pulls import PullRequestEvents
from handlers.github.runs import trigger_run_id
from handlers.http import WebhookError

log = structlog.get_logger(__name__)


class GitHubEvents(PullRequestEvents):
    """Every GitHub event Baton handles, dispatched through `ROUTER`."""

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
