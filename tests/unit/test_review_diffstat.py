"""A PR's diffstat is recorded with the head it was measured at: a refresh from the forge (which
carries none) keeps it while the head is the same, and drops it once the head moved."""

from __future__ import annotations

from pathlib import Path

from bot.domain.diffs import DiffStat
from bot.domain.models import ChangeSet
from bot.store.store import Store, make_engine, migrate


def _store(tmp_path: Path) -> Store:
    engine = make_engine(f"sqlite:///{tmp_path / 'baton.db'}")
    migrate(engine)
    return Store(engine)


def _change(head: str, diffstat: DiffStat | None = None) -> ChangeSet:
    return ChangeSet(
        run_id="r1",
        repo="api",
        branch="b",
        base="main",
        number=1,
        url="local://api/pull/1",
        head_sha=head,
        diffstat=diffstat,
    )


def test_a_refresh_of_the_same_head_keeps_the_recorded_diffstat(tmp_path: Path) -> None:
    store = _store(tmp_path)
    stat = DiffStat(sha="a" * 40, files=2, additions=5, deletions=1)
    store.save_change(_change("a" * 40, stat))
    store.save_change(_change("a" * 40))

    [change] = store.changes("r1")
    assert change.diffstat == stat


def test_a_new_head_drops_the_diffstat_of_the_old_one(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save_change(_change("a" * 40, DiffStat(sha="a" * 40, files=2, additions=5, deletions=1)))
    store.save_change(_change("b" * 40))

    [change] = store.changes("r1")
    assert change.diffstat is None


def test_a_diffstat_of_an_older_head_carried_along_with_a_new_head_is_dropped(tmp_path: Path) -> None:
    store = _store(tmp_path)
    old = DiffStat(sha="a" * 40, files=2, additions=5, deletions=1)
    store.save_change(_change("a" * 40, old))
    store.save_change(_change("b" * 40, old))  # e.g. a stored change copied with the head GitHub reported

    [change] = store.changes("r1")
    assert (change.head_sha, change.diffstat) == ("b" * 40, None)


def test_a_diffstat_reads_as_files_and_signed_line_counts() -> None:
    assert DiffStat(files=1, additions=3, deletions=0).text() == "1 file +3 \u22120"
    assert DiffStat(files=12, additions=140, deletions=32).text() == "12 files +140 \u221232"
