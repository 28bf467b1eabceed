"""The clock of `baton serve`: APScheduler 3 fires Baton's jobs, each firing named by its job and the
time it was scheduled for.

Jobs come from `baton.yml` (an in-memory job store; nothing to migrate): one per `schedules[]` entry
(a cron playbook), the approval sweeps (reminders when `approval.remind_after_hours` is set, expiry),
workspace cleanup, and what sources register (GitHub's checks poller). A firing's work is keyed by
(job, scheduled time) — a cron firing starts the run whose id derives from both, a sweep records each
effect under a key derived from the run and its due time — so several replicas firing the same job
do its work once. Interval jobs are aligned to the epoch, so every replica computes the same times.

Misfires: APScheduler coalesces missed firings into one and drops it once it is older than the job's
grace time. A replica starting after downtime fires each cron playbook's latest missed firing once,
if it is within that schedule's `misfire_grace_s` — never a burst of catch-up runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import structlog
from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
    JobExecutionEvent,
)
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from bot.clock import jobs
from bot.clock.jobs import firing_key
from bot.config.cron import cron_trigger, latest_fire_time
from bot.domain.models import utcnow

if TYPE_CHECKING:
    from bot.domain.ports import Workspace
    from bot.engine.commands import RunCommands

log = structlog.get_logger(__name__)

JobFn = Callable[[datetime], object]
"""A job's work for one firing, given the time the firing was scheduled for."""
Clock = Callable[[], datetime]

SWEEP_S = 60.0
"""How often the approval sweeps (reminders, expiry) look for runs that are due."""
CLEANUP_S = 3600.0
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Job:
    id: str
    trigger: Any
    work: JobFn
    grace_s: float
    catch_up: bool = False


@dataclass(frozen=True)
class Firing:
    """One firing this scheduler handled: which job, for which scheduled time, and what it did."""

    job: str
    at: datetime
    outcome: str


class _FiringExecutor(ThreadPoolExecutor):  # type: ignore[misc]
    """APScheduler's thread pool, except that each job is handed the time its firing was scheduled
    for (a firing's identity), which APScheduler's own runner keeps to itself."""

    def __init__(self, fire: Callable[[str, datetime], object]) -> None:
        super().__init__(max_workers=4)
        self._fire = fire

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def work() -> list[JobExecutionEvent]:
            events = []
            for run_time in run_times:  # one: jobs coalesce
                late = utcnow() - run_time
                if job.misfire_grace_time is not None and late > timedelta(seconds=job.misfire_grace_time):
                    log.warning(
                        "scheduler.missed",
                        job=job.id,
                        scheduled=run_time.isoformat(),
                        late_s=round(late.total_seconds(), 1),
                    )
                    events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, job._jobstore_alias, run_time))
                    continue
                try:
                    self._fire(job.id, run_time)
                except Exception as err:
                    events.append(
                        JobExecutionEvent(EVENT_JOB_ERROR, job.id, job._jobstore_alias, run_time, exception=err)
                    )
                else:
                    events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, run_time))
            return events

        future = self._pool.submit(work)
        future.add_done_callback(lambda done: self._run_job_success(job.id, done.result()))


