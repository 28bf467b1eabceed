"""`baton doctor`: what is configured, what is missing, and whether the tools runs need exist."""

from __future__ import annotations

import shlex
import shutil

from bot.agents.sandbox import Sandbox
from bot.config.base import ConfigError
from bot.config.home import where
from bot.config.models import BatonFile, load_baton_file
from bot.config.settings import Settings
from bot.domain.models import Person
from bot.preflight import config_problems

SOURCES = {
    "slack": ("slack_signing_secret", "SLACK_SIGNING_SECRET"),
    "github": ("github_webhook_secret", "GITHUB_WEBHOOK_SECRET"),
    "linear": ("linear_webhook_secret", "LINEAR_WEBHOOK_SECRET"),
}


def _program(command: list[str] | str) -> str:
    argv = shlex.split(command) if isinstance(command, str) else command
    return argv[0] if argv else ""


def doctor_report(settings: Settings) -> tuple[str, bool]:
    lines = [f"config: {settings.config} ({'found' if settings.config.exists() else 'missing'})"]
    ok = True
    try:
        config = load_baton_file(settings.config)
    except ConfigError as err:
        return "\n".join([*lines, f"  ✗ {err}"]), False
    postgres = bool(settings.database_url and "postgres" in settings.database_url)
    lines.append(f"database: {'PostgreSQL' if postgres else 'SQLite'}")
    lines.append(f"runs kept in: {where(settings.home, settings.database_url)}")
    git = shutil.which("git")
    lines.append(f"git: {'✓ ' + git if git else '✗ not found on PATH'}")
    ok = ok and git is not None
    lines += _repos(config) + _agents(config) + _isolation(config)
    # What would refuse a run (bot/preflight.py): unreadable repo URLs, checks programs, ${VAR}s.
    lines += config_problems(config)
    for name, (attr, env) in SOURCES.items():
        enabled = getattr(settings, attr) is not None
        lines.append(f"{name}: {'enabled' if enabled else f'disabled (set {env} to enable)'}")
    lines += _source_gaps(settings, config)
    lines += who_can_approve(config)
    if not config.repos:
        lines.append("missing: no repos under `repos:` — a request will be answered with this")
    if not config.agents:
        lines.append("missing: no agents under `agents:` — nothing can do the work")
    ok = ok and all("✗" not in line for line in lines)
    return "\n".join(lines), ok


def _source_gaps(settings: Settings, config: BatonFile) -> list[str]:
    """Half-configured sources: what answers webhooks but could not reply, or repos with no forge."""
    gaps = []
    if settings.slack_signing_secret and not settings.slack_bot_token:
        gaps.append("  ✗ slack: SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not; /slack/events stays off")
    if settings.linear_webhook_secret and not settings.linear_api_key:
        gaps.append("  ✗ linear: LINEAR_WEBHOOK_SECRET is set but LINEAR_API_KEY is not; Baton could not reply")
    github_auth = settings.github_token or (settings.github_app_id and settings.github_app_private_key)
    on_github = [r.name for r in config.repos if r.forge == "github"]
    if on_github and not github_auth:
        gaps.append(
            f"  ✗ github: {', '.join(on_github)} use forge: github, but neither GITHUB_TOKEN nor "
            "GITHUB_APP_ID + GITHUB_APP_PRIVATE_KEY is set"
        )
    if settings.github_webhook_secret and not github_auth:
        gaps.append("  ✗ github: GITHUB_WEBHOOK_SECRET is set but no GITHUB_TOKEN or App credentials to reply with")
    return gaps


def _repos(config: BatonFile) -> list[str]:
    lines = [f"repos ({len(config.repos)}):"]
    for repo in config.repos:
        deps = f", after {', '.join(repo.depends_on)}" if repo.depends_on else ""
        lines.append(f"  {repo.name}: {repo.url} [{repo.default_branch}] checks: {repo.checks or 'none'}{deps}")
    return lines


