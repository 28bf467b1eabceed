"""What the scheduler's jobs do for one firing, given the time it was scheduled for.

Each is safe to run on every replica for the same firing: a cron playbook's run id derives from the
schedule's name and the firing's time (a second start joins the first), and each sweep records its
effect on a run as an event whose dedupe key derives from the run and the due time, acting only when
that event is new. Sweeps measure time from the firing's scheduled time, not the wall clock, so two
replicas firing the same job reach the same verdicts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.config.models import Schedule
from bot.domain.models import Actor, Decision, ReplyTo, RunState, Source, Trigger
from bot.domain.records import RunEvent
from bot.engine.intake import build_spec

if TYPE_CHECKING:
    from bot.domain.ports import Workspace
    from bot.engine.commands import RunCommands

REMINDER = "approval_reminder"
ASKED_KINDS = ("approval_requested", "plan_ready")
"""The events that start (or restart, after a round) a wait for approvers."""


def firing_key(job: str, at: datetime) -> str:
    """`job@2026-01-05T06:00:00Z`: the same on every replica for the same scheduled firing."""
    return f"{job}@{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


# -- cron playbooks ---------------------------------------------------------------------------------
def post_to_reply(post_to: str | None) -> ReplyTo:
    """Where a scheduled run's progress goes: a Slack channel (`#eng` or `C123`), or nowhere but
    the dashboard and the CLI."""
    if post_to:
        return ReplyTo(source=Source.slack, channel=post_to)
    return ReplyTo(source=Source.schedule)


def scheduled_trigger(schedule: Schedule, at: datetime) -> Trigger:
    """The trigger of `schedule`'s firing at `at`; its delivery id names the job and the time."""
    return Trigger(
        source=Source.schedule,
        actor=Actor(source=Source.schedule, id=schedule.name, display=f"schedule {schedule.name}"),
        request=schedule.request,
        reply_to=post_to_reply(schedule.post_to),
        delivery_id=firing_key(f"schedule:{schedule.name}", at),
        received_at=at,
    )


def start_scheduled_run(runs: RunCommands, schedule: Schedule, at: datetime) -> str:
    """Start the run of this firing, or join it when a replica (or an earlier start) already did."""
    spec = build_spec(scheduled_trigger(schedule, at), runs.config, repos=schedule.repos, playbook=schedule.playbook)
    if runs.store.get_run(spec.run_id) is not None:
        return f"joined {spec.run_id}"
    runs.submit(spec)
    return f"started {spec.run_id}"


# -- approval reminders and expiry ------------------------------------------------------------------
def _asked(events: list[RunEvent]) -> RunEvent | None:
    found = [e for e in events if e.kind in ASKED_KINDS]
    return found[-1] if found else None


def _waiting(runs: RunCommands) -> list[str]:
    return [r.run_id for r in runs.store.list_runs(limit=1000, state=RunState.awaiting_approval)]


def _approved_enough(runs: RunCommands, run_id: str) -> bool:
    """Enough valid approvals: the run waits for checks, not for people."""
    valid = {a.actor.key for a in runs.store.approvals(run_id) if a.valid and a.decision is Decision.approve}
    return len(valid) >= runs.config.approval.min_approvals


def remind_approvers(runs: RunCommands, at: datetime) -> str:
    """Record one `approval_reminder` per run for the latest reminder due by `at` (every
    `approval.remind_after_hours` since approval was asked); surfaces post it in the run's thread."""
    hours = runs.config.approval.remind_after_hours
    if hours is None:
        return "reminders are off"
    every = timedelta(hours=hours)
    sent = 0
    for run_id in _waiting(runs):
        asked = _asked(runs.store.events(run_id))
        if asked is None or _approved_enough(runs, run_id):
            continue
        number = int((at - asked.at) / every)
        if number < 1:
            continue
        due = asked.at + number * every
        data = {"number": number, "due": _iso(due), "waited_hours": round(number * hours, 3)}
        key = f"{REMINDER}:{asked.seq}:{number}"
        sent += runs.store.append_event(run_id, REMINDER, data, dedupe_key=key) is not None
    return f"{sent} reminder(s)"


def resume_claimed(runs: RunCommands, _at: datetime) -> str:
    """Enqueue again the continuation of every claimed run: a process that stopped between claiming
    a parked run and enqueueing its continuation would otherwise leave it until some executing
    process restarts (enqueueing under the same workflow id joins one that exists)."""
    return f"{runs.resume_claimed()} claimed"


def expire_approvals(runs: RunCommands, at: datetime) -> str:
    """Tell each run whose approval window closed by `at` that it expired (once per run and attempt);
    the run applies `approval.on_expiry` to its PRs and ends `expired`."""
    window = timedelta(hours=runs.config.approval.expiry_hours)
    told = 0
    for run_id in _waiting(runs):
        run = runs.store.get_run(run_id)
        if run is None:
            continue
        deadline = run.created_at + window
        if at < deadline:
            continue
        data = {"deadline": _iso(deadline)}
        if runs.store.append_event(run_id, "expiry_due", data, dedupe_key=f"expiry:{run.attempt}") is None:
            continue  # already told, by this replica or another
        runs.expire(run_id)
        told += 1
    return f"{told} expired"


# -- workspaces ---------------------------------------------------------------------------------------
def clean_workspaces(runs: RunCommands, workspace: Workspace, at: datetime) -> str:
    """Remove the workspaces of runs that ended `cleanup.workspaces_after_hours` before `at`; runs
    still going (or waiting) keep theirs, whatever their age."""
    hours = runs.config.cleanup.workspaces_after_hours
    if hours is None:
        return "cleanup is off"
    cutoff = at - timedelta(hours=hours)
    removed = 0
    for run_id in workspace.run_ids():
        run = runs.store.get_run(run_id)
        if run is None or not run.state.terminal or run.updated_at > cutoff:
            continue
        workspace.cleanup(run_id)
        data = {"ended": _iso(run.updated_at), "state": run.state.value}
        runs.store.append_event(run_id, "workspace_removed", data, dedupe_key=f"workspace_removed:{run.attempt}")
        removed += 1
    return f"{removed} workspace(s) removed"


# -- deliveries -----------------------------------------------------------------------------------------
def prune_deliveries(runs: RunCommands, at: datetime) -> str:
    """Forget deliveries received more than `retention.deliveries_days` before `at` (a comment or
    label event that old is never acted on again, so nothing needs them)."""
    cutoff = at - timedelta(days=runs.config.retention.deliveries_days)
    return f"{runs.store.prune_deliveries(cutoff)} delivery record(s) pruned"
