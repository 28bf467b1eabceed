"""The store's schema: applying its Alembic migrations (one migrator at a time, however many
processes start together) and telling whether a database is at the newest revision (`/readyz`,
and `baton worker`, which waits for it instead of migrating).

Our tables live in the database's default schema (`public` on PostgreSQL); DBOS keeps its own
tables in the schema `dbos` of the same database, so the two never share a table name.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

# Any constant unique to Baton; DBOS's own migrations lock a different key.
_MIGRATION_LOCK = 0x6261746F6E  # "baton"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


@lru_cache(maxsize=1)
def head_revisions() -> frozenset[str]:
    """The revisions the code expects (read once: the scripts do not change while running)."""
    return frozenset(ScriptDirectory.from_config(_config()).get_heads())


def migrate(engine: Engine) -> None:
    """Bring the store's tables to the newest revision (safe to call on every start, from several
    processes at once: on PostgreSQL a transaction-scoped advisory lock lets one migrate while the
    others wait and then find nothing to do; SQLite is one machine's file with its own lock)."""
    cfg = _config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def schema_problem(engine: Engine) -> str | None:
    """None when the database answers and is at the newest revision, else why not (for people:
    no URL, no credentials)."""
    try:
        with engine.connect() as conn:
            current = frozenset(MigrationContext.configure(conn).get_current_heads())
    except Exception as err:  # whatever the driver raises, the answer is "not reachable"
        return f"database unreachable ({type(err).__name__})"
    expected = head_revisions()
    if current == expected:
        return None
    have = ", ".join(sorted(current)) or "none"
    return f"migrations not current: database at {have}, code expects {', '.join(sorted(expected))}"
