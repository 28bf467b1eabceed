"""The `/baton` slash command (`run`, `status`, `list`, `cancel`, a campaign's `skip` and `close`,
`help`; every answer ephemeral) and the App Home tab (the viewer's recent runs and the approvals
waiting for them, via `views.publish`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.models import Actor, ReplyTo, RunState, Source, Trigger
from bot.domain.records import Run, RunView
from bot.domain.untrusted import clean
from bot.store.audit import AuditKind
from bot.surfaces.slack.home import HELP, home_view, list_text, status_text
from handlers.slack.runs import SlackContext, start_run, understand

log = structlog.get_logger(__name__)

RECENT = 10
SCANNED = 500
"""How many of the newest runs a command or the App Home looks through."""


def _views(ctx: SlackContext, keep: Callable[[Run], bool] = lambda _run: True, limit: int = RECENT) -> list[RunView]:
    """The newest `limit` runs `keep` accepts, as views (the filter runs before the views are read)."""
    store = ctx.runs.store
    runs = [r for r in store.list_runs(limit=SCANNED) if keep(r)][:limit]
    return [v for r in runs if (v := store.view(r.run_id)) is not None]


def _by(user: str) -> Callable[[Run], bool]:
    return lambda run: run.spec.trigger.actor.key == f"{Source.slack.value}:{user}"


def on_command(ctx: SlackContext, command: dict[str, Any]) -> tuple[str, Any]:
    """The ephemeral answer to `/baton ...`, and what to do after the ack (a run to start), if any."""
    user, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
    words = str(command.get("text", "")).strip()
    verb, _, rest = words.partition(" ")
    verb, rest = verb.lower(), rest.strip()
    if verb == "run":
        return _run(ctx, command, user, channel, rest)
    if verb == "status":
        return _status(ctx, user, rest), None
    if verb == "list":
        return list_text(_views(ctx)), None
    if verb == "cancel":
        return _cancel(ctx, user, rest), None
    if verb in ("skip", "close"):
        return _campaign(ctx, user, verb, rest), None
    return HELP, None


def _run(ctx: SlackContext, command: dict[str, Any], user: str, channel: str, request: str) -> tuple[str, Any]:
    refusal = ctx.access.may_trigger(user)
    if refusal:
        ctx.runs.store.audit.refused(AuditKind.trigger, Actor(source=Source.slack, id=user), refusal)
        return f"Sorry, {refusal}.", None
    trigger_id = str(command.get("trigger_id") or "")
    if not trigger_id:
        return "Slack sent this command without a trigger id; try again.", None
    trigger = Trigger(
        source=Source.slack,
        actor=ctx.access.actor(user),
        request=clean(request),
        reply_to=ReplyTo(source=Source.slack, channel=channel),
        delivery_id=f"command:{trigger_id}",
    )
    understood = understand(ctx, trigger, channel)
    if isinstance(understood, str):
        return understood, None
    if ctx.runs.store.claim_delivery(f"slack:command:{trigger_id}", understood.run_id) is not None:
        return f"Run `{understood.run_id}` is already started.", None
    spec = understood

    def start() -> None:
        start_run(ctx, spec, channel, None)

    return f"Starting run `{spec.run_id}`: its card is in this channel.", start


def _status(ctx: SlackContext, user: str, run_id: str) -> str:
    store = ctx.runs.store
    if not run_id:
        mine = _views(ctx, _by(user), limit=1)
        return status_text(mine[0]) if mine else "You have no runs yet. `/baton list` shows everyone's."
    view = store.view(run_id)
    return status_text(view) if view else f"No run `{run_id}`."


def _cancel(ctx: SlackContext, user: str, run_id: str) -> str:
    if not run_id:
        return "Which run? `/baton cancel <run>` (`/baton list` shows them)."
    run = ctx.runs.store.get_run(run_id)
    if run is None:
        return f"No run `{run_id}`."
    actor = ctx.access.actor(user)
    refusal = ctx.access.may_stop(actor, run)
    if refusal:
        ctx.runs.store.audit.refused(AuditKind.cancellation, actor, refusal, run_id=run_id)
        return f"You can't cancel this run: {refusal}."
    message: str = ctx.runs.cancel(run_id, actor).message
    return message


def _campaign(ctx: SlackContext, user: str, verb: str, rest: str) -> str:
    """`/baton skip <run> <repo>` drops a repo from a campaign; `/baton close <run>` ends it."""
    run_id, _, repo = rest.partition(" ")
    usage = "`/baton skip <run> <repo>`" if verb == "skip" else "`/baton close <run>`"
    if not run_id or (verb == "skip" and not repo.strip()):
        return f"Which run? {usage} (`/baton list` shows them)."
    run = ctx.runs.store.get_run(run_id)
    if run is None:
        return f"No run `{run_id}`."
    actor = ctx.access.actor(user)
    refusal = ctx.access.may_stop(actor, run)
    if refusal:
        ctx.runs.store.audit.refused(AuditKind.cancellation, actor, refusal, run_id=run_id)
        return f"You can't {verb} in this run: {refusal}."
    result = ctx.runs.skip(run_id, actor, repo.strip()) if verb == "skip" else ctx.runs.close(run_id, actor)
    return result.message


def on_home_opened(ctx: SlackContext, event: dict[str, Any]) -> None:
    if event.get("tab") not in (None, "home"):
        return
    user = str(event.get("user", ""))
    if not user:
        return
    actor = Actor(source=Source.slack, id=user)

    def waits_for_them(run: Run) -> bool:
        return run.state is RunState.awaiting_approval and ctx.access.may_decide(actor, run) is None

    try:
        ctx.client.views_publish(user_id=user, view=home_view(_views(ctx, _by(user)), _views(ctx, waits_for_them)))
    except (SlackApiError, SlackClientError) as err:
        log.warning("slack_home_publish_failed", user=user, error=type(err).__name__)
