"""What `baton serve` says once it listens: its address, the dashboard's, the endpoints that are
on, and where its runs are kept — so the first thing a person reads is where to point a browser.

On a terminal (console logs) it is a few plain lines on stdout; where logs are JSON (a container, a
pipe) it is one `serve.listening` log line with the same facts, so every line stays JSON.
"""

from __future__ import annotations

import sys

import structlog

from bot.config.settings import Settings

log = structlog.get_logger(__name__)

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


def facts(host: str, port: int, settings: Settings, where: str, executes: bool) -> dict[str, str]:
    """What serve tells about itself once its socket is bound (`port` as bound, never 0)."""
    listening = url(host, port)
    # Bound to every address, a browser on this machine still comes in over loopback.
    local = url("127.0.0.1", port) if host in _ANY else listening
    if settings.dashboard_token:
        who = "anyone with BATON_DASHBOARD_TOKEN"
    else:
        who = "this machine only; set BATON_DASHBOARD_TOKEN to open it to others"
    if "public_url" in settings.model_fields_set:
        public = f"{settings.public_url} (in cards and comments)"
    else:
        public = f"not set (BATON_PUBLIC_URL); cards and comments link to {settings.public_url}"
    sources = [f"{name} {path}" for name, attr, path in _SOURCES if getattr(settings, attr) is not None]
    return {
        "url": listening,
        "dashboard": f"{local}/ ({who})",
        "public_url": public,
        "webhooks": ", ".join(sources) if sources else "none (no source secret is set)",
        "health": f"{local}/healthz  metrics: {local}/metrics",
        "runs": f"{where}; " + ("runs execute here" if executes else "runs are queued for `baton worker` processes"),
    }


def banner(told: dict[str, str]) -> str:
    """The facts as lines for a person."""
    rest = [f"  {key.replace('_', ' ')}: {value}" for key, value in told.items() if key != "url"]
    return "\n".join([f"Baton is listening on {told['url']}", *rest])


def logs_are_json(settings: Settings) -> bool:
    """The same choice bot/observability/logging.py makes for stderr."""
    return settings.log_format == "json" or (settings.log_format == "auto" and not sys.stderr.isatty())


def announce(told: dict[str, str], settings: Settings) -> None:
    if logs_are_json(settings):
        log.info("serve.listening", **told)
        return
    sys.stdout.write(banner(told) + "\n")
    sys.stdout.flush()
