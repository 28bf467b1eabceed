"""The team's `baton.yml`: repos, agents, routing, approval policy, budgets, concurrency, schedules,
limits and people — and reading it (`load_baton_file`). Agents are in `agents.py`, playbooks in
`playbooks.py`, process settings from the environment in `settings.py`.

Invalid configuration fails at start with a `ConfigError` naming the key and the reason.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError
from pydantic import model_validator as _model_validator

from bot.config.agents import AgentConfig
from bot.config.base import ConfigError
from bot.config.base import Strict as _Strict
from bot.config.cron import cron_trigger
from bot.config.errors import describe
from bot.config.github import GitHubConfig
from bot.config.linear import LinearConfig
from bot.config.playbooks import ROUTED_AGENT, Playbook, agents_in
from bot.config.retention import Retention
from bot.config.slack import SlackConfig
from bot.domain.models import Budget, Person


class RepoConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    url: str
    default_branch: str = "main"
    checks: str | None = None
    # The checks command runs code an agent just wrote: confined like an agent (bot/agents/checks.py),
    # with only these variables (`${NAME}` takes NAME from Baton's environment) and a HOME of its own.
    checks_env: dict[str, str] = Field(default_factory=dict)
    checks_isolation: Literal["none", "bwrap"] = "bwrap"
    checks_network: Literal["none", "host"] = "none"
    depends_on: list[str] = Field(default_factory=list)
    forge: Literal["local", "github"] = "local"
    github: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

    @_model_validator(mode="after")
    def _github_repo_named(self) -> RepoConfig:
        if self.forge == "github" and not self.github:
            raise ValueError("forge: github needs `github: owner/name`")
        return self


class RoutingRule(_Strict):
    agent: str
    repo: str | None = None
    label: str | None = None
    channel: str | None = None


class Routing(_Strict):
    default_agent: str | None = None
    rules: list[RoutingRule] = Field(default_factory=list)
    fallback: list[str] = Field(default_factory=list)


class ApprovalPolicy(_Strict):
    # Patterns naming who may approve (`source:id`, or `person:<name>` for someone in `people:`).
    # Empty: the secure default — the terminal operator, and people whose GitHub login holds
    # `github.approve_permission` on every repo of the run (bot/engine/approvals.py).
    approvers: list[str] = Field(default_factory=list)
    min_approvals: int = Field(default=1, ge=1)
    forbid_self_approval: bool = True
    self_approval_exempt_sources: list[str] = Field(default_factory=lambda: ["cli"])
    require_green_checks: bool = True
    expiry_hours: float = Field(default=72, gt=0)
    approve_plan: bool = False
    repair_on_failed_checks: int = Field(default=0, ge=0)
    remind_after_hours: float | None = Field(default=None, gt=0)
    on_expiry: Literal["leave_open", "close"] = "leave_open"


class Concurrency(_Strict):
    # Repos of one run at once: 8 (as `global`) lets a provider-and-six-clients run fan out fully;
    # `global` still bounds all runs together.
    per_run: int = Field(default=8, ge=1)
    global_: int = Field(default=8, ge=1, alias="global")
    # Repo work at once in one process (`baton serve --execute` or `baton worker`), and in one repo
    # across all processes (DBOS's partitioned queue, keyed by repo); unset: only `global` bounds them.
    per_worker: int | None = Field(default=None, ge=1)
    per_repo: int | None = Field(default=None, ge=1)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @_model_validator(mode="after")
    def _within_global(self) -> Concurrency:
        for key in ("per_worker", "per_repo"):
            value = getattr(self, key)
            if value is not None and value > self.global_:
                raise ValueError(f"{key} ({value}) may not exceed global ({self.global_})")
        return self


class RateLimit(_Strict):
    """At most `calls` requests to one service per `per_s` seconds, shared by every process."""

    calls: int = Field(ge=1)
    per_s: float = Field(gt=0)


class Schedule(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    cron: str
    request: str
    repos: list[str] = Field(default_factory=list)
    playbook: str = "default"
    post_to: str | None = None
    timezone: str = "UTC"
    misfire_grace_s: float = Field(default=300, ge=0)

    @_model_validator(mode="after")
    def _cron_parses(self) -> Schedule:
        cron_trigger(self.cron, self.timezone)
        return self


class Limits(_Strict):
    """Sizes past which a step fails (naming the limit) instead of reaching Baton's memory or databases."""

    max_diff_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_file_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    max_transcript_bytes: int = Field(default=5 * 1024 * 1024, gt=0)


class Cleanup(_Strict):
    workspaces_after_hours: float | None = Field(default=168, gt=0)


