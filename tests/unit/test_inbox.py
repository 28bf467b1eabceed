"""The inbox: a message for a parked run claims it once; a workflow at a wait takes a message or
parks, idempotently per step; a message posted while the run works is taken at its wait."""

from __future__ import annotations

from pathlib import Path

from bot.config.models import parse_baton_file
from bot.domain.models import RunState
from bot.engine.intake import build_spec
from bot.store.inbox import CLAIMED, PARKED
from bot.store.store import Store, make_engine, migrate
from handlers.cli import cli_trigger

LOOP = {"stage": "approval", "rounds": 1}


def _store(tmp_path: Path) -> tuple[Store, str]:
    engine = make_engine(f"sqlite:///{tmp_path / 'baton.db'}")
    migrate(engine)
    store = Store(engine)
    config = parse_baton_file({"repos": [{"name": "api", "url": str(tmp_path)}]})
    spec = build_spec(cli_trigger("do it"), config, repos=["api"])
    store.create_run(spec)
    return store, spec.run_id


def _wait_state(store: Store, run_id: str) -> str | None:
    from bot.store.tables import RunRow

    with store._tx() as s:
        row = s.get(RunRow, run_id)
        assert row is not None
        return row.wait_state


def test_a_message_posted_while_working_is_taken_at_the_wait(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    posted = store.inbox.post(run_id, {"decision": "follow_up"})
    assert posted is not None and posted.claimed is None and not posted.wake
    assert store.inbox.take(run_id, 1, "wf#3", LOOP, "parked") == {"decision": "follow_up"}
    assert store.inbox.take(run_id, 1, "wf#3", LOOP, "parked") == {"decision": "follow_up"}  # the same step again
    assert store.inbox.take(run_id, 1, "wf#5", LOOP, "parked") is None
    assert store.inbox.parked() == [run_id]
    assert store.get_fact(run_id, "loop:a1") == LOOP


def test_messages_for_a_parked_run_claim_it_once(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    assert store.inbox.take(run_id, 1, "wf#3", LOOP, "parked") is None
    first = store.inbox.post(run_id, {"decision": "approve"})
    second = store.inbox.post(run_id, {"decision": "approve"})
    assert first is not None and first.claimed == 1
    assert second is not None and second.claimed is None
    assert _wait_state(store, run_id) == CLAIMED
    assert store.inbox.claimed() == [(run_id, 1, 1)]
    assert store.inbox.take(run_id, 1, "c1#2", LOOP, "parked") == {"decision": "approve"}
    assert store.inbox.take(run_id, 1, "c1#6", LOOP, "parked") == {"decision": "approve"}
    assert store.inbox.take(run_id, 1, "c1#9", LOOP, "parked") is None
    assert _wait_state(store, run_id) == PARKED
    again = store.inbox.post(run_id, {"decision": "recheck"})
    assert again is not None and again.claimed == 2


def test_a_blocking_wait_is_woken_and_an_ended_run_is_never_claimed(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    assert store.inbox.take(run_id, 1, "wf#3", LOOP, "waiting") is None
    posted = store.inbox.post(run_id, {"decision": "approve"})
    assert posted is not None and posted.wake and posted.claimed is None
    assert store.inbox.take(run_id, 1, "wf#3", LOOP, "parked") is None  # that step parked already
    assert store.inbox.take(run_id, 1, "wf#7", LOOP, "parked") == {"decision": "approve"}
    assert store.inbox.take(run_id, 1, "wf#9", LOOP, "parked") is None
    store.set_state(run_id, RunState.cancelled)
    ended = store.inbox.post(run_id, {"decision": "approve"})
    assert ended is not None and ended.claimed is None


def test_a_retry_takes_no_message_of_an_earlier_attempt(tmp_path: Path) -> None:
    store, run_id = _store(tmp_path)
    store.inbox.post(run_id, {"decision": "follow_up"})
    store.set_attempt(run_id, 2)
    store.inbox.reset(run_id)
    assert store.inbox.take(run_id, 2, "a2#3", LOOP, "parked") is None
    assert store.inbox.post(run_id, {"x": 1}) is not None
    assert store.inbox.claimed() == [(run_id, 2, 1)]
