"""Readiness and migrations: `/readyz` answers 200 only when the database answers and the store's
Alembic head is applied (503 with the reason otherwise); migrating is safe from several processes
at once; a worker never migrates, it waits for the schema and gives up with a reason."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from bot.app import Runtime
from bot.config.models import BatonFile
from bot.config.settings import Settings
from bot.store.schema import head_revisions, schema_problem
from bot.store.store import make_engine, migrate
from bot.web import create_web_app
from tests.e2e.postgres_support import fresh_database
from tests.fakes.served_app import serve


def _readyz(runtime: Runtime) -> tuple[int, dict[str, object]]:
    try:
        with serve(create_web_app(runtime)) as url:
            answer = httpx.get(f"{url}/readyz", timeout=30)
    finally:
        runtime.shutdown()
    return answer.status_code, answer.json()


def test_readyz_is_ready_once_migrations_are_applied(tmp_path: Path) -> None:
    runtime = Runtime(Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml"), BatonFile())
    assert _readyz(runtime) == (200, {"ok": True})


def test_readyz_is_not_ready_before_migrations_and_says_so(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml")
    runtime = Runtime(settings, BatonFile(), migrate=False)
    status, body = _readyz(runtime)
    assert status == 503
    expected = ", ".join(sorted(head_revisions()))
    assert body == {"ok": False, "reason": f"migrations not current: database at none, code expects {expected}"}


def test_an_unreachable_database_is_named_without_its_address() -> None:
    problem = schema_problem(make_engine("postgresql://baton:s3cret@127.0.0.1:9/nowhere"))
    assert problem == "database unreachable (OperationalError)"


@pytest.mark.postgres
def test_several_processes_migrating_at_once_all_succeed_on_postgres() -> None:
    with fresh_database() as url:
        engines = [make_engine(url) for _ in range(3)]
        try:
            with ThreadPoolExecutor(3) as pool:
                list(pool.map(migrate, engines))
            assert schema_problem(engines[0]) is None
        finally:
            for engine in engines:
                engine.dispose()


def test_a_worker_never_migrates_and_gives_up_with_the_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    env.update(BATON_HOME=str(tmp_path / ".baton"), BATON_CONFIG=str(tmp_path / "absent.yml"))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "worker", "--schema-wait", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not starting: migrations not current" in done.stdout
    assert schema_problem(make_engine(Settings(home=tmp_path / ".baton").store_url)) is not None
