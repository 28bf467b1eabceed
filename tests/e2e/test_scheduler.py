"""The scheduler on a real SQLite store with a launched executor: cron playbooks start one run per
firing however many schedulers fire it, a restart after downtime catches up at most once, expiry
leaves PRs open unless told to close them, and cleanup removes only old workspaces of ended runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.clock.jobs import firing_key
from bot.clock.scheduler import Scheduler
from bot.domain.models import ChangeState, RunState, Source
from tests.e2e.conftest import RuntimeFactory, agent, approve_until_merged, make_repos, repo_entries, submit, wait_for
from tests.fakes.served_app import until

MONDAY_0630 = datetime(2026, 1, 5, 6, 30, tzinfo=UTC)


def _config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    remotes = make_repos(tmp_path, ["api"])
    return {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "bumped")],
        **extra,
    }


def _scheduled_runs(runtime: Runtime) -> dict[str, list[str]]:
    """Firing (the trigger's delivery id) → the runs started for it."""
    runs: dict[str, list[str]] = {}
    for run in runtime.store.list_runs(limit=1000):
        trigger = run.spec.trigger
        if trigger.source is Source.schedule:
            runs.setdefault(trigger.delivery_id, []).append(run.run_id)
    return runs


def _fired_by_apscheduler(scheduler: Scheduler, after: datetime) -> set[datetime]:
    return {f.at for f in scheduler.fired if f.at > after and f.job == "schedule:bump"}


def test_two_schedulers_on_one_database_start_one_run_per_firing(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    # Every other second, seconds first: APScheduler fires it while the test watches.
    schedule = {"name": "bump", "cron": "*/2 * * * * *", "request": "bump deps", "repos": ["api"]}
    runtime = start_runtime(_config(tmp_path, schedules=[{**schedule, "misfire_grace_s": 30}]))
    first, second = runtime.scheduler, runtime.make_scheduler()
    started = datetime.now(UTC)
    first.start()
    second.start()
    try:
        common = until(
            "both schedulers fired the same scheduled time",
            lambda: _fired_by_apscheduler(first, started) & _fired_by_apscheduler(second, started),
        )
    finally:
        first.stop()
        second.stop()

    runs = _scheduled_runs(runtime)
    # Only the cron job's firings: the minute sweeps (expiry, claimed continuations) fire too.
    bumps = [f for s in (first, second) for f in s.fired if f.job == "schedule:bump"]
    fired = {f.at for f in bumps}
    assert {firing_key("schedule:bump", at) for at in fired} == set(runs)
    assert all(len(ids) == 1 for ids in runs.values()), runs
    for at in common:
        [run_id] = runs[firing_key("schedule:bump", at)]
        outcomes = sorted(f.outcome.split()[0] for f in bumps if f.at == at)
        assert outcomes == ["joined", "started"] or outcomes == ["started", "started"], outcomes
        view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
        assert view.run.spec.repos == ["api"]
        assert view.run.spec.trigger.actor.key == "schedule:bump"


def test_a_restart_after_downtime_starts_only_the_latest_missed_firing_within_grace(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    daily = {"name": "nightly", "cron": "0 6 * * *", "request": "bump deps", "repos": ["api"], "misfire_grace_s": 3600}
    runtime = start_runtime(_config(tmp_path, schedules=[daily]))

    # Down since Friday: Saturday's, Sunday's and Monday's 06:00 were missed; it is Monday 06:30.
    for replica in (
        runtime.make_scheduler(clock=lambda: MONDAY_0630),
        runtime.make_scheduler(clock=lambda: MONDAY_0630),
    ):
        replica.start()
        replica.stop()
    # Another replica starts at 08:00: Monday's firing is older than the grace time.
    late = runtime.make_scheduler(clock=lambda: MONDAY_0630 + timedelta(hours=1, minutes=30))
    assert late.catch_up() == []

    runs = _scheduled_runs(runtime)
    assert list(runs) == [firing_key("schedule:nightly", datetime(2026, 1, 5, 6, 0, tzinfo=UTC))]
    assert len(runs[next(iter(runs))]) == 1


def test_expiry_leaves_the_prs_open_by_default(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime(_config(tmp_path))
    run_id = submit(runtime, "move to /v2/items", ["api"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    deadline = view.run.created_at + timedelta(hours=72)

    assert runtime.scheduler.fire("approval-expiry", deadline - timedelta(minutes=1)) == "0 expired"
    assert runtime.scheduler.fire("approval-expiry", deadline) == "1 expired"
    assert runtime.make_scheduler().fire("approval-expiry", deadline) == "0 expired"  # another replica

    view = wait_for(runtime, run_id, RunState.expired, timeout=30)
    assert view.run.error is not None and "PRs left open: api #1" in view.run.error
    [change] = view.changes
    assert change.state is ChangeState.open
    assert runtime.forges.refresh(change).state is ChangeState.open


def test_cleanup_removes_only_old_workspaces_of_ended_runs(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = start_runtime(_config(tmp_path, cleanup={"workspaces_after_hours": 24}))
    ended = submit(runtime, "move to /v2/items", ["api"])
    wait_for(runtime, ended, RunState.awaiting_approval, timeout=60)
    approve_until_merged(runtime, ended)
    waiting = submit(runtime, "move to /v3/items", ["api"])
    wait_for(runtime, waiting, RunState.awaiting_approval, timeout=60)
    workspaces = tmp_path / ".baton" / "workspaces"
    assert sorted(p.name for p in workspaces.iterdir()) == sorted([ended, waiting])
    now = datetime.now(UTC)

    assert runtime.scheduler.fire("workspace-cleanup", now + timedelta(hours=23)) == "0 workspace(s) removed"
    assert runtime.scheduler.fire("workspace-cleanup", now + timedelta(days=30)) == "1 workspace(s) removed"

    assert [p.name for p in workspaces.iterdir()] == [waiting]
    assert [e.kind for e in runtime.store.events(ended)].count("workspace_removed") == 1