class Scheduler:
    """Built by the composition root around the run service; `start()` in `baton serve`, `stop()` on
    exit. `has_surface(name)` tells whether a source's surface is registered (a schedule posting to
    Slack needs Slack's)."""

    def __init__(
        self,
        runs: RunCommands,
        workspace: Workspace,
        clock: Clock = utcnow,
        has_surface: Callable[[str], bool] = lambda _name: True,
    ) -> None:
        self.runs = runs
        self.clock = clock
        self.has_surface = has_surface
        self.fired: list[Firing] = []
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._aps: BackgroundScheduler | None = None
        config = runs.config
        for schedule in config.schedules:
            self.add(
                f"schedule:{schedule.name}",
                cron_trigger(schedule.cron, schedule.timezone),
                partial(jobs.start_scheduled_run, runs, schedule),
                grace_s=schedule.misfire_grace_s,
                catch_up=True,
            )
        if config.approval.remind_after_hours is not None:
            self.every("approval-reminders", SWEEP_S, partial(jobs.remind_approvers, runs))
        self.every("approval-expiry", SWEEP_S, partial(jobs.expire_approvals, runs))
        self.every("claimed-continuations", SWEEP_S, partial(jobs.resume_claimed, runs))
        if config.cleanup.workspaces_after_hours is not None:
            self.every("workspace-cleanup", CLEANUP_S, partial(jobs.clean_workspaces, runs, workspace))
        self.every("deliveries-pruning", CLEANUP_S, partial(jobs.prune_deliveries, runs))

    @property
    def job_ids(self) -> list[str]:
        return list(self._jobs)

    # -- jobs ------------------------------------------------------------------------------------
    def add(self, job_id: str, trigger: Any, work: JobFn, *, grace_s: float, catch_up: bool = False) -> None:
        """Fire `work` on `trigger`; a firing later than `grace_s` is dropped (one, coalesced)."""
        job = Job(job_id, trigger, work, grace_s, catch_up)
        self._jobs[job_id] = job
        if self._aps is not None:
            self._schedule(self._aps, job)

    def every(self, job_id: str, seconds: float, work: JobFn) -> None:
        """Fire `work` every `seconds`, at multiples of it since the epoch (the same on every replica)."""
        trigger = IntervalTrigger(seconds=seconds, start_date=EPOCH, timezone=UTC)
        self.add(job_id, trigger, work, grace_s=seconds)

    def fire(self, job_id: str, at: datetime) -> object:
        """Do the work of `job_id`'s firing scheduled for `at` (what APScheduler calls when due)."""
        job = self._jobs[job_id]
        key = firing_key(job_id, at)
        try:
            outcome = job.work(at)
        except Exception:
            log.exception("scheduler.job_failed", firing=key)
            self._record(Firing(job_id, at, "failed"))
            raise
        log.info("scheduler.fired", firing=key, outcome=str(outcome)[:200])
        self._record(Firing(job_id, at, str(outcome)))
        return outcome

    def _record(self, firing: Firing) -> None:
        with self._lock:
            self.fired = [*self.fired[-999:], firing]

    # -- running ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Fire each cron playbook's missed firing (within its grace), then keep time."""
        if self._aps is not None:
            return
        for schedule in self.runs.config.schedules:
            if schedule.post_to and not self.has_surface("slack"):  # sources register before start
                log.warning("scheduler.post_to_needs_slack", schedule=schedule.name, post_to=schedule.post_to)
        self.catch_up()
        aps = BackgroundScheduler(
            timezone=UTC,
            executors={"default": _FiringExecutor(self.fire)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        for job in self._jobs.values():
            self._schedule(aps, job)
        aps.start()
        self._aps = aps
        log.info("scheduler.started", jobs=self.job_ids)

    def catch_up(self) -> list[Firing]:
        """The latest missed firing of each cron playbook, if it is within its grace time."""
        now = self.clock()
        done = []
        for job in self._jobs.values():
            if not job.catch_up or job.grace_s <= 0:
                continue
            missed = latest_fire_time(job.trigger, now, timedelta(seconds=job.grace_s))
            if missed is None:
                continue
            try:
                outcome = self.fire(job.id, missed)
            except Exception:  # logged by fire(); the other jobs still catch up
                continue
            done.append(Firing(job.id, missed, str(outcome)))
        return done

    def stop(self) -> None:
        aps, self._aps = self._aps, None
        if aps is not None:
            aps.shutdown(wait=True)

    @staticmethod
    def _schedule(aps: BackgroundScheduler, job: Job) -> None:
        aps.add_job(
            _noop,
            trigger=job.trigger,
            id=job.id,
            name=job.id,
            misfire_grace_time=max(int(job.grace_s), 1),
            replace_existing=True,
        )


def _noop() -> None:
    """What APScheduler believes it runs; the executor runs the job's own work instead."""
