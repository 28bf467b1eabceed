"""The Slack surface: one status card per run, edited in place, and milestone replies in its thread.

The card is first posted from the event path (`post_card`, before the run's workflow starts); from
then on the SurfaceHub hands this surface every event of the run. Edits are coalesced: at most one
`chat.update` per `interval` seconds per card, except that a milestone or an ending is shown at once.
Milestones (plan ready, a PR opened, approval needed, merged, failed) also get one thread reply each,
remembered per event so a redelivered event never posts twice. Where the card lives is a run fact
(`slack:card`: channel, ts, thread_ts); the thread and the card are links back to the run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.web import SlackResponse

from bot.config.settings import Settings
from bot.domain.models import Source
from bot.domain.records import RunEvent, RunView
from bot.observability.tracing import Tracer
from bot.store.store import Store
from bot.surfaces.links import review_url_of, run_page_url
from bot.surfaces.slack.card import card_blocks, card_text
from bot.surfaces.slack.thread import is_urgent, milestone_text

CAMPAIGN_CARD_EVENTS = frozenset({"campaign_progress", "state", "decision", "approval_invalidated"})
"""The events that redraw a campaign's card (its burndown, its state, a decision on it)."""

log = structlog.get_logger(__name__)

CARD_FACT = "slack:card"
REPLIES_FACT = "slack:replies"
Clock = Callable[[], float]


