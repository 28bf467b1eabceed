"""The Linear surface: a run as Linear shows it — one status comment on the issue edited in place,
the run's PRs attached to the issue, the issue moved through the team's workflow, and (for runs
started from an agent session) the run's milestones as agent activities in that session.

Fed by the SurfaceHub, at least once and in order: every write is idempotent. The comment and the
activities get ids chosen here (UUIDv5 of the run), so a create repeated after a crash finds the
first one instead of making a second; attachments are unique per (issue, URL) in Linear; state
moves remember the last one made. Card edits are coalesced (state changes edit at once, the rest at
most once per `min_edit_interval_s`, and only when the text changed). After a rate limit the
surface stays quiet until Linear's reset instead of retrying on every tick.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import structlog
from pydantic import BaseModel

from bot.config.models import BatonFile
from bot.domain.models import ChangeSet, Source
from bot.domain.records import RunEvent, RunView
from bot.services.linear import documents as docs
from bot.services.linear.client import LinearClient, LinearError, LinearRateLimited
from bot.store.store import Store
from bot.surfaces.linear.card import reminder_text, render_card
from bot.surfaces.linear.session import Content, activity_for
from bot.surfaces.linear.states import Role, StateBook
from bot.surfaces.links import pr_href, review_page_url, run_page_url

log = structlog.get_logger(__name__)

TARGET_FACT = "linear"
CARD_FACT = "linear:card"
ATTACHED_FACT = "linear:attached"
STATE_FACT = "linear:state"
ACTIVITY_FACT = "linear:activities"
REMINDERS_FACT = "linear:reminders"
_IDS = uuid.UUID("6f1d2c7e-5b0a-4c58-9a43-0d1f3b8e2a71")
_GITHUB_PR = re.compile(r"^https://github\.com/[^/]+/[^/]+/pull/\d+$")
_IMMEDIATE = frozenset({"state", "pr_opened", "merged", "merge_failed", "decision", "approval_invalidated"})
_TRANSIENT = frozenset({"ratelimited", "network error", "internal error", "lock timeout"})
_GIVE_UP_AFTER = 3


class LinearTarget(BaseModel):
    """Where a run lives in Linear; written by the handler when it starts the run."""

    issue_id: str | None = None
    team_id: str | None = None
    identifier: str = ""
    session_id: str | None = None
    url: str = ""
    """The issue's page in Linear (the dashboard links to it)."""


def wants(view: RunView) -> bool:
    return view.run.spec.trigger.source is Source.linear


def stable_id(run_id: str, key: str) -> str:
    """The id Baton gives the Linear object `key` of a run (the same on every attempt)."""
    return str(uuid.uuid5(_IDS, f"{run_id}:{key}"))


