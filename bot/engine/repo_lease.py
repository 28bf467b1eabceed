"""An agent step's hold on its repo: claimed before the agent starts, renewed by the loop watching it.

The lease itself is a store row (bot/store/leases.py). This side decides when the agent must stop:
when another executor claimed the repo (it took the run over after deciding this process was dead),
or when this process could not renew before the lease expired (it lost the database, so a claimer
may be on its way). `held` is called from the agent's watch loop, which kills the agent once it
says no; the step then ends without recording anything (`RepoTakenOver`).
"""

from __future__ import annotations

import time

import structlog

from bot.config.settings import Settings
from bot.store.leases import Lease
from bot.store.store import Store

log = structlog.get_logger(__name__)

TTL_S = 20.0
"""Below the executors' 30 s staleness (bot/engine/recovery.py): a holder that lost the database has
stopped its agent before anyone takes its runs over for that reason."""
RENEW_S = 2.0


def homes_may_differ(settings: Settings) -> bool:
    """Whether another process with another home may continue this process's repos: on a shared
    database (PostgreSQL) workers may live anywhere. On SQLite every executor is on this machine and
    shares this home (its checkouts, its pidfiles), so no lease or hidden ref is needed there and a
    step pays for neither."""
    return not settings.store_url.startswith("sqlite")


class RepoTakenOver(RuntimeError):
    """Another executor holds this repo's lease now; this process's step must leave no trace."""


class RepoLease:
    def __init__(self, store: Store, run_id: str, repo: str, owner: str) -> None:
        self.store, self.run_id, self.repo, self.owner = store, run_id, repo, owner
        self.lease: Lease | None = None
        self.lost = False
        self._renewed_at = 0.0

    def claim(self) -> None:
        self.lease = self.store.leases.claim(self.run_id, self.repo, self.owner, TTL_S)
        self._renewed_at = time.monotonic()
        log.info("repo_lease", run_id=self.run_id, repo=self.repo, owner=self.owner, token=self.lease.token)

    def held(self, *, now: bool = False) -> bool:
        """False once the lease is gone (renewed at most every `RENEW_S`, or at once with `now`)."""
        if self.lost or self.lease is None:
            return not self.lost
        if not now and time.monotonic() - self._renewed_at < RENEW_S:
            return True
        try:
            renewed = self.store.leases.renew(self.run_id, self.repo, self.lease, TTL_S)
        except Exception as err:  # the database may come back before the lease runs out
            if time.time() < self.lease.expires_at:
                log.warning("repo_lease_renewal_failed", run_id=self.run_id, repo=self.repo, error=str(err)[:200])
                return True
            renewed = None
        if renewed is None:
            self.lost = True
            log.warning("repo_lease_lost", run_id=self.run_id, repo=self.repo, owner=self.owner, token=self.lease.token)
            return False
        self.lease, self._renewed_at = renewed, time.monotonic()
        return True

    def check(self) -> None:
        """Raise `RepoTakenOver` unless the lease is still this process's."""
        if not self.held(now=True):
            raise RepoTakenOver(f"{self.repo} of run {self.run_id} was taken over by another executor")
