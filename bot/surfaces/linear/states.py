"""Which workflow state a Linear issue moves to at each point of a run, per team, looked up once.

Linear's states have a fixed `type` (triage, backlog, unstarted, started, completed, canceled) and
team-chosen names. Work begins → the team's first `started` state (lowest position, as Linear's
agent guidelines say); approval requested → the `started` state named like `review_state`
("In Review"), else the team's last `started` state when it has more than one; merged → the first
`completed` state. A team without such a state is left alone for that move.
"""

from __future__ import annotations

import threading
from typing import Literal

from pydantic import BaseModel

from bot.services.linear import documents as docs
from bot.services.linear.client import LinearClient

Role = Literal["started", "review", "completed"]


class WorkflowState(BaseModel):
    id: str
    name: str
    type: str
    position: float


def pick_state(states: list[WorkflowState], role: Role, review_name: str) -> WorkflowState | None:
    ordered = sorted(states, key=lambda s: s.position)
    started = [s for s in ordered if s.type == "started"]
    if role == "started":
        return started[0] if started else None
    if role == "review":
        named = [s for s in started if s.name.strip().lower() == review_name.strip().lower()]
        if named:
            return named[0]
        return started[-1] if len(started) > 1 else None
    completed = [s for s in ordered if s.type == "completed"]
    return completed[0] if completed else None


class StateBook:
    """Team → its workflow states, fetched on first use and kept for the process's life."""

    def __init__(self, client: LinearClient, review_name: str) -> None:
        self.client = client
        self.review_name = review_name
        self._teams: dict[str, list[WorkflowState]] = {}
        self._lock = threading.Lock()

    def states(self, team_id: str) -> list[WorkflowState]:
        with self._lock:
            cached = self._teams.get(team_id)
        if cached is not None:
            return cached
        data = self.client.execute(docs.TEAM_STATES, {"teamId": team_id})
        found = [WorkflowState.model_validate(n) for n in data["team"]["states"]["nodes"]]
        with self._lock:
            self._teams[team_id] = found
        return found

    def state_for(self, team_id: str, role: Role) -> WorkflowState | None:
        return pick_state(self.states(team_id), role, self.review_name)
