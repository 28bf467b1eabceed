"""`Store.save_checks`: a PR's checks as just read are saved, and announced with one `checks` event
per outcome however many readers saw it (the run, a webhook, the approval gate, at once or one after
another); warnings beside the checks are recorded once per head."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config.models import parse_baton_file
from bot.domain.models import ChangeSet, ChecksState
from bot.engine.intake import build_spec
from bot.store.store import Store, make_engine, migrate
from handlers.cli import cli_trigger
from tests.e2e.postgres_support import fresh_database

HEAD, NEXT = "a" * 40, "b" * 40


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'baton.db'}")
        migrate(engine)
        yield Store(engine)
        return
    with fresh_database() as url:
        engine = make_engine(url)
        migrate(engine)
        yield Store(engine)
        engine.dispose()


def _run(store: Store, tmp_path: Path) -> str:
    config = parse_baton_file({"repos": [{"name": "api", "url": str(tmp_path / "api.git")}]})
    spec = build_spec(cli_trigger("rename"), config, repos=["api"])
    store.create_run(spec)
    return spec.run_id


def _pr(run_id: str, checks: ChecksState, head: str = HEAD) -> ChangeSet:
    return ChangeSet(
        run_id=run_id, repo="api", branch="baton/x", base="main", number=7, url="u", head_sha=head, checks=checks
    )


def _checks(store: Store, run_id: str) -> list[tuple[str, str]]:
    return [(e.data["sha"], e.data["state"]) for e in store.events(run_id) if e.kind == "checks"]


def test_an_outcome_read_twice_is_announced_once(store: Store, tmp_path: Path) -> None:
    run_id = _run(store, tmp_path)
    first = store.save_checks(_pr(run_id, ChecksState.passed), source="github")
    again = store.save_checks(_pr(run_id, ChecksState.passed), source="gate")

    assert first is not None and again is None
    assert _checks(store, run_id) == [(HEAD, "passed")]
    assert store.changes(run_id)[0].checks is ChecksState.passed


def test_checks_run_again_on_the_same_head_are_announced_each_time_they_change(store: Store, tmp_path: Path) -> None:
    run_id = _run(store, tmp_path)
    for state in (ChecksState.pending, ChecksState.passed, ChecksState.pending, ChecksState.passed):
        store.save_checks(_pr(run_id, state), source="github")

    assert _checks(store, run_id) == [(HEAD, "pending"), (HEAD, "passed"), (HEAD, "pending"), (HEAD, "passed")]


def test_a_new_head_is_announced_after_plain_saves_in_between(store: Store, tmp_path: Path) -> None:
    run_id = _run(store, tmp_path)
    store.save_checks(_pr(run_id, ChecksState.passed), source="run")
    store.save_change(_pr(run_id, ChecksState.passed))  # a refresh, as pre-flight saves one
    store.save_checks(_pr(run_id, ChecksState.passed, head=NEXT), source="gate")

    assert _checks(store, run_id) == [(HEAD, "passed"), (NEXT, "passed")]


def test_readers_of_one_outcome_at_the_same_moment_announce_it_once(store: Store, tmp_path: Path) -> None:
    run_id = _run(store, tmp_path)
    store.save_checks(_pr(run_id, ChecksState.pending), source="run")
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        store.save_checks(_pr(run_id, ChecksState.passed), source="github")

    readers = [threading.Thread(target=read) for _ in range(8)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()

    assert _checks(store, run_id) == [(HEAD, "pending"), (HEAD, "passed")]


def test_a_warning_is_recorded_once_per_head(store: Store, tmp_path: Path) -> None:
    run_id = _run(store, tmp_path)
    warning = "acme/api#7 is still a draft"
    store.save_checks(_pr(run_id, ChecksState.passed), source="github", warnings=[warning])
    store.save_checks(_pr(run_id, ChecksState.passed), source="gate", warnings=[warning])
    store.save_checks(_pr(run_id, ChecksState.passed, head=NEXT), source="github", warnings=[warning])

    found = [(e.data["sha"], e.data["message"]) for e in store.events(run_id) if e.kind == "forge_warning"]
    assert found == [(HEAD, warning), (NEXT, warning)]
