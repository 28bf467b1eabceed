"""The GitHub surface: one status comment per issue, edited in place, and the linked-PRs section
of every PR body of a run, kept current as siblings appear.

Fed by the surface hub (at-least-once, in order): `publish` only notes what changed and links new
PRs to their run; `flush` (every hub tick) writes. A run's comment is edited at most once a second
while it is in flight and at once when it ends; a failed write stays due and is tried next tick.
The comment carries a hidden `<!-- baton:run=… -->` marker and its id is kept as a run fact, so a
restarted bot edits the same comment instead of writing a second one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from bot.config.models import BatonFile
from bot.domain.models import ChangeState, Source
from bot.domain.ports import ForgeError
from bot.domain.records import RunEvent, RunView
from bot.services.github.issues import GitHubIssues
from bot.store.store import Store
from bot.surfaces.github.render import approver_logins, reminder_body, siblings_section, status_body, with_siblings
from bot.surfaces.links import review_page_url

log = structlog.get_logger(__name__)
STATUS_FACT = "github:status"
REMINDERS_FACT = "github:reminders"
EDIT_INTERVAL_S = 1.0
"""Least time between two edits of one run's comment while it runs (GitHub's secondary limits)."""


def issue_key(full: str, number: int) -> str:
    return f"github:issue:{full.lower()}#{number}"


def pr_key(full: str, number: int) -> str:
    return f"github:pr:{full.lower()}#{number}"


class GitHubSurface:
    def __init__(
        self,
        store: Store,
        issues: GitHubIssues,
        config: BatonFile,
        clock: Callable[[], float] = time.monotonic,
        public_url: str = "",
    ) -> None:
        """`public_url` (BATON_PUBLIC_URL): where the comments' "Review changes" links point."""
        self.public_url = public_url
        self.store = store
        self.issues = issues
        self.config = config
        self._clock = clock
        self._lock = threading.RLock()
        # One run's status comment is written by one thread at a time (the webhook's first write and
        # the hub's edits never both create it); striped, so other runs' writes never queue behind it.
        self._writing = [threading.Lock() for _ in range(64)]
        self._status_due: set[str] = set()
        self._bodies_due: set[str] = set()
        self._last_edit: dict[str, float] = {}

    def full_names(self) -> dict[str, str]:
        return {r.name: r.github for r in self.config.repos if r.forge == "github" and r.github}

    def wants(self, view: RunView) -> bool:
        reply = view.run.spec.trigger.reply_to
        on_issue = reply.source is Source.github and bool(reply.repo) and reply.issue_number is not None
        names = self.full_names()
        return on_issue or any(c.repo in names for c in view.changes)

    # -- the hub's side ---------------------------------------------------------------------------
    def publish(self, view: RunView, event: RunEvent) -> None:
        run_id = view.run.run_id
        names = self.full_names()
        if event.kind == "pr_opened" and event.data.get("repo") in names:
            self.store.link(pr_key(names[str(event.data["repo"])], int(event.data["number"])), run_id)
        if event.kind == "approval_reminder":
            self.remind(view, event)
        with self._lock:
            if event.kind in ("pr_opened", "round_finished") or (event.kind == "run_created" and view.changes):
                self._bodies_due.add(run_id)
            reply = view.run.spec.trigger.reply_to
            if reply.source is Source.github and reply.repo and reply.issue_number is not None:
                self._status_due.add(run_id)

    def flush(self) -> None:
        with self._lock:
            due_status, due_bodies = sorted(self._status_due), sorted(self._bodies_due)
        for run_id in due_bodies:
            self._try(run_id, self._bodies_due, self.write_bodies)
        now = self._clock()
        for run_id in due_status:
            run = self.store.get_run(run_id)
            recent = now - self._last_edit.get(run_id, -EDIT_INTERVAL_S) < EDIT_INTERVAL_S
            if run is not None and recent and not run.state.terminal:
                continue  # coalesced into the next edit
            self._try(run_id, self._status_due, self.write_status)

    def _try(self, run_id: str, due: set[str], write: Callable[[str], None]) -> None:
        try:
            with structlog.contextvars.bound_contextvars(run_id=run_id):  # e.g. on the API's retry lines
                write(run_id)
        except ForgeError as err:  # stays due: tried again next tick
            log.warning("github.surface_write_failed", run_id=run_id, error=str(err)[:300])
            return
        with self._lock:
            due.discard(run_id)

    # -- writing ----------------------------------------------------------------------------------------
    def write_status(self, run_id: str) -> None:
        """Create or edit the run's status comment on its issue, from the run as it is now."""
        view = self.store.view(run_id)
        if view is None:
            return
        reply = view.run.spec.trigger.reply_to
        if reply.repo is None or reply.issue_number is None:
            return
        needs = self.config.github.approve_permission
        review = review_page_url(self.public_url, run_id) if view.changes else ""
        text = status_body(view, self.store.events(run_id), self.full_names(), needs, review)
        with self._writing[hash(run_id) % len(self._writing)]:
            fact = self.store.get_fact(run_id, STATUS_FACT)
            known = int(fact["comment_id"]) if fact else None
            comment_id = self.issues.upsert_status(reply.repo, reply.issue_number, run_id, text, known)
            if comment_id != known:
                self.store.put_fact(
                    run_id, STATUS_FACT, {"repo": reply.repo, "number": reply.issue_number, "comment_id": comment_id}
                )
            self._last_edit[run_id] = self._clock()
        log.info("github.status_written", run_id=run_id, state=view.run.state.value, comment_id=comment_id)

    def remind(self, view: RunView, event: RunEvent) -> None:
        """Post an approval reminder on the run's issue, once per event (a ForgeError: the hub retries)."""
        run_id = view.run.run_id
        reply = view.run.spec.trigger.reply_to
        if reply.source is not Source.github or reply.repo is None or reply.issue_number is None:
            return
        done = self.store.get_fact(run_id, REMINDERS_FACT) or {"seqs": []}
        if event.seq in done["seqs"]:
            return
        logins = approver_logins(self.config.approval.approvers)
        text = reminder_body(view, event, logins, self.config.github.approve_permission)
        self.issues.reply(reply.repo, reply.issue_number, text, key=f"{run_id}:reminder:{event.seq}")
        self.store.put_fact(run_id, REMINDERS_FACT, {"seqs": [*done["seqs"], event.seq][-50:]})

    def write_bodies(self, run_id: str) -> None:
        """Bring the linked-PRs section of every open GitHub PR of the run up to date."""
        view = self.store.view(run_id)
        if view is None:
            return
        names = self.full_names()
        reply = view.run.spec.trigger.reply_to
        issue = f"{reply.repo}#{reply.issue_number}" if reply.source is Source.github and reply.repo else None
        for change in view.changes:
            full = names.get(change.repo)
            if full is None or change.state is not ChangeState.open:
                continue
            body = self.issues.pull_body(full, change.number)
            review = review_page_url(self.public_url, run_id)
            updated = with_siblings(body, siblings_section(view, change, names, issue, review))
            if updated != body:
                self.issues.set_pull_body(full, change.number, updated)