def _agents(config: BatonFile) -> list[str]:
    lines = [f"agents ({len(config.agents)}):"]
    for agent in config.agents:
        program = _program(agent.argv_prefix)
        found = shutil.which(program) if program else None
        mark = "✓" if found else "✗"
        where = found or f"{program or '(empty command)'} not found"
        lines.append(f"  {mark} {agent.name} ({agent.kind}): {where}")
    return lines


def _isolation(config: BatonFile) -> list[str]:
    """Which agents and checks run confined, which do not (each flagged), and whether the confined
    ones can start here at all (without a working bwrap they cannot: never a silent fallback)."""
    sandbox = Sandbox.detect([])
    confined = [a.name for a in config.agents if a.isolation == "bwrap"]
    checked = [r.name for r in config.repos if r.checks and r.checks_isolation == "bwrap"]
    names = [*confined, *(f"checks of {n}" for n in checked)]
    working = f"bwrap: ✓ {sandbox.bwrap}" + (f" (confines {', '.join(names)})" if names else "")
    lines = [working if sandbox.problem is None else f"bwrap: {sandbox.problem}"]
    if sandbox.problem is not None and names:
        who = [f"agent {name}" for name in confined] + [f"the checks of {name}" for name in checked]
        lines.append(
            f"  ✗ {', '.join(who)} must run confined and cannot start here: install bubblewrap, let this "
            "container create namespaces, or write `isolation: none` (`checks_isolation: none`) to run unconfined"
        )
    # A coding-agent CLI talks to its model; confined without a network, every step of it fails.
    lines += [
        f"  ✗ {a.name} ({a.kind}): isolation_network: none leaves it no way to its model; set isolation_network: host"
        for a in config.agents
        if a.isolation == "bwrap" and a.isolation_network == "none" and a.kind != "script"
    ]
    lines += [
        f"  ! agent {a.name} runs unconfined (isolation: none): it can read what the user Baton runs as can "
        "(its files, credentials, other runs) and write its workspace's .git"
        for a in config.agents
        if a.isolation == "none"
    ]
    lines += [
        f"  ! the checks of {r.name} run unconfined (checks_isolation: none)"
        for r in config.repos
        if r.checks and r.checks_isolation == "none"
    ]
    return lines


def _person(person: Person) -> str:
    ids = [f"{a.source.value} {a.id}" for a in person.identities()]
    return f"{person.name} ({', '.join(ids) or 'no identities'})"


def who_can_approve(config: BatonFile) -> list[str]:
    """Who may approve a run under this configuration (the rules of bot/engine/approvals.py, in words)."""
    policy, needed = config.approval, config.github.approve_permission
    lines = ["who can approve:"]
    if policy.approvers:
        lines.append(f"  approval.approvers: {', '.join(policy.approvers)}")
        lines.append(f"  on GitHub repos, anyone with a GitHub identity also needs {needed} access to each of them")
    else:
        mapped = [_person(p) for p in config.people if p.github]
        unmapped = [_person(p) for p in config.people if not p.github]
        lines += [
            "  approval.approvers: none listed (the secure default)",
            "  the terminal operator: `baton approve RUN`",
            f"  GitHub users with {needed} access to every repo of the run (asked of GitHub when they approve)",
            f"  from Slack or Linear, people mapped to such a GitHub login: {', '.join(mapped) or 'nobody yet'}",
        ]
        if unmapped:
            lines.append(f"  not mapped to a GitHub login, so they cannot approve: {', '.join(unmapped)}")
    persons = "person" if policy.min_approvals == 1 else "persons"
    rule = f"min_approvals: {policy.min_approvals} {persons}"
    if policy.forbid_self_approval:
        exempt = ", ".join(policy.self_approval_exempt_sources) or "nowhere"
        rule += f"; the requester may not approve their own run (except from: {exempt})"
    lines.append(f"  {rule}")
    team = config.slack.team_id
    pinned = (
        f"{team} (slack.team_id)"
        if team
        else "the one auth.test reports when Baton starts (set slack.team_id to pin it)"
    )
    lines.append(f"  slack workspace: {pinned}")
    return lines