class _WebClient(WebClient):
    """slack_sdk's client, telling `on_error` of each call that failed (every method is an `api_call`)
    and waiting for `throttle` (the shared `rate_limits.slack` bucket) before each one."""

    def __init__(
        self,
        on_error: Callable[[], None],
        throttle: Callable[[], None] = lambda: None,
        tracer: Tracer | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._on_error = on_error
        self._throttle = throttle
        self._tracer = tracer or Tracer.disabled()

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        self._throttle()
        verb = str(kwargs.get("http_verb", "POST"))
        with self._tracer.outbound("slack", verb, f"{self.base_url}{api_method}") as call:
            try:
                response = super().api_call(api_method, **kwargs)
            except (SlackApiError, SlackClientError) as err:
                self._on_error()
                if isinstance(err, SlackApiError):
                    call.status(err.response.status_code)
                raise
            call.status(response.status_code)
            return response


def web_client(
    settings: Settings,
    on_error: Callable[[], None] = lambda: None,
    throttle: Callable[[], None] = lambda: None,
    tracer: Tracer | None = None,
) -> WebClient:
    """The bot's Web API client: `SLACK_API_URL`, retried after `Retry-After` on 429; `on_error`
    is told of each failed call (the outbound-errors metric)."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    base = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    return _WebClient(
        on_error,
        throttle,
        tracer,
        token=token,
        base_url=base,
        timeout=15,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3), ConnectionErrorRetryHandler(max_retry_count=2)],
    )


def thread_key(channel: str, thread_ts: str) -> str:
    return f"slack:thread:{channel}:{thread_ts}"


def card_key(channel: str, ts: str) -> str:
    return f"slack:card:{channel}:{ts}"


def wants(view: RunView) -> bool:
    """Runs whose progress goes to Slack: those asked for there, or pointed at a channel."""
    reply = view.run.spec.trigger.reply_to
    return reply.source is Source.slack and bool(reply.channel)


@dataclass
class _Card:
    view: RunView | None = None
    urgent: bool = False
    last_edit: float = float("-inf")
    last_signature: Any = None


class SlackSurface:
    """Publishes runs onto their Slack cards; `flush()` (every hub tick) performs coalesced edits."""

    def __init__(
        self,
        client: WebClient,
        store: Store,
        approvers: str,
        interval: float = 1.0,
        clock: Clock = time.monotonic,
        public_url: str = "",
    ) -> None:
        self.client = client
        self.public_url = public_url
        self.store = store
        self.approvers = approvers
        self.interval = interval
        self.clock = clock
        self._cards: dict[str, _Card] = {}
        self._lock = threading.RLock()

    def _page(self, view: RunView) -> str:
        return run_page_url(self.public_url, view.run.run_id) if self.public_url else ""

    # -- the first post (from the event path) ----------------------------------------------------
    def post_card(self, run_id: str, channel: str, thread_ts: str | None) -> str | None:
        """Post the run's card (in `thread_ts`, or as a new message that starts the thread) and
        remember where it lives; on failure the card is remembered without a ts and the next
        flush posts it. Returns the card's ts."""
        view = self.store.view(run_id)
        assert view is not None, run_id
        if thread_ts:
            self.store.link(thread_key(channel, thread_ts), run_id)
        ts = self._post(view, channel, thread_ts)
        if ts is None:
            self.store.put_fact(run_id, CARD_FACT, {"channel": channel, "ts": None, "thread_ts": thread_ts})
        return ts

    def _post(self, view: RunView, channel: str, thread_ts: str | None) -> str | None:
        run_id = view.run.run_id
        blocks = card_blocks(view, self.approvers, page_url=self._page(view))
        try:
            answer = self.client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=card_text(view), blocks=blocks, unfurl_links=False
            )
        except (SlackApiError, SlackClientError) as err:
            log.warning("slack_card_post_failed", run_id=run_id, error=_error(err))
            return None
        ts = str(answer["ts"])
        channel = str(answer.get("channel") or channel)  # a `#name` (a schedule's post_to) becomes its id
        signature = card_blocks(view, self.approvers, now=view.run.created_at, page_url=self._page(view))
        thread = thread_ts or ts
        self.store.put_fact(run_id, CARD_FACT, {"channel": channel, "ts": ts, "thread_ts": thread})
        self.store.link(thread_key(channel, thread), run_id)
        self.store.link(card_key(channel, ts), run_id)
        with self._lock:
            card = self._cards.setdefault(run_id, _Card())
            card.last_signature = signature
        log.info("slack_card_posted", run_id=run_id, channel=channel, ts=ts)
        return ts

    # -- the hub's side ---------------------------------------------------------------------------
    def publish(self, view: RunView, event: RunEvent) -> None:
        with self._lock:
            card = self._cards.setdefault(view.run.run_id, _Card())
            # A campaign's card moves with its burndown, not with each repo's events: its edits
            # stay as few at 500 repos as at 5.
            calm = view.campaign is not None and event.kind not in CAMPAIGN_CARD_EVENTS
            if not calm and (card.view is None or view.last_seq >= card.view.last_seq):
                card.view = view
                card.urgent = card.urgent or is_urgent(event)
        text = milestone_text(view, event, self.approvers, review_url_of(self._page(view)))
        if text is not None:
            self._reply_once(view, event, text)

    def flush(self) -> None:
        """Edit every card whose run changed, unless it was edited less than `interval` ago."""
        now = self.clock()
        with self._lock:
            due = [
                (run_id, card)
                for run_id, card in self._cards.items()
                if card.view is not None and (card.urgent or now - card.last_edit >= self.interval)
            ]
        for run_id, card in due:
            self._edit(run_id, card, now)

    def refresh(self, run_id: str) -> None:
        """Redraw a card now from the store (after a click on a run that moved on)."""
        view = self.store.view(run_id)
        if view is None:
            return
        with self._lock:
            card = self._cards.setdefault(run_id, _Card())
            card.view, card.urgent, card.last_signature = view, True, None
        self._edit(run_id, card, self.clock())

    def _edit(self, run_id: str, card: _Card, now: float) -> None:
        with self._lock:
            view = card.view
        if view is None:
            return
        where = self.store.get_fact(run_id, CARD_FACT)
        if where is None:
            if view.run.spec.trigger.source is Source.slack:
                return  # the event path is posting it right now; edit it once it is there
            reply = view.run.spec.trigger.reply_to
            if self.post_card(run_id, str(reply.channel), reply.thread_ts):
                self._settle(card, view, now)
            return
        if not where.get("ts"):
            if self._post(view, str(where["channel"]), where.get("thread_ts")):
                self._settle(card, view, now)
            return
        # The elapsed time alone is no reason to edit: compare the card as of the run's start.
        signature = card_blocks(view, self.approvers, now=view.run.created_at, page_url=self._page(view))
        if signature != card.last_signature:
            blocks = card_blocks(view, self.approvers, page_url=self._page(view))
            try:
                self.client.chat_update(channel=where["channel"], ts=where["ts"], text=card_text(view), blocks=blocks)
            except (SlackApiError, SlackClientError) as err:
                log.warning("slack_card_update_failed", run_id=run_id, error=_error(err))
                return  # still pending: the next flush tries again
            card.last_signature = signature
        self._settle(card, view, now)

    def _settle(self, card: _Card, view: RunView, now: float) -> None:
        with self._lock:
            card.last_edit = now
            if card.view is view:
                card.view, card.urgent = None, False
                if view.run.state.terminal:
                    self._cards.pop(view.run.run_id, None)

    def _reply_once(self, view: RunView, event: RunEvent, text: str) -> None:
        run_id = view.run.run_id
        where = self.store.get_fact(run_id, CARD_FACT)
        if where is None or not where.get("thread_ts"):
            raise RuntimeError(f"run {run_id} has no Slack thread yet")  # the hub redelivers this event
        done = self.store.get_fact(run_id, REPLIES_FACT) or {"seqs": []}
        if event.seq in done["seqs"]:
            return
        self.client.chat_postMessage(
            channel=where["channel"], thread_ts=where["thread_ts"], text=text, unfurl_links=False
        )
        self.store.put_fact(run_id, REPLIES_FACT, {"seqs": [*done["seqs"], event.seq][-200:]})


def _error(err: Exception) -> str:
    if isinstance(err, SlackApiError):
        return str(err.response.get("error", "slack_error"))
    return type(err).__name__
