"""Threads, issues and PRs lead back to their run; deliveries are claimed once."""

from __future__ import annotations

from pathlib import Path

from bot.store.store import Store, make_engine, migrate


def _store(tmp_path: Path) -> Store:
    engine = make_engine(f"sqlite:///{tmp_path / 'baton.db'}")
    migrate(engine)
    return Store(engine)


def test_a_linked_thread_finds_its_run(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.link("slack:thread:C1:1712.0001", "r1")
    assert store.run_for_link("slack:thread:C1:1712.0001") == "r1"


def test_an_unknown_key_finds_no_run(tmp_path: Path) -> None:
    assert _store(tmp_path).run_for_link("github:pr:o/r#9") is None


def test_the_newest_run_linked_to_a_key_is_the_one_it_means(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.link("linear:issue:abc", "r1")
    store.link("linear:issue:abc", "r2")
    assert store.run_for_link("linear:issue:abc") == "r2"


def test_linking_an_older_run_again_makes_it_the_newest(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.link("github:issue:o/r#1", "r1")
    store.link("github:issue:o/r#1", "r2")
    store.link("github:issue:o/r#1", "r1")
    assert store.run_for_link("github:issue:o/r#1") == "r1"


def test_a_run_lists_every_place_it_is_linked_from(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.link("github:issue:o/r#1", "r1")
    store.link("github:pr:o/r#2", "r1")
    store.link("github:pr:o/r#3", "r2")
    assert store.links("r1") == ["github:issue:o/r#1", "github:pr:o/r#2"]


def test_a_redelivery_returns_the_run_the_first_delivery_started(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.claim_delivery("github:d-1", "r1") is None
    assert store.claim_delivery("github:d-1", "r-other") == "r1"
