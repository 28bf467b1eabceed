"""What a signed GitHub body is checked against before it counts: GitHub itself.

`X-Hub-Signature-256` proves GitHub once sent the body, not that it is new or still true: it does
not cover `X-GitHub-Delivery`, so anyone holding a copy of a body can send it again under a new
delivery id. So a command or trigger is keyed by what GitHub made (the comment id, the label
event id), and before it counts the comment is read back from GitHub's API — it must still exist,
by the same author, with the same body, not edited since — or the label event found in the issue's
events (the newest event for that label, a `labeled` by the sender). Anything older than
`retention.deliveries_days` is never acted on: its delivery record may have been pruned.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from pydantic import BaseModel

from bot.domain.ports import ForgeError
from bot.services.github.issues import GitHubIssues, LabelEvent
from handlers.github import models as m

log = structlog.get_logger(__name__)

CHANGED = "the comment was edited or deleted since it was written"
UNVERIFIED = "GitHub could not confirm the comment just now; nothing was done"
TOO_OLD = "written longer ago than Baton keeps its delivery records"
NO_LABEL_EVENT = "GitHub's events show no such label being added by the sender"


class Verified(BaseModel):
    """A body GitHub confirmed: the key it counts under (once), or why it does not count."""

    key: str = ""
    problem: str | None = None
    created_at: datetime | None = None


def github_time(value: str | None) -> datetime | None:
    """GitHub's `2024-05-01T10:00:00Z` as an aware datetime (None when absent or unreadable)."""
    try:
        parsed = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed is not None and parsed.tzinfo is None else parsed


def _too_old(when: datetime | None, keep_days: float) -> bool:
    return when is not None and when < datetime.now(UTC) - timedelta(days=keep_days)


def comment(issues: GitHubIssues, full: str, ev: m.IssueCommentEvent, keep_days: float) -> Verified:
    """The comment of `ev` as GitHub has it now, compared with what the body says."""
    given = ev.comment
    created = github_time(given.created_at)
    if _too_old(created, keep_days):
        return Verified(problem=TOO_OLD)
    try:
        now = issues.comment(full, given.id)
    except ForgeError as err:
        log.warning("github.comment_unverified", repo=full, comment=given.id, error=str(err)[:200])
        return Verified(problem=UNVERIFIED)
    same = (
        now is not None
        and now.author.lower() == given.user.login.lower() == ev.sender.login.lower()
        and now.body == (given.body or "")
        and (given.updated_at is None or now.updated_at == given.updated_at)
    )
    if not same:
        return Verified(problem=CHANGED)
    assert now is not None
    return Verified(key=f"github:comment:{given.id}", created_at=created or github_time(now.created_at))


def label(issues: GitHubIssues, full: str, number: int, name: str, sender: str, keep_days: float) -> Verified:
    """The label event behind an `issues.labeled` body: the newest event for `name` on the issue,
    which must be a `labeled` by `sender` (a removed label, or someone else's, starts nothing)."""
    try:
        events = [e for e in issues.label_events(full, number) if e.label.lower() == name.lower()]
    except ForgeError as err:
        log.warning("github.label_unverified", repo=full, issue=number, error=str(err)[:200])
        return Verified(problem=UNVERIFIED.replace("the comment", "the label"))
    last: LabelEvent | None = events[-1] if events else None
    if last is None or last.event != "labeled" or last.actor.lower() != sender.lower():
        return Verified(problem=NO_LABEL_EVENT)
    created = github_time(last.created_at)
    if _too_old(created, keep_days):
        return Verified(problem=TOO_OLD)
    return Verified(key=f"github:label:{last.id}", created_at=created)
