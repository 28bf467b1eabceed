"""QueuePace over a real DBOS system database (SQLite, as a client of it): the queues' polling
interval as every executing process reads it from DBOS's queue rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dbos import DBOS, DBOSClient

from bot.engine.ids import REPO_QUEUE, RUN_QUEUE
from bot.engine.pace import QueuePace

FAST, IDLE, AFTER = 0.1, 2.0, 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def client(tmp_path: Path) -> Iterator[DBOSClient]:
    url = f"sqlite:///{tmp_path / 'dbos.sqlite'}"
    DBOS.migrate(url)
    client = DBOSClient(system_database_url=url, application_name="baton")
    client.register_queue(RUN_QUEUE, polling_interval_sec=FAST)
    client.register_queue(REPO_QUEUE, polling_interval_sec=FAST)
    yield client
    client.destroy()


def pace_over(client: DBOSClient, clock: Clock) -> QueuePace:
    return QueuePace(lambda: client, [RUN_QUEUE, REPO_QUEUE], FAST, IDLE, AFTER, clock=clock)


def intervals(pace: QueuePace) -> list[float | None]:
    return [pace.interval(RUN_QUEUE), pace.interval(REPO_QUEUE)]


def test_settle_slows_both_queues_once_nothing_was_handed_to_them_for_the_idle_delay(client: DBOSClient) -> None:
    clock = Clock()
    pace = pace_over(client, clock)
    clock.now += AFTER
    assert pace.settle() is True
    assert intervals(pace) == [IDLE, IDLE]


def test_settle_leaves_the_queues_fast_before_the_idle_delay(client: DBOSClient) -> None:
    clock = Clock()
    pace = pace_over(client, clock)
    clock.now += AFTER - 1
    assert pace.settle() is False
    assert intervals(pace) == [FAST, FAST]


def test_busy_makes_slowed_queues_fast_again(client: DBOSClient) -> None:
    clock = Clock()
    pace = pace_over(client, clock)
    clock.now += AFTER
    pace.settle()
    pace.busy()
    assert intervals(pace) == [FAST, FAST]


def test_settle_keeps_the_queues_fast_while_a_workflow_is_enqueued(client: DBOSClient) -> None:
    clock = Clock()
    pace = pace_over(client, clock)
    client.enqueue({"workflow_name": "nobody.runs_this", "queue_name": RUN_QUEUE, "workflow_id": "w1"})
    clock.now += AFTER
    assert pace.settle() is False
    assert intervals(pace) == [FAST, FAST]


def test_settle_looks_at_most_once_per_idle_delay(client: DBOSClient) -> None:
    clock = Clock()
    pace = pace_over(client, clock)
    client.enqueue({"workflow_name": "nobody.runs_this", "queue_name": RUN_QUEUE, "workflow_id": "w1"})
    clock.now += AFTER
    pace.settle()  # finds the enqueued workflow: busy from now on
    client.cancel_workflow("w1")
    clock.now += AFTER - 1
    assert (pace.settle(), intervals(pace)) == (False, [FAST, FAST])
    clock.now += 1
    assert (pace.settle(), intervals(pace)) == (True, [IDLE, IDLE])


def test_a_pace_whose_idle_interval_is_the_fast_one_never_changes_the_queues(client: DBOSClient) -> None:
    clock = Clock()
    pace = QueuePace(lambda: client, [RUN_QUEUE, REPO_QUEUE], FAST, FAST, AFTER, clock=clock)
    clock.now += AFTER * 3
    assert (pace.settle(), intervals(pace)) == (False, [FAST, FAST])
