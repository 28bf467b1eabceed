"""What `baton serve` says once it listens: its address, the dashboard's, the endpoints that are
on, and where its runs are kept — so the first thing a person reads is where to point a browser."""

from __future__ import annotations

from bot.config import Settings

_ANY = {"0.0.0.0", "::", ""}
_SOURCES = (
    ("Slack", "slack_signing_secret", "/slack/events"),
    ("GitHub", "github_webhook_secret", "/github/webhook"),
    ("Linear", "linear_webhook_secret", "/linear/webhook"),
)


def url(host: str, port: int) -> str:
    """`http://host:port` with an IPv6 address in brackets."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def banner(host: str, port: int, settings: Settings, where: str, executes: bool) -> str:
    """The lines `baton serve` prints when its socket is bound (`port` as bound, never 0)."""
    listening = url(host, port)
    # Bound to every address, a browser on this machine still comes in over loopback.
    local = url("127.0.0.1", port) if host in _ANY else listening
    if settings.dashboard_token:
        who = "anyone with BATON_DASHBOARD_TOKEN"
    else:
        who = "this machine only; set BATON_DASHBOARD_TOKEN to open it to others"
    sources = [f"{name} {path}" for name, attr, path in _SOURCES if getattr(settings, attr) is not None]
    if "public_url" in settings.model_fields_set:
        public = f"{settings.public_url} (in cards and comments)"
    else:
        public = f"not set (BATON_PUBLIC_URL); cards and comments link to {settings.public_url}"
    work = "runs execute here" if executes else "runs are queued for `baton worker` processes"
    lines = [
        f"Baton is listening on {listening}",
        f"  dashboard: {local}/ ({who})",
        f"  public URL: {public}",
        f"  webhooks: {', '.join(sources) if sources else 'none (no source secret is set)'}",
        f"  health: {local}/healthz  metrics: {local}/metrics",
        f"  runs: {where}; {work}",
    ]
    return "\n".join(lines)
