"""A repo's agent lease on a real store: the holder renews it, a claimer from another executor
takes it over (fencing the holder), and an agent whose lease is lost is stopped by its watch loop."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from bot.agents.process import run_process
from bot.engine.repo_lease import RepoLease, RepoTakenOver
from bot.store.store import Store, make_engine, migrate


@pytest.fixture
def store(tmp_path: Path) -> Store:
    engine = make_engine(f"sqlite:///{tmp_path / 'baton.db'}")
    migrate(engine)
    return Store(engine)


def test_the_holder_renews_its_lease(store: Store) -> None:
    lease = RepoLease(store, "r1", "api", "worker-a")
    lease.claim()
    assert lease.held(now=True)
    assert store.leases.holder("r1", "api") == lease.lease


def test_a_claim_by_another_executor_takes_the_lease_with_a_new_token(store: Store) -> None:
    first = RepoLease(store, "r1", "api", "worker-a")
    first.claim()
    second = RepoLease(store, "r1", "api", "worker-b")
    second.claim()
    assert first.lease is not None and second.lease is not None
    assert (second.lease.owner, second.lease.token) == ("worker-b", first.lease.token + 1)
    assert not first.held(now=True)
    assert second.held(now=True)


def test_agents_of_one_executor_share_its_lease(store: Store) -> None:
    first, second = RepoLease(store, "r1", "api", "worker-a"), RepoLease(store, "r1", "api", "worker-a")
    first.claim()
    second.claim()
    assert first.held(now=True) and second.held(now=True)


def test_a_step_whose_repo_was_taken_over_leaves_with_repo_taken_over(store: Store) -> None:
    lease = RepoLease(store, "r1", "api", "worker-a")
    lease.claim()
    RepoLease(store, "r1", "api", "worker-b").claim()
    with pytest.raises(RepoTakenOver):
        lease.check()


def test_an_agent_whose_lease_another_executor_claims_is_stopped(store: Store, tmp_path: Path) -> None:
    lease = RepoLease(store, "r1", "api", "worker-a")
    lease.claim()
    started = threading.Event()
    claimer = threading.Thread(
        target=lambda: started.wait(10) and RepoLease(store, "r1", "api", "worker-b").claim(), daemon=True
    )
    claimer.start()
    outcome = run_process(
        ["sh", "-c", "echo started; exec sleep 60"],
        tmp_path,
        {"PATH": os.environ["PATH"]},
        60,
        lambda: not lease.held(),
        on_line=lambda _line: started.set(),
    )
    claimer.join(5)
    assert outcome.cancelled and not outcome.timed_out
    assert lease.lost
