"""Outbound rate limits (`rate_limits` in baton.yml): one token bucket per service, kept as a row of
the store's facts table so every process sharing the database draws from the same bucket.

A draw is one short transaction: read the bucket, refill it for the time passed, take a token with a
compare-and-swap on the row's version (no lock is held, so SQLite and PostgreSQL behave alike and a
crashed process leaves nothing locked). Without a token the caller sleeps until one is due, outside
any transaction. Each API client calls its throttle at its one request choke point.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.config.models import RateLimit
from bot.store.tables import KeyValueRow

log = structlog.get_logger(__name__)

BUCKETS = "_rate_limits"
"""The facts table's pseudo-run that holds one bucket row per service."""

Throttle = Callable[[], None]


def unthrottled() -> None:
    """The throttle of a service without a configured limit."""


class TokenBucket:
    """`calls` per `per_s` seconds for `service`, shared through `engine`; `clock` is wall time
    (processes on several machines compare it, so keep their clocks in sync as usual)."""

    def __init__(
        self,
        engine: Engine,
        service: str,
        limit: RateLimit,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.engine, self.service, self.limit = engine, service, limit
        self.clock, self.sleep = clock, sleep

    def __call__(self) -> None:
        """Wait until a call to the service is allowed, and take it."""
        while (wait := self.take()) > 0:
            log.debug("rate_limit.wait", service=self.service, wait_s=round(wait, 3))
            self.sleep(wait)

    def take(self) -> float:
        """Take one token now: 0.0 when taken, else the seconds until one is due."""
        rate = self.limit.calls / self.limit.per_s
        while True:
            now = self.clock()
            found = self._read()
            if found is None:
                if self._create(now):
                    return 0.0
                continue  # another process created it first: draw from theirs
            value, version = found
            since = max(0.0, now - float(value["at"]))
            tokens = min(float(self.limit.calls), float(value["tokens"]) + since * rate)
            if tokens < 1.0:
                return (1.0 - tokens) / rate
            if self._swap(version, {"tokens": tokens - 1.0, "at": max(now, float(value["at"]))}):
                return 0.0
            # another process took a token between our read and our write: read again

    # Reads and writes are separate transactions: a write then starts from the newest state (a
    # read-then-write transaction on SQLite's WAL fails outright when another writer came between).
    def _where(self) -> tuple[Any, Any]:
        return KeyValueRow.run_id == BUCKETS, KeyValueRow.key == self.service

    def _read(self) -> tuple[dict[str, Any], float] | None:
        with Session(self.engine) as session:
            row = session.scalars(select(KeyValueRow).where(*self._where())).first()
            return (dict(row.value), float(row.updated_at)) if row is not None else None

    def _swap(self, version: float, value: dict[str, float]) -> bool:
        with Session(self.engine) as session, session.begin():
            done = session.execute(
                update(KeyValueRow)
                .where(*self._where(), KeyValueRow.updated_at == version)
                .values(value=value, updated_at=version + 1)
            )
            return getattr(done, "rowcount", 0) == 1

    def _create(self, now: float) -> bool:
        try:
            with Session(self.engine) as session, session.begin():
                value = {"tokens": float(self.limit.calls) - 1.0, "at": now}
                session.add(KeyValueRow(run_id=BUCKETS, key=self.service, value=value, updated_at=1.0))
        except IntegrityError:
            return False
        return True


def throttles(engine: Engine, limits: Mapping[str, RateLimit]) -> dict[str, Throttle]:
    """Each configured service's shared bucket; services without a limit are not throttled."""
    return {service: TokenBucket(engine, service, limit) for service, limit in limits.items()}
