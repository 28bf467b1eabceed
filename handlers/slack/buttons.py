"""Clicks on a run's card (`block_actions`) and the :x: reaction that cancels a run.

The button's value names the run and, for a decision, the digest of the PR heads the card showed.
The click is checked against the run as it is now: a run that moved on (another state, or PRs pushed
to since) gets an ephemeral note and a refreshed card; an unauthorised clicker is told who can
approve; an authorised approval is recorded through the engine's ApprovalService, bound to the heads
the clicker saw (a second click is the same approval).
"""

from __future__ import annotations

from typing import Any

import structlog

from bot.domain.models import Actor, Decision
from bot.engine.approvals import DecisionOutcome
from bot.store.audit import AuditKind
from bot.surfaces.slack.card_actions import ACTION_IDS, parse_button_value
from handlers.slack.runs import SlackContext

log = structlog.get_logger(__name__)

ACTIONS = {action_id: name for name, action_id in ACTION_IDS.items()}
CANCEL_REACTIONS = frozenset({"x"})


def on_button(ctx: SlackContext, body: dict[str, Any], action: dict[str, Any]) -> None:
    user = str((body.get("user") or {}).get("id", ""))
    container = body.get("container") or {}
    channel = str(container.get("channel_id") or (body.get("channel") or {}).get("id", ""))
    thread_ts = container.get("thread_ts") or container.get("message_ts")
    name = ACTIONS.get(str(action.get("action_id", "")))
    chosen = action.get("selected_option") or {}  # a select (drop from the plan) carries its option's value
    value = parse_button_value(str(action.get("value") or chosen.get("value", "")))
    if not user or not channel or name is None or value is None:
        log.info("slack_button_ignored", action_id=action.get("action_id"), reason="not a Baton button")
        return
    store = ctx.runs.store
    run = store.get_run(value.run)
    if run is None:
        ctx.ephemeral(channel, user, f"Run `{value.run}` is not known here.", thread_ts)
        return
    actor = ctx.access.actor(user)
    log.info("slack_button", run_id=run.run_id, action=name, user=user)
    if name in ("approve", "reject"):
        decision = Decision.approve if name == "approve" else Decision.reject
        _decide(ctx, run.run_id, actor, decision, value.heads, channel, thread_ts)
        return
    if name == "drop":
        dropped = ctx.runs.drop_repo(run.run_id, actor, value.repo or "")
        if not dropped.accepted:
            ctx.ephemeral(channel, user, f"Not dropped: {dropped.message}.", thread_ts)
        return
    refusal = ctx.access.may_stop(actor, run)
    if refusal:
        kind = {"cancel": AuditKind.cancellation, "retry": AuditKind.retry}.get(name, AuditKind.revert)
        store.audit.refused(kind, actor, refusal, run_id=run.run_id)
        ctx.ephemeral(channel, user, f"You can't {name} this run: {refusal}.", thread_ts)
        return
    if name == "revert":  # the revert run's card goes into this thread before it starts
        result = ctx.runs.revert(run.run_id, actor, lambda rid: _post_card(ctx, rid, channel, thread_ts))
    else:
        commands = {"cancel": ctx.runs.cancel, "retry": ctx.runs.retry, "close": ctx.runs.close}
        result = commands[name](run.run_id, actor)
    if not result.accepted:
        ctx.ephemeral(channel, user, result.message, thread_ts)
        ctx.surface.refresh(run.run_id)


def _decide(
    ctx: SlackContext,
    run_id: str,
    actor: Actor,
    decision: Decision,
    seen_digest: str | None,
    channel: str,
    thread_ts: str | None,
) -> None:
    """Hand the click to the approval service, with the heads the card showed; say what came of it."""
    verb = decision.value
    result = ctx.runs.decide(run_id, actor, decision, seen_digest=seen_digest or "")
    if result.outcome is DecisionOutcome.recorded:
        return
    if result.outcome is DecisionOutcome.duplicate:
        ctx.ephemeral(channel, actor.id, f"Your {verb} was already recorded.", thread_ts)
    elif result.outcome is DecisionOutcome.not_waiting:
        run = ctx.runs.store.get_run(run_id)
        state = run.state.value.replace("_", " ") if run else "gone"
        ctx.ephemeral(channel, actor.id, f"This run is {state} now, so there is nothing to {verb}.", thread_ts)
        ctx.surface.refresh(run_id)
    elif result.outcome is DecisionOutcome.stale:
        text = "The PRs changed since this card was drawn; look at the refreshed card and decide again."
        ctx.ephemeral(channel, actor.id, text, thread_ts)
        ctx.surface.refresh(run_id)
    else:
        text = f"You can't {verb} this run: {result.message}. Who can approve: {ctx.approvers}."
        ctx.ephemeral(channel, actor.id, text, thread_ts)


def on_reaction(ctx: SlackContext, event_id: str, event: dict[str, Any]) -> None:
    """`reaction_added`: :x: on a run's card, by its requester or an approver, cancels the run."""
    item = event.get("item") or {}
    if event.get("reaction") not in CANCEL_REACTIONS or item.get("type") != "message":
        return
    channel, ts, user = str(item.get("channel", "")), str(item.get("ts", "")), str(event.get("user", ""))
    run_id = ctx.runs.store.run_for_link(f"slack:card:{channel}:{ts}")
    if run_id is None or not user:
        return
    if ctx.runs.store.claim_delivery(f"slack:{event_id}", run_id) is not None:
        log.info("slack_event_duplicate", event_id=event_id, run_id=run_id)
        return
    run = ctx.runs.store.get_run(run_id)
    if run is None or run.state.terminal:
        return
    actor = ctx.access.actor(user)
    refusal = ctx.access.may_stop(actor, run)
    where = (ctx.runs.store.get_fact(run_id, "slack:card") or {}).get("thread_ts")
    if refusal:
        ctx.runs.store.audit.refused(AuditKind.cancellation, actor, refusal, run_id=run_id)
        ctx.ephemeral(channel, user, f"You can't cancel this run: {refusal}.", where)
        return
    ctx.runs.cancel(run_id, actor)
    log.info("slack_reaction_cancel", run_id=run_id, user=user)


def _post_card(ctx: SlackContext, run_id: str, channel: str, thread_ts: str | None) -> None:
    ctx.surface.post_card(run_id, channel, thread_ts)
