"""Each source's assembly, done by the composition root: its API client, the forge and surface it
brings (registered on the runtime's forge router and surface hub), its scheduler jobs and approver
checks, and the edge that answers its endpoint.

The edge modules in `handlers/` only answer requests; everything they work with is built here, so
building routes has no hidden side effects and no handler sees the Runtime.
"""

from __future__ import annotations

from typing import Any

import structlog

from bot.app import Runtime
from bot.domain.ports import ForgeError
from bot.scm.github import GitHubForge
from bot.services.github.client import GitHubApi, GitHubCredentials
from bot.services.github.issues import GitHubIssues
from bot.services.linear.client import LinearClient
from bot.surfaces.github.surface import GitHubSurface
from bot.surfaces.linear.surface import LinearSurface
from bot.surfaces.linear.surface import wants as linear_wants
from bot.surfaces.slack.card import approvers_mrkdwn
from bot.surfaces.slack.surface import SlackSurface, web_client
from bot.surfaces.slack.surface import wants as slack_wants
from handlers.github.access import GitHubAccess
from handlers.github.app import GitHubEndpoint
from handlers.github.checks import ChecksTracker
from handlers.github.events import GitHubEvents
from handlers.github.runs import GitHubRuns
from handlers.linear.access import LinearAccess
from handlers.linear.app import LinearEdge
from handlers.slack.access import SlackAccess
from handlers.slack.app import SlackEdge
from handlers.slack.runs import SlackContext
from handlers.slack.team import WorkspacePin

log = structlog.get_logger(__name__)


def _secret(value: Any) -> str:
    return str(value.get_secret_value()) if value is not None else ""


def github_endpoint(runtime: Runtime) -> GitHubEndpoint:
    """GitHub's edge, with its forge (for `forge: github` repos), status-comment surface and checks
    poller wired into the runtime. When GitHub's credentials do not work, the endpoint still
    verifies each delivery and answers 503 saying why (never a crash of the bot)."""
    settings, config = runtime.settings, runtime.config
    secret = _secret(settings.github_webhook_secret)
    creds = GitHubCredentials(token=settings.github_token, api_url=settings.github_api_url)
    try:
        api = runtime.github_api or GitHubApi(
            creds, config.github, throttle=runtime.throttle("github"), tracer=runtime.tracer
        )
        forge = GitHubForge(api, config)
        issues = GitHubIssues(api)
        access = GitHubAccess(issues, config)
        surface = GitHubSurface(runtime.store, issues, config, public_url=settings.public_url)
    except ForgeError as err:
        log.warning("github.disabled", reason=str(err))
        return GitHubEndpoint(None, secret, None, missing=str(err))
    checks = ChecksTracker(runtime.runs, forge)
    if not runtime.forges.has("github"):
        runtime.forges.add("github", forge)
    runtime.hub.register("github", surface, surface.wants)
    interval = config.github.checks_poll_interval_s
    if interval > 0 and "github-checks" not in runtime.scheduler.job_ids:
        runtime.scheduler.every("github-checks", interval, checks.poll)
    events = GitHubEvents(runtime.runs, api, GitHubRuns(runtime.runs, issues, access, surface), checks)
    runtime.drain.register("github", events.process)  # deliveries are processed after their answer
    return GitHubEndpoint(events, secret, runtime.drain)


def slack_edge(runtime: Runtime) -> SlackEdge:
    """Slack's edge (HTTP or Socket Mode), with its card surface on the hub and its approval check."""
    settings, config = runtime.settings, runtime.config
    client = web_client(
        settings,
        on_error=runtime.metrics.error_counter("slack"),
        throttle=runtime.throttle("slack"),
        tracer=runtime.tracer,
    )
    approvers = approvers_mrkdwn(config.approval, config.slack)
    surface = SlackSurface(
        client, runtime.store, approvers, interval=config.slack.card_edit_interval_s, public_url=settings.public_url
    )
    access = SlackAccess(client, config.slack, config.approval, decider=runtime.approvals.refusal)
    if "slack" not in runtime.hub.names:  # HTTP and Socket Mode in one process share one card feed
        runtime.hub.register("slack", surface, slack_wants)
    runtime.approvals.authorizers["slack"] = access.authorize
    workspace = WorkspacePin(config.slack.team_id, client, runtime.store.audit)
    ctx = SlackContext(runtime.runs, client, surface, access, approvers)
    token, signing_secret = _secret(settings.slack_bot_token), _secret(settings.slack_signing_secret)
    return SlackEdge(ctx, workspace, token, signing_secret, client.base_url)


def linear_edge(runtime: Runtime, client: LinearClient | None = None) -> LinearEdge:
    """Linear's edge, with its surface on the hub and its approval check."""
    settings = runtime.settings
    token = _secret(settings.linear_api_key)
    if not token:
        log.warning("linear_api_key_unset", effect="webhooks are read but nothing can be written to Linear")
    client = client or LinearClient(
        settings.linear_api_url,
        token,
        on_error=runtime.metrics.error_counter("linear"),
        throttle=runtime.throttle("linear"),
        tracer=runtime.tracer,
    )
    surface = LinearSurface(client, runtime.store, runtime.config, settings.public_url)
    access = LinearAccess(client, runtime.config.linear)
    if "linear" not in runtime.hub.names:
        runtime.hub.register("linear", surface, linear_wants)
    runtime.approvals.authorizers["linear"] = access.authorize
    edge = LinearEdge(runtime.runs, client, surface, access, _secret(settings.linear_webhook_secret), runtime.drain)
    runtime.drain.register("linear", edge.process)  # deliveries are processed after their answer
    return edge
