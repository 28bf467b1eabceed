"""Starting runs from Slack and following up on them.

A mention in a channel starts a run whose card is posted in the mention's thread before any agent
work; a mention inside a run's thread is a follow-up to that run. Every delivery is claimed once by
its `event_id`, so Slack's retries never start a second run. A request that cannot be understood
(unknown repo, agent or playbook, a bad budget) gets a reply in the thread saying what is valid.
Slack has no per-repo permissions, so a channel's `slack.channel_repos` is its scope: a request may
name repos outside it only when the operator has listed who may start runs (`slack.allowed_users`
or `allowed_usergroups`) — in a workspace where anyone may ask, a request stays within its channel.
These functions are synchronous: the bolt listeners run them in a worker thread after the ack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.models import Actor, ReplyTo, RunSpec, Source, Trigger
from bot.domain.untrusted import clean
from bot.engine.commands import RunCommands
from bot.engine.intake import RequestError, asks_discovery, build_spec, parse_request, reach, run_id_for
from bot.preflight import refusal
from bot.store.audit import AuditKind
from bot.surfaces.slack.home import HELP
from bot.surfaces.slack.surface import SlackSurface, thread_key
from handlers.commands import dropped_repo, mention_text
from handlers.slack.access import SlackAccess

log = structlog.get_logger(__name__)


@dataclass
class SlackContext:
    """What every Slack handler needs: the run service, the Web API, the card surface and the rules."""

    runs: RunCommands
    client: WebClient
    surface: SlackSurface
    access: SlackAccess
    approvers: str

    def reply(self, channel: str, thread_ts: str | None, text: str) -> None:
        self._send(self.client.chat_postMessage, channel=channel, thread_ts=thread_ts, text=text)

    def ephemeral(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        self._send(self.client.chat_postEphemeral, channel=channel, user=user, text=text, thread_ts=thread_ts)

    @staticmethod
    def _send(call: Any, **params: Any) -> None:
        try:
            call(**params)
        except (SlackApiError, SlackClientError) as err:  # the reply is lost, the log says so
            error = err.response.get("error") if isinstance(err, SlackApiError) else type(err).__name__
            log.warning("slack_reply_failed", channel=params.get("channel"), error=error)


def widening(ctx: SlackContext, spec: RunSpec, channel: str) -> str | None:
    """Why this request may not reach beyond its channel's repos, or None."""
    slack = ctx.runs.config.slack
    mapped = slack.channel_repos.get(channel, [])
    outside = [r for r in reach(spec, ctx.runs.config) if r not in mapped]  # discover= may reach them all
    if not outside or slack.allowed_users or slack.allowed_usergroups:
        return None
    names = ", ".join(f"`{r}`" for r in outside)
    mine = ", ".join(f"`{r}`" for r in mapped) or "none"
    return (
        f"{names} {'is' if len(outside) == 1 else 'are'} not among this channel's repos ({mine}); only people "
        "listed in `slack.allowed_users` or `slack.allowed_usergroups` may name other repos."
    )


def understand(ctx: SlackContext, trigger: Trigger, channel: str) -> RunSpec | str:
    """The RunSpec for a request (repos default to the channel's), or why it cannot be run."""
    try:
        parsed = parse_request(trigger.request)
        config = ctx.runs.config
        default = [] if asks_discovery(trigger.request, config) else config.slack.channel_repos.get(channel, [])
        repos = parsed.repos or default  # a discovering request takes what its search finds, not the channel's
        spec = build_spec(trigger, ctx.runs.config, repos=repos or None)
    except RequestError as err:
        return f"I could not read that request: {err}"
    if not parsed.text:
        return "What should I do? " + HELP
    # Unknown names (with the nearest), agents' programs, repo URLs, checks programs: bot/preflight.py.
    return widening(ctx, spec, channel) or refusal(ctx.runs.config, spec) or spec


def start_run(ctx: SlackContext, spec: RunSpec, channel: str, thread_ts: str | None) -> str:
    """Submit the run; its card is posted (in `thread_ts`, or starting a thread) before it starts."""

    def post_card(run_id: str) -> None:
        ctx.surface.post_card(run_id, channel, thread_ts)

    run_id = ctx.runs.submit(spec, before_start=post_card)
    log.info("slack_run_started", run_id=run_id, channel=channel)
    return run_id


def on_mention(ctx: SlackContext, event_id: str, event: dict[str, Any], bot_user_id: str | None) -> None:
    """`app_mention`: a new run, or a follow-up when the mention is inside a run's thread."""
    user, channel, ts = event.get("user"), str(event.get("channel", "")), str(event.get("ts", ""))
    if not user or not channel or not ts:
        log.info("slack_mention_ignored", event_id=event_id, reason="no user, channel or ts")
        return
    thread_ts = event.get("thread_ts") or ts
    text = clean(str(event.get("text", "")))
    request = mention_text(text, f"<@{bot_user_id}>") if bot_user_id else None
    request = request if request is not None else " ".join(w for w in text.split() if not w.startswith("<@"))
    existing = ctx.runs.store.run_for_link(thread_key(channel, str(thread_ts))) if event.get("thread_ts") else None
    trigger = Trigger(
        source=Source.slack,
        actor=Actor(source=Source.slack, id=user),
        request=request,
        reply_to=ReplyTo(source=Source.slack, channel=channel, thread_ts=str(thread_ts)),
        delivery_id=event_id,
    )
    run_id = existing or run_id_for(trigger)
    seen = ctx.runs.store.claim_delivery(f"slack:{event_id}", run_id)
    if seen is not None:
        log.info("slack_event_duplicate", event_id=event_id, run_id=seen or None)
        return
    refusal = ctx.access.may_trigger(user)
    if refusal:
        kind = AuditKind.follow_up if existing else AuditKind.trigger
        who = Actor(source=Source.slack, id=user)
        ctx.runs.store.audit.refused(kind, who, refusal, run_id=existing, delivery_id=event_id)
        ctx.ephemeral(channel, user, f"Sorry, {refusal}.", thread_ts=str(thread_ts))
        return
    actor = ctx.access.actor(user)
    if existing:
        follow_up(ctx, existing, actor, request, channel, str(thread_ts))
        return
    understood = understand(ctx, trigger.model_copy(update={"actor": actor}), channel)
    if isinstance(understood, str):
        ctx.reply(channel, str(thread_ts), understood)
        return
    start_run(ctx, understood, channel, str(thread_ts))


def follow_up(ctx: SlackContext, run_id: str, actor: Actor, request: str, channel: str, thread_ts: str) -> None:
    repo = dropped_repo(request)
    run = ctx.runs.store.get_run(run_id) if repo else None
    if repo and run is not None and run.waiting_for == "plan":  # `@baton drop <repo>` while the plan waits
        dropped = ctx.runs.drop_repo(run_id, actor, repo)
        ctx.reply(channel, thread_ts, ("" if dropped.accepted else "Not done: ") + dropped.message[:3000])
        return
    result = ctx.runs.follow_up(run_id, actor, request)
    prefix = "" if result.accepted else "Not queued: "
    ctx.reply(channel, thread_ts, prefix + result.message[:3000])
