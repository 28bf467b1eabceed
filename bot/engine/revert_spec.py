"""What asking for a revert needs, with no engine machinery (the run service and the edges import it):
the revert run's deterministic id, why a run cannot be reverted, and the revert run's spec.
The revert run itself is bot/engine/revert.py.
"""

from __future__ import annotations

import hashlib

from bot.domain.models import Actor, RunSpec, RunState, Trigger
from bot.domain.records import Run
from bot.domain.untrusted import headline

REVERT_FACT = "revert"
"""On the reverted run: {"run_id": the revert run}."""


def revert_run_id(run_id: str) -> str:
    """The revert run of `run_id` (deterministic: a second request joins the first)."""
    return "v" + hashlib.sha256(f"revert:{run_id}".encode()).hexdigest()[:11]


def refusal(run: Run | None, run_id: str) -> str | None:
    """Why `run_id` cannot be reverted, or None."""
    if run is None:
        return f"no run {run_id}"
    if run.state is not RunState.merged:
        return f"run {run_id} is {run.state.value}; only a merged run can be reverted (nothing of it is merged)"
    return None


def revert_spec(run: Run, actor: Actor, delivery_id: str) -> RunSpec:
    """The revert run of `run`, asked for by `actor`: same repos, playbook and thread, its own id."""
    spec = run.spec
    trigger = Trigger(
        source=actor.source,
        actor=actor,
        request=f"Revert run {spec.run_id}: {headline(spec.trigger.request)[:200]}",
        reply_to=spec.trigger.reply_to,
        delivery_id=delivery_id,
    )
    return RunSpec(
        run_id=revert_run_id(spec.run_id),
        trigger=trigger,
        repos=spec.repos,
        playbook=spec.playbook,
        budget=spec.budget,
        reverts=spec.run_id,
    )
