"""What every part of the store shares: its engine and sessions, the redactor, and the engine
factory (SQLite tuned for many short writers, PostgreSQL with a small pool)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.observability.logging import Redactor

APPENDED = "baton.appended"
"""Set in a session's `info` by a write that appends an event (see `StoreBase.on_append`)."""


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def make_engine(url: str) -> Engine:
    """An engine with SQLite tuned for many short writers (WAL, busy timeout)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    # Few connections per process: PostgreSQL's default allows 100 in all, and a deployment runs a
    # serve and several workers, each with DBOS's own pool beside this one (threads queue for one).
    return create_engine(url, pool_size=5, max_overflow=5, pool_timeout=60, pool_pre_ping=True)


def _unchanged(value: Any) -> Any:
    return value


def shas_digest(head_shas: dict[str, str]) -> str:
    canonical = json.dumps(sorted(head_shas.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


class StoreBase:
    def __init__(self, engine: Engine, redactor: Redactor | None = None) -> None:
        """`redactor` hides secret values in the text people read (errors, events, step details)."""
        self.engine = engine
        self._redact = redactor.value if redactor is not None else _unchanged
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._on_append: list[Callable[[], None]] = []

    def on_append(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each transaction of this process that appended an event commits
        (the surface hub's wake-up: events of other processes it still finds by polling)."""
        self._on_append.append(listener)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session
        if session.info.pop(APPENDED, False):
            for listener in self._on_append:
                listener()

    def redact(self, value: Any) -> Any:
        """`value` with the secrets this store hides replaced, for text read from elsewhere (a diff,
        an agent's transcript) shown beside what the store holds."""
        return self._redact(value)
