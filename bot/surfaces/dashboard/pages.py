"""The read-only web pages `baton serve` shows, rendered from the Jinja2 templates beside this file:
the runs table at `/` (filtered by state, repo and requester, a page at a time) and one page per
run at `/runs/<id>` (timeline of events; steps with agent, duration, tokens and cost; PRs with
checks and head SHA; approvals; the audit trail; links back to the Slack thread, GitHub issue or
Linear issue) — the page Slack cards, GitHub comments and Linear sessions link to.

Every value is HTML-escaped (autoescape) and has every configured secret replaced by [REDACTED]
before it reaches the page. Who may see the pages is decided in bot/dashboard_routes.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel

from bot.domain.models import RunSpec, RunState, Source, utcnow
from bot.domain.records import Run, RunEvent, RunView
from bot.observability.redaction import redact
from bot.store.audit import AuditRecord
from bot.surfaces.dashboard import view as view_text
from bot.surfaces.render import (
    TEMPLATES,
    checks_icon,
    ended_why,
    event_data_text,
    fmt_duration,
    fmt_tokens,
    requester,
    short_sha,
    state_label,
    step_icon,
)
from bot.surfaces.timeline import by_repo, merge_position

PAGE_SIZE = 50
M = TypeVar("M", bound=BaseModel)


class RunFilter(BaseModel):
    """The runs table's query: `?state=&repo=&requester=&page=` (empty means any)."""

    state: RunState | None = None
    repo: str | None = None
    requester: str | None = None
    page: int = 1

    @property
    def active(self) -> bool:
        return bool(self.state or self.repo or self.requester)

    def matches(self, run: Run) -> bool:
        if self.state is not None and run.state is not self.state:
            return False
        if self.repo and self.repo not in run.spec.repos:
            return False
        if self.requester:
            actor = run.spec.trigger.actor
            wanted = self.requester.casefold()
            return wanted in actor.key.casefold() or wanted in actor.display.casefold()
        return True

    def query(self, page: int) -> str:
        """This filter's query string at another page."""
        params = {"state": self.state.value if self.state else "", "repo": self.repo or ""}
        params |= {"requester": self.requester or "", "page": str(page)}
        return urlencode({k: v for k, v in params.items() if v})


class RunLink(BaseModel):
    label: str
    url: str


def github_web_url(api_url: str) -> str:
    """GitHub's web address for an API address: api.github.com → github.com, an Enterprise
    `https://host/api/v3` → `https://host`, anything else (a stand-in) as it is."""
    parts = urlsplit(api_url.rstrip("/"))
    if parts.netloc == "api.github.com":
        return "https://github.com"
    path = parts.path.removesuffix("/api/v3")
    return f"{parts.scheme}://{parts.netloc}{path}"


def slack_thread_url(channel: str, ts: str) -> str:
    """A Slack message permalink that needs no workspace domain: slack.com sends the browser on to
    the workspace it is signed in to (the `p` form is the timestamp without its dot)."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def run_links(
    spec: RunSpec, slack_card: Mapping[str, Any] | None, linear_target: Mapping[str, Any] | None, github_api: str
) -> list[RunLink]:
    """Where the run was asked for and is talked about, from its trigger's `reply_to` (and the
    card or issue the surfaces recorded)."""
    reply = spec.trigger.reply_to
    links: list[RunLink] = []
    if reply.source is Source.slack and reply.channel:
        card = slack_card or {}
        ts = reply.thread_ts or card.get("thread_ts") or card.get("ts")
        if ts:
            links.append(RunLink(label="Slack thread", url=slack_thread_url(reply.channel, str(ts))))
    if reply.source is Source.github and reply.repo and reply.issue_number:
        url = f"{github_web_url(github_api)}/{reply.repo}/issues/{reply.issue_number}"
        links.append(RunLink(label=f"GitHub issue {reply.repo}#{reply.issue_number}", url=url))
    target = linear_target or {}
    if reply.source is Source.linear and target.get("url"):
        links.append(RunLink(label=f"Linear issue {target.get('identifier') or ''}".strip(), url=str(target["url"])))
    return links


def _scrub(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    return value


def scrubbed(model: M, secrets: Iterable[str]) -> M:
    """A copy of `model` with every secret in every string replaced — before the templates cut
    text short, so not even the start of a secret shows."""
    hidden = list(secrets)
    if not hidden:
        return model
    return type(model).model_validate(_scrub(model.model_dump(), hidden))


def _environment(secrets: Iterable[str]) -> Environment:
    return _cached_environment(tuple(secrets))


@lru_cache(maxsize=8)
def _cached_environment(secrets: tuple[str, ...]) -> Environment:
    """One environment per set of secrets (a process has one): templates compile once, not per page."""
    hidden = list(secrets)

    def finalize(value: Any) -> Any:
        # Every value a template prints passes here before escaping: no secret reaches the page.
        return redact(value, hidden) if isinstance(value, str) and hidden else value

    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=finalize,
    )


def _shas(shas: Mapping[str, str]) -> str:
    return ", ".join(f"{repo}@{short_sha(sha)}" for repo, sha in shas.items()) or "-"


def _shared(now: datetime) -> dict[str, Any]:
    """What both pages' templates use to say a state, a time and a cost (dashboard_view.py)."""
    return {
        "label": state_label,
        "state_icon": view_text.state_icon,
        "when": lambda at: view_text.when(at, now),
        "money": view_text.cost,
        "summary": lambda v: view_text.summary(v, now),
        "why": ended_why,
    }


def render_dashboard(
    views: list[RunView],
    *,
    filters: RunFilter | None = None,
    repos: list[str] | None = None,
    more: bool = False,
    secrets: Iterable[str] = (),
    now: datetime | None = None,
) -> str:
    hidden = list(secrets)
    template = _environment(hidden).get_template("runs.html")
    return template.render(
        views=[scrubbed(v, hidden) for v in views],
        filters=filters or RunFilter(),
        states=list(RunState),
        repos=repos or [],
        page=(filters or RunFilter()).page,
        more=more,
        **_shared(now or utcnow()),
    )


def render_run_page(
    view: RunView,
    events: list[RunEvent],
    *,
    audit: list[AuditRecord] | None = None,
    links: list[RunLink] | None = None,
    secrets: Iterable[str] = (),
    now: datetime | None = None,
) -> str:
    hidden = list(secrets)
    template = _environment(hidden).get_template("run.html")
    shown = scrubbed(view, hidden)
    links = links or []
    return template.render(
        v=shown,
        events=[scrubbed(e, hidden) for e in events],
        audit=[scrubbed(r, hidden) for r in audit or []],
        links=links,
        who=requester(view),
        steps_by_repo=by_repo(shown),
        merge_position=merge_position,
        failure=view_text.failure(shown),
        approve_ways=view_text.approve_ways(shown, {link.label: link.url for link in links}),
        **_shared(now or utcnow()),
        icon=step_icon,
        checks_icon=checks_icon,
        duration=fmt_duration,
        tokens=fmt_tokens,
        sha=short_sha,
        shas=_shas,
        data=event_data_text,
    )
