"""The surface hub delivers each run's events to the surfaces that want the run: in order, at
least once, from where it stopped — also after a restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from bot.domain.models import Actor, ReplyTo, RunSpec, Source, Trigger
from bot.domain.records import RunEvent, RunView
from bot.store.store import Store
from bot.surfaces.hub import SurfaceHub
from tests.views import migrated_store


class Recorder:
    def __init__(self, fail_at: int | None = None) -> None:
        self.seen: list[tuple[str, int, str]] = []
        self.fail_at = fail_at
        self.flushes = 0

    def publish(self, view: RunView, event: RunEvent) -> None:
        if self.fail_at == event.seq:
            self.fail_at = None
            raise RuntimeError("service unavailable")
        self.seen.append((event.run_id, event.seq, event.kind))

    def flush(self) -> None:
        self.flushes += 1


def _store(tmp_path: Path) -> Store:
    return migrated_store(tmp_path)


def _run(store: Store, run_id: str, source: Source = Source.slack) -> None:
    actor = Actor(source=source, id="U1")
    trigger = Trigger(source=source, actor=actor, request="do it", reply_to=ReplyTo(source=source), delivery_id=run_id)
    store.create_run(RunSpec(run_id=run_id, trigger=trigger, repos=["api"], playbook="default"))


def _run_threads_until(
    hub: SurfaceHub, done: Callable[[], bool], before_stop: Callable[[], None] | None = None
) -> None:
    """The hub's background threads, running until `done()` (5 s at most); `before_stop` runs before they stop."""
    hub.start()
    try:
        deadline = time.monotonic() + 5
        while not done() and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        if before_stop is not None:
            before_stop()
        hub.stop()


def _kinds_after_create(store: Store, run_id: str) -> list[int]:
    return [e.seq for e in store.events(run_id)]