class BatonFile(_Strict):
    """The whole of `baton.yml`."""

    repos: list[RepoConfig] = Field(default_factory=list)
    agents: list[AgentConfig] = Field(default_factory=list)
    routing: Routing = Field(default_factory=Routing)
    playbooks: dict[str, Playbook] = Field(default_factory=dict)
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    budget: Budget = Field(default_factory=Budget)
    concurrency: Concurrency = Field(default_factory=Concurrency)
    rate_limits: dict[Literal["github", "slack", "linear"], RateLimit] = Field(default_factory=dict)
    schedules: list[Schedule] = Field(default_factory=list)
    cleanup: Cleanup = Field(default_factory=Cleanup)
    limits: Limits = Field(default_factory=Limits)
    github: GitHubConfig = Field(default_factory=GitHubConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    linear: LinearConfig = Field(default_factory=LinearConfig)
    people: list[Person] = Field(default_factory=list)
    retention: Retention = Field(default_factory=Retention)

    @_model_validator(mode="after")
    def _people_are_one_each(self) -> BatonFile:
        """Each name and each identity belongs to one person; `slack.github_logins` (deprecated)
        folds into `people` — a login joins the person with that Slack id or that login, or is a person."""
        people = list(self.people)
        problems: list[str] = []
        for slack_id, login in self.slack.github_logins.items():
            i = next((i for i, p in enumerate(people) if p.slack == slack_id), None)
            if i is None:
                i = next((i for i, p in enumerate(people) if (p.github or "").lower() == login.lower()), None)
            if i is None:
                people.append(Person(name=login, slack=slack_id, github=login))
                continue
            found = people[i]
            if (found.github and found.github.lower() != login.lower()) or (found.slack and found.slack != slack_id):
                problems.append(f"slack.github_logins.{slack_id}: {login} contradicts people entry '{found.name}'")
                continue
            people[i] = found.model_copy(update={"slack": slack_id, "github": found.github or login})
        seen: dict[str, str] = {}
        for i, person in enumerate(people):
            keys = [f"name {person.name}"] + [f"{a.source.value} id {a.id}" for a in person.identities()]
            for key in keys:
                if key.lower() in seen:
                    problems.append(f"people.{i}: {key} is already {seen[key.lower()]}'s")
                seen.setdefault(key.lower(), person.name)
        if problems:
            raise ValueError("; ".join(problems))
        self.people = people
        return self

    @_model_validator(mode="after")
    def _references_resolve(self) -> BatonFile:
        repos = {r.name for r in self.repos}
        agents = {a.name for a in self.agents} | {ROUTED_AGENT}
        problems: list[str] = []
        for repo in self.repos:
            problems += [
                f"repos[{repo.name}].depends_on: unknown repo '{d}'{_near(d, repos)}"
                for d in repo.depends_on
                if d not in repos
            ]
        for i, rule in enumerate(self.routing.rules):
            if rule.agent not in agents:
                problems.append(f"routing.rules[{i}].agent: unknown agent '{rule.agent}'{_near(rule.agent, agents)}")
        if self.routing.default_agent and self.routing.default_agent not in agents:
            default = self.routing.default_agent
            problems.append(f"routing.default_agent: unknown agent '{default}'{_near(default, agents)}")
        problems += [
            f"routing.fallback: unknown agent '{a}'{_near(a, agents)}" for a in self.routing.fallback if a not in agents
        ]
        for name, book in self.playbooks.items():
            problems += [
                f"playbooks.{name}.repos: unknown repo '{r}'{_near(r, repos)}" for r in book.repos if r not in repos
            ]
            if book.planner and book.planner not in agents:
                problems.append(
                    f"playbooks.{name}.planner: unknown agent '{book.planner}'{_near(book.planner, agents)}"
                )
            problems += [
                f"playbooks.{name}.per_repo: unknown agent '{a}'{_near(a, agents)}"
                for a in sorted(agents_in(book.per_repo))
                if a not in agents
            ]
        for i, sched in enumerate(self.schedules):
            problems += [
                f"schedules[{sched.name}].repos: unknown repo '{r}'{_near(r, repos)}"
                for r in sched.repos
                if r not in repos
            ]
            if any(other.name == sched.name for other in self.schedules[:i]):
                problems.append(f"schedules[{sched.name}].name: '{sched.name}' is used twice")
        for section, mapping in (
            ("slack.channel_repos", self.slack.channel_repos),
            ("linear.team_repos", self.linear.team_repos),
        ):
            for key, names in mapping.items():
                problems += [f"{section}.{key}: unknown repo '{r}'{_near(r, repos)}" for r in names if r not in repos]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def playbook(self, name: str) -> Playbook:
        if name in self.playbooks:
            return self.playbooks[name]
        if name == "default":
            return Playbook()
        raise KeyError(name)

    def repo_for_github(self, full_name: str) -> RepoConfig | None:
        """The configured repo behind a GitHub `owner/name` (case-insensitive, as GitHub is)."""
        return next((r for r in self.repos if r.github and r.github.lower() == full_name.lower()), None)

    def repo(self, name: str) -> RepoConfig:
        return next(r for r in self.repos if r.name == name)

    def agent(self, name: str) -> AgentConfig:
        return next(a for a in self.agents if a.name == name)


def _near(name: str, known: set[str]) -> str:
    """ " (did you mean 'x'?)" for a misspelt name, else ""."""
    close = difflib.get_close_matches(name, sorted(known - {ROUTED_AGENT}), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def parse_baton_file(data: Any, origin: str = "baton.yml") -> BatonFile:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of keys, got {type(data).__name__}")
    try:
        return BatonFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe(err, origin, data, BatonFile)) from None


def load_baton_file(path: Path) -> BatonFile:
    """Read `baton.yml`; a missing or empty file is an empty configuration, not an error."""
    if not path.exists():
        return BatonFile()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    return parse_baton_file(data, origin=str(path))
