"""Who may run agents in one repo of one run: a lease (owner executor, fencing token, expiry).

A worker that starts an agent step claims its repo's lease; the loop watching the agent renews it.
A worker that takes the repo over after a crash claims it too, which moves the lease to it and bumps
the token: the earlier holder, if it still lives (another host that lost touch), finds its lease
gone at its next renewal and kills its agent. A holder that cannot renew before the expiry stops its
agent as well. So no two agents write one repo's branch for longer than one renewal interval.

Leases live in `run_facts` (key `agent-lease:<repo>`), read and written under a row lock, so no
migration was needed. Several agents of one executor share its lease (a concurrent best-of race).
"""

from __future__ import annotations

import time

from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.store.tables import KeyValueRow

_PREFIX = "agent-lease:"


class Lease(BaseModel):
    owner: str
    """The executor id of the process whose agents may run in the repo."""
    token: int
    """Bumped at every change of owner: which claim this is."""
    expires_at: float
    """Unix time after which the owner must have stopped its agents unless it renewed."""


class AgentLeases:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def claim(self, run_id: str, repo: str, owner: str, ttl_s: float) -> Lease:
        """Take (or keep) the repo's lease for `owner`, whoever held it before."""
        for attempt in range(2):
            try:
                return self._claim(run_id, repo, owner, ttl_s)
            except IntegrityError:
                if attempt:  # another claimer inserted the row first: read theirs and take it over
                    raise
        raise AssertionError("unreachable")

    def _claim(self, run_id: str, repo: str, owner: str, ttl_s: float) -> Lease:
        with self._sessions.begin() as s:
            row = s.get(KeyValueRow, (run_id, _PREFIX + repo), with_for_update=True)
            now = time.time()
            if row is None:
                lease = Lease(owner=owner, token=1, expires_at=now + ttl_s)
                s.add(KeyValueRow(run_id=run_id, key=_PREFIX + repo, value=lease.model_dump(), updated_at=now))
                return lease
            held = Lease.model_validate(row.value)
            token = held.token if held.owner == owner else held.token + 1
            lease = Lease(owner=owner, token=token, expires_at=now + ttl_s)
            row.value, row.updated_at = lease.model_dump(), now
            return lease

    def renew(self, run_id: str, repo: str, lease: Lease, ttl_s: float) -> Lease | None:
        """The lease renewed, or None when another claim took it."""
        with self._sessions.begin() as s:
            row = s.get(KeyValueRow, (run_id, _PREFIX + repo), with_for_update=True)
            if row is None:
                return None
            held = Lease.model_validate(row.value)
            if (held.owner, held.token) != (lease.owner, lease.token):
                return None
            now = time.time()
            renewed = Lease(owner=lease.owner, token=lease.token, expires_at=now + ttl_s)
            row.value, row.updated_at = renewed.model_dump(), now
            return renewed

    def holder(self, run_id: str, repo: str) -> Lease | None:
        with self._sessions.begin() as s:
            row = s.get(KeyValueRow, (run_id, _PREFIX + repo))
            return Lease.model_validate(row.value) if row is not None else None