def test_every_event_reaches_a_surface_in_order(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _run(store, "r1")
    store.append_event("r1", "plan_ready", {})
    hub, surface = SurfaceHub(store), Recorder()
    hub.register("slack", surface, lambda view: True)

    hub.pump_once()

    assert [seq for _, seq, _ in surface.seen] == _kinds_after_create(store, "r1")
    assert surface.seen[-1][2] == "plan_ready"


def test_only_new_events_are_delivered_on_the_next_tick(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _run(store, "r1")
    hub, surface = SurfaceHub(store), Recorder()
    hub.register("slack", surface, lambda view: True)
    hub.pump_once()
    delivered = len(surface.seen)

    store.append_event("r1", "merged", {})
    hub.pump_once()

    assert [kind for _, _, kind in surface.seen[delivered:]] == ["merged"]


def test_a_surface_gets_only_the_runs_it_wants(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _run(store, "r-slack", Source.slack)
    _run(store, "r-github", Source.github)
    hub, surface = SurfaceHub(store), Recorder()
    hub.register("slack", surface, lambda view: view.run.spec.trigger.source is Source.slack)

    hub.pump_once()

    assert {run_id for run_id, _, _ in surface.seen} == {"r-slack"}


def test_a_failed_publish_is_retried_next_tick_without_skipping(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _run(store, "r1")
    store.append_event("r1", "plan_ready", {})
    failing_seq = store.last_seq("r1")
    hub, surface = SurfaceHub(store), Recorder(fail_at=failing_seq)
    hub.register("slack", surface, lambda view: True)

    hub.pump_once()
    hub.pump_once()

    assert [seq for _, seq, _ in surface.seen] == _kinds_after_create(store, "r1")


def test_a_restarted_hub_continues_where_the_last_one_stopped(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _run(store, "r1")
    first = Recorder()
    hub = SurfaceHub(store)
    hub.register("slack", first, lambda view: True)
    hub.pump_once()
    store.append_event("r1", "merged", {})

    second = Recorder()
    restarted = SurfaceHub(store)
    restarted.register("slack", second, lambda view: True)
    restarted.pump_once()

    assert [kind for _, _, kind in second.seen] == ["merged"]


def test_each_surface_keeps_its_own_position(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _run(store, "r1")
    hub, slack, linear = SurfaceHub(store), Recorder(), Recorder(fail_at=1)
    hub.register("slack", slack, lambda view: True)
    hub.register("linear", linear, lambda view: True)

    hub.pump_once()
    hub.pump_once()

    assert [seq for _, seq, _ in slack.seen] == [seq for _, seq, _ in linear.seen]


def test_coalescing_surfaces_are_flushed_every_tick(tmp_path: Path) -> None:
    store = _store(tmp_path)
    hub, surface = SurfaceHub(store), Recorder()
    hub.register("slack", surface, lambda view: True)

    hub.pump_once()
    hub.pump_once()

    assert surface.flushes == 2


def test_the_background_threads_deliver_without_being_asked(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _run(store, "r1")
    hub, surface = SurfaceHub(store, interval_s=0.01), Recorder()
    hub.register("slack", surface, lambda view: True)
    _run_threads_until(hub, lambda: bool(surface.seen))

    assert surface.seen


class Stuck:
    """A surface whose service hangs (say, a long Retry-After) until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def publish(self, view: RunView, event: RunEvent) -> None:
        self.release.wait(10)


def test_a_stuck_surface_does_not_hold_back_the_others(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _run(store, "r1")
    hub, stuck, healthy = SurfaceHub(store, interval_s=0.01), Stuck(), Recorder()
    hub.register("slack", stuck, lambda view: True)
    hub.register("linear", healthy, lambda view: True)
    _run_threads_until(hub, lambda: bool(healthy.seen), before_stop=stuck.release.set)

    assert healthy.seen


class StatesSeen:
    """Records, per event, the run state of the view it came with."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def publish(self, view: RunView, event: RunEvent) -> None:
        self.seen.append((event.kind + ":" + str(event.data.get("to", "")), view.run.state.value))


class RacingStore(Store):
    """A store where, once, the engine changes the run's state after the hub read the run's view
    and before it reads the run's events."""

    race: Callable[[], None] | None = None

    def events(self, run_id: str, after_seq: int = 0) -> list[RunEvent]:
        if self.race is not None:
            race, self.race = self.race, None
            race()
        return super().events(run_id, after_seq)


def test_an_event_written_while_the_view_is_read_waits_for_a_view_that_shows_it(tmp_path: Path) -> None:
    from bot.domain.models import RunState
    from bot.store.store import make_engine, migrate

    engine = make_engine(f"sqlite:///{tmp_path / 'race.db'}")
    migrate(engine)
    store = RacingStore(engine)
    _run(store, "r1")
    hub, surface = SurfaceHub(store), StatesSeen()
    hub.register("slack", surface, lambda view: True)
    hub.pump_once()
    store.race = lambda: store.set_state("r1", RunState.rejected)
    store.append_event("r1", "decision", {"decision": "reject"})

    hub.pump_once()
    hub.pump_once()

    assert surface.seen[-1] == ("state:rejected", "rejected")


def test_an_event_appended_in_this_process_wakes_an_idle_hub(tmp_path: Path) -> None:
    store = _store(tmp_path)
    _run(store, "r1")
    hub, surface = SurfaceHub(store, idle_interval_s=3600, hot_s=0), Recorder()
    hub.register("slack", surface, lambda view: True)

    def append_once_started() -> None:
        # The first pump delivers what is there; then the threads sleep the idle hour unless woken.
        while len(surface.seen) < 1:
            time.sleep(0.01)
        store.append_event("r1", "plan_ready", {})

    writer = threading.Thread(target=append_once_started)
    writer.start()
    _run_threads_until(hub, lambda: any(kind == "plan_ready" for _, _, kind in surface.seen))
    writer.join()

    assert [kind for _, _, kind in surface.seen] == ["run_created", "plan_ready"]


def test_the_store_announces_a_commit_that_appended_an_event_and_not_a_read(tmp_path: Path) -> None:
    store = _store(tmp_path)
    announced: list[str] = []
    store.on_append(lambda: announced.append("appended"))
    _run(store, "r1")  # the run's row, then its run_created event
    store.events("r1")
    store.get_run("r1")
    store.append_event("r1", "plan_ready", {})

    assert announced == ["appended", "appended"]
