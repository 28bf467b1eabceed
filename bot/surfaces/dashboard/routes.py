"""The dashboard's HTTP side: who may read it, and the two routes (`GET /` and `GET /runs/{run_id}`).

First, the address: only requests whose `Host` is Baton's own are answered — the host (and port)
of `BATON_PUBLIC_URL`, or a loopback name (`127.0.0.1`, `localhost`, `[::1]`) with the port Baton
listens on. A web page elsewhere that points its own domain at 127.0.0.1 (DNS rebinding) reaches
Baton with its domain as `Host`, and is refused (403).

With `BATON_DASHBOARD_TOKEN` set, every client must bring it: `Authorization: Bearer <token>`, or
`?token=<token>` once, which sets an HttpOnly cookie and redirects to the same page without the
token in its address. Without a token, only loopback clients are answered (403 otherwise), so a
Baton behind a public address shows nothing until a token is configured. Health, readiness,
metrics and the webhook endpoints are not guarded here (docs/operations.md: HTTP endpoints).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlencode, urlsplit

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bot.config.models import BatonFile
from bot.config.settings import Settings
from bot.domain.records import RunView
from bot.engine.campaign_plan import CAMPAIGN_FACT
from bot.observability.logging import process_secrets
from bot.store.store import Store
from bot.surfaces.dashboard.campaign_page import RepoFilter, render_campaign_page
from bot.surfaces.dashboard.pages import PAGE_SIZE, RunFilter, render_dashboard, render_run_page, run_links
from bot.surfaces.linear.surface import TARGET_FACT as LINEAR_TARGET
from bot.surfaces.slack.surface import CARD_FACT as SLACK_CARD

COOKIE = "baton_dashboard"
SCAN_LIMIT = 5000
"""The runs table filters the newest this many runs (of the chosen state)."""


def session_cookie(token: str) -> str:
    """The cookie a `?token=` visit gets: derived from the token, never the token itself."""
    return hmac.new(token.encode(), b"baton-dashboard-session", hashlib.sha256).hexdigest()


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def allowed_hosts(public_url: str, port: int | None) -> frozenset[str]:
    """The `Host` values Baton answers the dashboard for: its public URL's host (with and without
    its port when that is the scheme's default), and the loopback names with `port`, the port it
    listens on (bare too when that is 80)."""
    hosts: set[str] = set()
    public = urlsplit(public_url)
    if public.hostname:
        name = f"[{public.hostname}]" if ":" in public.hostname else public.hostname
        default = _DEFAULT_PORTS.get(public.scheme)
        public_port = public.port or default
        hosts.add(f"{name}:{public_port}")
        if public_port == default:
            hosts.add(name)
    for name in LOOPBACK_NAMES:
        if port is not None:
            hosts.add(f"{name}:{port}")
        if port in (None, 80):
            hosts.add(name)
    return frozenset(h.lower() for h in hosts)


def wrong_host(request: Request, public_url: str) -> Response | None:
    """403 unless the request's `Host` is one of Baton's own (see the module docstring)."""
    server = request.scope.get("server")
    port = int(server[1]) if server and server[1] is not None else None
    host = request.headers.get("host", "").strip().lower()
    if host in allowed_hosts(public_url, port):
        return None
    text = "This address is not Baton's: open the dashboard at BATON_PUBLIC_URL or on a loopback address."
    return PlainTextResponse(text, status_code=403)


def refusal(request: Request, token: str | None) -> Response | None:
    """Why this request may not read the dashboard (the response to send), or None."""
    if token:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), session_cookie(token).encode()):
            return None
        text = (
            "The dashboard needs its token: send 'Authorization: Bearer <token>' or open it once with ?token=<token>."
        )
        return PlainTextResponse(text, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if request.client is not None and is_loopback(request.client.host):
        return None
    text = "The dashboard answers only local clients; set BATON_DASHBOARD_TOKEN to open it to others."
    return PlainTextResponse(text, status_code=403)


def token_visit(request: Request, token: str | None) -> Response | None:
    """`?token=<token>`: a cookie and a redirect to the same page without the token, or None."""
    given = request.query_params.get("token")
    if given is None or not token:
        return None
    if not hmac.compare_digest(given.encode(), token.encode()):
        return PlainTextResponse("That token is not the dashboard's.", status_code=401)
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
    response = RedirectResponse(request.url.path + (f"?{urlencode(rest)}" if rest else ""), status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, session_cookie(token), httponly=True, samesite="lax", secure=secure)
    return response


def runs_page(store: Store, filters: RunFilter) -> tuple[list[RunView], bool]:
    """One page of the runs matching `filters`, newest first, and whether older ones follow."""
    matching = [r for r in store.list_runs(limit=SCAN_LIMIT, state=filters.state) if filters.matches(r)]
    start = (filters.page - 1) * PAGE_SIZE
    views = [store.view(r.run_id) for r in matching[start : start + PAGE_SIZE]]
    return [v for v in views if v is not None], len(matching) > start + PAGE_SIZE


def dashboard_routes(store: Store, settings: Settings, config: BatonFile) -> list[BaseRoute]:
    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None
    secrets = process_secrets(settings, config)

    # Plain functions: Starlette runs them in its thread pool, so store reads never hold up webhooks.
    def runs(request: Request) -> Response:
        denied = wrong_host(request, settings.public_url) or token_visit(request, token) or refusal(request, token)
        if denied is not None:
            return denied
        params = {k: v for k, v in request.query_params.items() if v and k in RunFilter.model_fields}
        try:
            filters = RunFilter.model_validate(params)
        except ValidationError as err:
            fields = ", ".join(str(e["loc"][0]) for e in err.errors())
            return PlainTextResponse(f"bad filter: {fields}", status_code=400)
        if filters.page < 1:
            return PlainTextResponse("bad filter: page", status_code=400)
        views, more = runs_page(store, filters)
        repos = [r.name for r in config.repos]
        page = render_dashboard(views, filters=filters, repos=repos, more=more, secrets=secrets)
        return HTMLResponse(page)

    def run_page(request: Request) -> Response:
        denied = wrong_host(request, settings.public_url) or token_visit(request, token) or refusal(request, token)
        if denied is not None:
            return denied
        run_id = request.path_params["run_id"]
        view = store.view(run_id)
        if view is None:
            return PlainTextResponse(f"no run {run_id}", status_code=404)
        links = run_links(
            view.run.spec,
            store.get_fact(run_id, SLACK_CARD),
            store.get_fact(run_id, LINEAR_TARGET),
            settings.github_api_url,
        )
        page = render_run_page(
            view, store.events(run_id), audit=store.audit.records(run_id), links=links, secrets=secrets
        )
        return HTMLResponse(page)

    def repos_page(request: Request) -> Response:
        denied = wrong_host(request, settings.public_url) or token_visit(request, token) or refusal(request, token)
        if denied is not None:
            return denied
        run_id = request.path_params["run_id"]
        run = store.get_run(run_id)
        if run is None:
            return PlainTextResponse(f"no run {run_id}", status_code=404)
        params = {k: v for k, v in request.query_params.items() if v and k in RepoFilter.model_fields}
        try:
            filters = RepoFilter.model_validate(params)
        except ValidationError as err:
            fields = ", ".join(str(e["loc"][0]) for e in err.errors())
            return PlainTextResponse(f"bad filter: {fields}", status_code=400)
        # Only what the table shows: not the run's steps, events or audit trail.
        view = RunView(run=run, changes=store.changes(run_id), campaign=store.get_fact(run_id, CAMPAIGN_FACT))
        page = render_campaign_page(view, filters, secrets)
        if page is None:
            return PlainTextResponse(f"run {run_id} is not a campaign", status_code=404)
        return HTMLResponse(page)

    return [Route("/", runs), Route("/runs/{run_id}", run_page), Route("/runs/{run_id}/repos", repos_page)]
