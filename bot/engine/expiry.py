"""A run whose approval window closed: its PRs are closed or left open per `approval.on_expiry`,
and the run ends `expired` with a reason that says which (the cards show it).

The body of one durable step (runs.py `expire_step`): closing an already closed PR is a no-op and
the events carry the step's dedupe keys, so a replayed step changes nothing twice.
"""

from __future__ import annotations

import structlog

from bot.domain.models import ChangeState, RunState
from bot.domain.ports import ForgeError
from bot.engine import activities
from bot.engine.deps import EngineDeps

log = structlog.get_logger(__name__)

EXPIRED_REASON = "approval expired"


def expiry_reason(hours: float) -> str:
    """Why a run expired, in words for people (hours as configured, without a trailing `.0`)."""
    return f"{EXPIRED_REASON}: no approval within {hours:g} h"


def expire_run(deps: EngineDeps, run_id: str, reason: str) -> str:
    """Apply the expiry policy to the run's open PRs and end the run; returns the stated reason."""
    close = deps.config.approval.on_expiry == "close"
    emit = activities.Emitter(deps, run_id)
    closed: list[str] = []
    kept: list[str] = []
    for change in deps.store.changes(run_id):
        if change.state is not ChangeState.open:
            continue
        label = f"{change.repo} #{change.number}"
        if not close:
            kept.append(label)
            continue
        try:
            fresh = deps.forge.close(change)
        except ForgeError as err:  # the run still expires; the card says which PR stayed open
            log.warning("expiry.close_failed", run_id=run_id, repo=change.repo, error=str(err)[:300])
            kept.append(f"{label} (could not close it)")
            continue
        update = {"order": change.order, "run_id": run_id, "checks": change.checks}
        deps.store.save_change(fresh.model_copy(update=update))
        if fresh.state is ChangeState.closed:
            closed.append(label)
            emit("pr_closed", {"repo": change.repo, "number": change.number, "url": change.url})
    parts = [reason]
    if closed:
        parts.append(f"PRs closed: {', '.join(closed)}")
    if kept:
        parts.append(f"PRs left open: {', '.join(kept)}")
    text = "; ".join(parts)
    activities.set_state(deps, run_id, RunState.expired, error=text)
    return text
