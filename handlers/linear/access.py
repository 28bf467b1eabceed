"""Who may start and steer runs from Linear: the configured Linear users, and members of the
configured teams (asked of Linear's API, remembered for a few minutes); with both lists empty,
anyone who can label, delegate or comment may. The same check guards approvals from Linear, on
top of the approval policy (`approval.approvers` patterns such as `linear:<user id>`).

Also knows Baton's own Linear user (the API key's viewer), so its own comments are never read as
commands.
"""

from __future__ import annotations

import threading
import time

import structlog

from bot.config.linear import LinearConfig
from bot.domain.models import Actor, Source
from bot.domain.records import Run
from bot.services.linear import documents as docs
from bot.services.linear.client import LinearClient, LinearError

log = structlog.get_logger(__name__)

MEMBERSHIP_TTL_S = 300.0
EDGE_DEADLINE_S = 1.5
"""Linear calls made while a webhook waits for its answer stop retrying after this long."""


class LinearAccess:
    def __init__(self, client: LinearClient, config: LinearConfig) -> None:
        self.client = client
        self.config = config
        self._teams: dict[str, tuple[float, set[str]]] = {}
        self._viewer: str | None = None
        self._lock = threading.Lock()

    def may_trigger(self, actor: Actor) -> str | None:
        """Why `actor` may not start or steer a run from Linear, or None if they may."""
        users, teams = self.config.allowed_users, self.config.allowed_teams
        if not users and not teams:
            return None
        if actor.id in users:
            return None
        if teams and actor.id and self._teams_of(actor.id) & set(teams):
            return None
        allowed = [f"users {', '.join(users)}"] if users else []
        allowed += [f"members of {', '.join(teams)}"] if teams else []
        return (
            f"{actor.display or actor.id} may not start or steer Baton runs from Linear (allowed: {'; '.join(allowed)})"
        )

    def authorize(self, actor: Actor, _run: Run) -> str | None:
        """The approval service's per-source check for decisions made from Linear."""
        return self.may_trigger(actor) if actor.source is Source.linear else None

    def _teams_of(self, user_id: str) -> set[str]:
        now = time.monotonic()
        with self._lock:
            cached = self._teams.get(user_id)
        if cached is not None and now - cached[0] < MEMBERSHIP_TTL_S:
            return cached[1]
        try:
            data = self.client.execute(docs.USER_TEAMS, {"userId": user_id}, deadline_s=EDGE_DEADLINE_S)
        except LinearError as err:
            log.warning("linear_membership_unknown", user=user_id, error=str(err))
            return set()  # unknown membership grants nothing
        nodes = data["user"]["teams"]["nodes"]
        found = {n["id"] for n in nodes} | {n["key"] for n in nodes}
        with self._lock:
            self._teams[user_id] = (now, found)
        return found

    def viewer_id(self) -> str | None:
        """Baton's own Linear user id (None while Linear cannot say)."""
        if self._viewer is None:
            try:
                data = self.client.execute(docs.VIEWER, deadline_s=EDGE_DEADLINE_S)
            except LinearError as err:
                log.warning("linear_viewer_unknown", error=str(err))
                return None
            self._viewer = str(data["viewer"]["id"])
        return self._viewer