class LinearSurface:
    def __init__(
        self,
        client: LinearClient,
        store: Store,
        config: BatonFile,
        public_url: str,
        *,
        min_edit_interval_s: float = 2.0,
        call_deadline_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.store = store
        self.config = config
        self.public_url = public_url
        self.min_edit_interval_s = min_edit_interval_s
        self.call_deadline_s = call_deadline_s
        self.clock = clock
        self.states = StateBook(client, config.linear.review_state)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._last_body: dict[str, str] = {}
        self._last_edit: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._failures: dict[tuple[str, int], int] = {}
        self._quiet_until = 0.0

    # -- the Surface port ----------------------------------------------------------------------------
    def publish(self, view: RunView, event: RunEvent) -> None:
        if self.clock() < self._quiet_until:
            raise LinearRateLimited("waiting for Linear's rate limit to reset")
        target = self.target(view.run.run_id)
        try:
            self._apply(view, event, target)
        except LinearRateLimited as err:
            self._quiet_until = self.clock() + (err.retry_after_s or 5.0)
            raise
        except LinearError as err:
            if err.kind in _TRANSIENT or not self._give_up(view.run.run_id, event.seq):
                raise
            log.warning("linear_event_skipped", run_id=view.run.run_id, seq=event.seq, kind=err.kind, error=str(err))

    def flush(self) -> None:
        now = self.clock()
        if now < self._quiet_until:
            return
        for run_id in sorted(self._dirty):
            if now - self._last_edit.get(run_id, 0.0) < self.min_edit_interval_s:
                continue
            view = self.store.view(run_id)
            target = self.target(run_id)
            if view is not None and target.issue_id:
                self.write_card(view, target.issue_id)
            self._dirty.discard(run_id)

    # -- what the webhook path calls -------------------------------------------------------------------
    def target(self, run_id: str) -> LinearTarget:
        fact = self.store.get_fact(run_id, TARGET_FACT)
        return LinearTarget.model_validate(fact) if fact else LinearTarget()

    def remember(self, run_id: str, target: LinearTarget) -> None:
        self.store.put_fact(run_id, TARGET_FACT, target.model_dump())

    def post_card(self, run_id: str) -> None:
        """The status comment, right away (before the run's work can start)."""
        view = self.store.view(run_id)
        target = self.target(run_id)
        if view is not None and target.issue_id:
            self.write_card(view, target.issue_id)

    def acknowledge(self, run_id: str, content: Content) -> None:
        """A session's first thought, from the webhook path (Linear wants it within 10 s)."""
        target = self.target(run_id)
        if target.session_id:
            self.post_activity(run_id, target.session_id, "ack", content)

    def link_session(self, run_id: str) -> None:
        """Point the session at the run's page (Linear shows it as the session's external link)."""
        target = self.target(run_id)
        if target.session_id:
            link = {"label": f"Baton run {run_id}", "url": run_page_url(self.public_url, run_id)}
            self._call(docs.SESSION_UPDATE, {"id": target.session_id, "input": {"externalUrls": [link]}})

    # -- the work ---------------------------------------------------------------------------------------
    def _apply(self, view: RunView, event: RunEvent, target: LinearTarget) -> None:
        run_id = view.run.run_id
        if target.issue_id:
            if event.kind in _IMMEDIATE or not (self.store.get_fact(run_id, CARD_FACT) or {}).get("created"):
                self.write_card(view, target.issue_id)
            else:
                self._dirty.add(run_id)
            self._attach(view, target.issue_id)
            self._move(view, event, target)
            if event.kind == "approval_reminder":
                self._remind(view, event, target.issue_id)
        if target.session_id:
            content = activity_for(view, event, review_page_url(self.public_url, run_id))
            if content is not None:
                self.post_activity(run_id, target.session_id, f"seq-{event.seq}", content)

    def write_card(self, view: RunView, issue_id: str) -> None:
        run_id = view.run.run_id
        body = render_card(view, run_page_url(self.public_url, run_id))
        with self._run_lock(run_id):
            fact = self.store.get_fact(run_id, CARD_FACT)
            comment_id = str(fact["id"]) if fact else stable_id(run_id, "card")
            if fact and fact.get("created"):
                if self._last_body.get(run_id) != body:
                    self._call(docs.COMMENT_UPDATE, {"id": comment_id, "input": {"body": body}})
            else:
                if fact:  # an earlier attempt may have created it before we could note so
                    try:
                        self._call(docs.COMMENT_UPDATE, {"id": comment_id, "input": {"body": body}})
                    except LinearError as err:
                        # Not there (whatever words Linear uses): create it. Had it been there for
                        # another reason, the create with the same id fails and says so.
                        if err.kind in _TRANSIENT:
                            raise
                        self._create_card(comment_id, issue_id, body)
                else:
                    self.store.put_fact(run_id, CARD_FACT, {"id": comment_id, "created": False})
                    self._create_card(comment_id, issue_id, body)
                self.store.put_fact(run_id, CARD_FACT, {"id": comment_id, "created": True})
            self._last_body[run_id] = body
            self._last_edit[run_id] = self.clock()
            self._dirty.discard(run_id)

    def _remind(self, view: RunView, event: RunEvent, issue_id: str) -> None:
        """An approval reminder as its own comment, once per event (its id is chosen here)."""
        run_id = view.run.run_id
        done = self.store.get_fact(run_id, REMINDERS_FACT) or {"seqs": []}
        if event.seq in done["seqs"]:
            return
        waited = float(event.data.get("waited_hours") or 0)
        body = reminder_text(view, waited, self.config.approval.approvers)
        self._create_card(stable_id(run_id, f"reminder-{event.seq}"), issue_id, body)
        self.store.put_fact(run_id, REMINDERS_FACT, {"seqs": [*done["seqs"], event.seq][-50:]})

    def _create_card(self, comment_id: str, issue_id: str, body: str) -> None:
        self._call(docs.COMMENT_CREATE, {"input": {"id": comment_id, "issueId": issue_id, "body": body}})

    def _attach(self, view: RunView, issue_id: str) -> None:
        run_id = view.run.run_id
        attached = list((self.store.get_fact(run_id, ATTACHED_FACT) or {}).get("urls", []))
        for change in view.changes:
            url = self.attachment_url(run_id, change)
            if url in attached:
                continue
            title = f"{change.repo}#{change.number} · Baton run {run_id}"
            document = docs.ATTACH_GITHUB_PR if self.is_github_pr(change) else docs.ATTACH_URL
            self._call(document, {"issueId": issue_id, "url": url, "title": title})
            attached.append(url)
            self.store.put_fact(run_id, ATTACHED_FACT, {"urls": attached})

    def is_github_pr(self, change: ChangeSet) -> bool:
        forge = next((r.forge for r in self.config.repos if r.name == change.repo), "local")
        return forge == "github" and bool(_GITHUB_PR.match(change.url))

    def attachment_url(self, run_id: str, change: ChangeSet) -> str:
        """The PR's own URL when it is a web page; a local-forge PR links to its part of the run's
        review page."""
        return pr_href(change, review_page_url(self.public_url, run_id)) or change.url

    def _move(self, view: RunView, event: RunEvent, target: LinearTarget) -> None:
        if event.kind != "state" or not target.team_id or not target.issue_id or not self.config.linear.move_states:
            return
        role = _role(event.data)
        run_id = view.run.run_id
        if role is None or (self.store.get_fact(run_id, STATE_FACT) or {}).get("role") == role:
            return
        state = self.states.state_for(target.team_id, role)
        if state is not None:
            self._call(docs.ISSUE_SET_STATE, {"id": target.issue_id, "stateId": state.id})
            log.info("linear_issue_moved", run_id=run_id, role=role, state=state.name)
        self.store.put_fact(run_id, STATE_FACT, {"role": role})

    def post_activity(
        self, run_id: str, session_id: str, key: str, content: Content, *, after_end: bool = False
    ) -> None:
        """Post the activity `key` of a run once, whatever happens between the attempts. After the
        run's closing activity nothing more is said, except answers to people (`after_end`)."""
        activity_id = stable_id(run_id, key)
        ending = content["type"] in ("response", "error")
        with self._run_lock(run_id):
            fact = self.store.get_fact(run_id, ACTIVITY_FACT) or {"done": [], "pending": None}
            if key in fact["done"] or (fact.get("ended") and not after_end):
                return
            if fact.get("pending") == key:
                try:
                    self._call(docs.ACTIVITY_EXISTS, {"id": activity_id})
                    exists = True
                except LinearError as err:
                    if err.kind in _TRANSIENT:
                        raise
                    exists = False  # a create with the same id would fail if it were there after all
                if exists:
                    self._activity_done(run_id, fact, key, ending)
                    return
            self.store.put_fact(run_id, ACTIVITY_FACT, {**fact, "pending": key})
            variables = {"input": {"id": activity_id, "agentSessionId": session_id, "content": content}}
            self._call(docs.ACTIVITY_CREATE, variables)
            self._activity_done(run_id, fact, key, ending)

    def _activity_done(self, run_id: str, fact: dict[str, Any], key: str, ending: bool) -> None:
        done = {"done": [*fact["done"], key], "pending": None, "ended": ending or bool(fact.get("ended"))}
        self.store.put_fact(run_id, ACTIVITY_FACT, done)

    # -- helpers ------------------------------------------------------------------------------------------
    def _call(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        return self.client.execute(document, variables, deadline_s=self.call_deadline_s)

    def _give_up(self, run_id: str, seq: int) -> bool:
        key = (run_id, seq)
        self._failures[key] = self._failures.get(key, 0) + 1
        return self._failures[key] >= _GIVE_UP_AFTER

    @contextmanager
    def _run_lock(self, run_id: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(run_id, threading.Lock())
        with lock:
            yield


def _role(data: dict[str, Any]) -> Role | None:
    to = data.get("to")
    if to in ("planning", "working"):
        return "started"
    if to == "awaiting_approval" and data.get("waiting_for") == "approval":
        return "review"
    if to == "merged":
        return "completed"
    return None
