"""Configuration: process settings from the environment (`BATON_*` and the services' own names) plus
the team's `baton.yml` (repos, agents, routing, playbooks, approval policy, budgets, schedules).

Invalid configuration fails at start with a `ConfigError` naming the key and the reason.
"""

from __future__ import annotations

import difflib
import shlex
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic import model_validator as _model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.config_errors import describe
from bot.cron import cron_trigger
from bot.domain import Budget
from bot.home import find_config, home_for
from bot.sourceconfig.github import GitHubConfig
from bot.sourceconfig.linear import LinearConfig
from bot.sourceconfig.slack import SlackConfig

AgentKind = Literal["script", "claude_code", "codex", "aider", "opencode", "cursor"]
ROUTED_AGENT = "@routed"
"""In a playbook, the agent chosen by the routing rules (or `agent=` in the request)."""


class ConfigError(Exception):
    """Configuration that cannot be used; the message names the key and the reason."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RepoConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    url: str
    default_branch: str = "main"
    checks: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    forge: Literal["local", "github"] = "local"
    github: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

    @_model_validator(mode="after")
    def _github_repo_named(self) -> RepoConfig:
        if self.forge == "github" and not self.github:
            raise ValueError("forge: github needs `github: owner/name`")
        return self


DEFAULT_COMMANDS: dict[str, str] = {
    "claude_code": "claude",
    "codex": "codex",
    "aider": "aider",
    "opencode": "opencode",
    "cursor": "cursor-agent",
}
"""The executable each CLI kind runs when `command` is not set."""


class McpServer(_Strict):
    """A stdio MCP server an agent may use (its CLI starts it, with only `env` set for it)."""

    command: list[str] | str
    env: dict[str, str] = Field(default_factory=dict)


class AgentConfig(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    kind: AgentKind = "script"
    command: list[str] | str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    timeout_s: float = Field(default=900, gt=0)
    budget: Budget = Field(default_factory=Budget)
    usd_per_million_tokens: tuple[float, float] = (0.0, 0.0)
    # The coding-agent CLIs (every kind but `script`); see bot/agents/ and the README's agents section.
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    mcp_servers: dict[str, McpServer] = Field(default_factory=dict)
    permission_mode: str | None = None
    allowed_tools: list[str] = Field(default_factory=list)
    disallowed_tools: list[str] = Field(default_factory=list)
    sandbox: Literal["read-only", "workspace-write", "danger-full-access"] = "workspace-write"
    max_turns: int | None = Field(default=None, ge=1)
    max_retries: int = Field(default=1, ge=0)
    on_permission_denial: Literal["fail", "report"] = "fail"
    resume: bool = True
    # Confinement of the agent's process (bot/agents/sandbox.py); `sandbox` above is Codex's own.
    isolation: Literal["none", "bwrap"] = "none"
    isolation_network: Literal["none", "host"] = "none"

    @_model_validator(mode="before")
    @classmethod
    def _sandbox_bwrap_means_isolation(cls, data: Any) -> Any:
        """`sandbox: bwrap` (the spelling operators read in the issue) is `isolation: bwrap`; Codex's
        own sandbox modes keep the key's other values."""
        if isinstance(data, dict) and data.get("sandbox") == "bwrap":
            data = {k: v for k, v in data.items() if k != "sandbox"}
            if data.setdefault("isolation", "bwrap") != "bwrap":
                raise ValueError("sandbox: bwrap contradicts isolation: none")
        return data

    @_model_validator(mode="after")
    def _fits_its_kind(self) -> AgentConfig:
        if self.command is None and self.kind == "script":
            raise ValueError("a script agent needs `command`")
        if self.base_url is not None and self.kind == "cursor":
            raise ValueError("cursor cannot be pointed at a custom endpoint (base_url); it only talks to Cursor")
        if self.mcp_servers and self.kind in ("aider", "script"):
            raise ValueError(f"{self.kind} agents take no mcp_servers")
        if self.max_turns is not None and self.kind != "claude_code":
            raise ValueError("max_turns is only supported by claude_code")
        return self

    @property
    def argv_prefix(self) -> list[str]:
        """`command` as argv (a string is split like a shell would), or the kind's usual executable."""
        if self.command is None:
            return [DEFAULT_COMMANDS[self.kind]]
        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)


class RoutingRule(_Strict):
    agent: str
    repo: str | None = None
    label: str | None = None
    channel: str | None = None


class Routing(_Strict):
    default_agent: str | None = None
    rules: list[RoutingRule] = Field(default_factory=list)
    fallback: list[str] = Field(default_factory=list)


class BestOf(_Strict):
    agents: list[str] = Field(min_length=1)
    n: int | None = Field(default=None, ge=1)
    judge: Literal["checks_then_smallest_diff", "checks_then_cheapest", "smallest_diff"] = "checks_then_smallest_diff"
    concurrent: bool = False


class GroupChat(_Strict):
    participants: list[str] = Field(min_length=2)
    moderator: str | None = None
    max_rounds: int = Field(default=3, ge=1)
    agree_word: str = "LGTM"


class HandoffRoute(_Strict):
    to: str
    when: Literal["failed", "succeeded", "always"] | None = None
    summary_matches: str | None = None


class Handoff(_Strict):
    start: str
    routes: list[HandoffRoute] = Field(default_factory=list)
    max_hops: int = Field(default=3, ge=1)


class Verify(_Strict):
    do: Node
    max_attempts: int = Field(default=3, ge=1)


class Node(_Strict):
    """One node of a playbook: exactly one of the pattern fields is set."""

    name: str | None = None
    task: str | None = None
    agent: str | None = None
    sequential: list[Node] | None = None
    best_of: BestOf | None = None
    group_chat: GroupChat | None = None
    handoff: Handoff | None = None
    verify: Verify | None = None
    fallback: list[str] | None = None

    @_model_validator(mode="after")
    def _exactly_one_pattern(self) -> Node:
        kinds = [k for k in self.pattern_fields() if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a playbook node needs exactly one of {', '.join(self.pattern_fields())}; "
                f"got {', '.join(kinds) or 'none'}"
            )
        return self

    @staticmethod
    def pattern_fields() -> tuple[str, ...]:
        return ("agent", "sequential", "best_of", "group_chat", "handoff", "verify", "fallback")

    @property
    def pattern(self) -> str:
        return next(k for k in self.pattern_fields() if getattr(self, k) is not None)


def default_node() -> Node:
    return Node(verify=Verify(do=Node(fallback=[ROUTED_AGENT]), max_attempts=2))


class Playbook(_Strict):
    description: str = ""
    repos: list[str] = Field(default_factory=list)
    planner: str | None = None
    approve_plan: bool | None = None
    per_repo: Node = Field(default_factory=default_node)


class ApprovalPolicy(_Strict):
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
    per_run: int = Field(default=4, ge=1)
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
    github: GitHubConfig = Field(default_factory=GitHubConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    linear: LinearConfig = Field(default_factory=LinearConfig)

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


def agents_in(node: Node) -> set[str]:
    """Every agent name a playbook node refers to."""
    found: set[str] = set()
    if node.agent:
        found.add(node.agent)
    for child in node.sequential or []:
        found |= agents_in(child)
    if node.best_of:
        found |= set(node.best_of.agents)
    if node.group_chat:
        found |= set(node.group_chat.participants)
        if node.group_chat.moderator:
            found.add(node.group_chat.moderator)
    if node.handoff:
        found |= {node.handoff.start} | {r.to for r in node.handoff.routes}
    if node.verify:
        found |= agents_in(node.verify.do)
    found |= set(node.fallback or [])
    return found


class Settings(BaseSettings):
    """Process settings: where things live and the services' secrets (unset secret = source off)."""

    model_config = SettingsConfigDict(env_prefix="BATON_", extra="ignore")

    config: Path = Path("baton.yml")
    home: Path = Path(".baton")
    database_url: str | None = None
    public_url: str = "http://127.0.0.1:8000"
    log_format: Literal["auto", "json", "console"] = "auto"
    # Idle CPU of one process, measured here: 0.05 s → 9.9% of a core, 0.1 s → 6.1%, 0.2 s → 3.5%;
    # a repo waits on average half of it before it starts.
    queue_polling_s: float = 0.1
    notification_polling_s: float = 0.05
    # Threads are created lazily, so a high cap costs nothing until work needs them. A run waiting
    # for a person holds one only when it blocks (`park_waits` off), in `recv`.
    executor_threads: int = 512
    # Whether a run waiting for a person parks (its workflow ends and holds no thread; a message
    # starts a continuation; expiry comes from the scheduler) or blocks in `recv` until a message or
    # its deadline. Unset: `baton serve` and `baton worker` park, `baton run`/`demo` (no scheduler) block.
    park_waits: bool | None = None
    # The dashboard (`/`, `/runs/<id>`): with a token, asked of every client (Bearer header, or
    # `?token=` once, which sets a cookie); without one, answered only to loopback clients.
    dashboard_token: SecretStr | None = None

    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET"))
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN"))
    slack_app_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN"))
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL"))
    github_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GITHUB_WEBHOOK_SECRET")
    )
    github_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("GITHUB_TOKEN"))
    # Read here too (the GitHub forge has its own credentials model) so redaction knows the key.
    github_app_id: str | None = Field(default=None, validation_alias=AliasChoices("GITHUB_APP_ID"))
    github_app_private_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("GITHUB_APP_PRIVATE_KEY")
    )
    github_api_url: str = Field(default="https://api.github.com", validation_alias=AliasChoices("GITHUB_API_URL"))
    linear_webhook_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("LINEAR_WEBHOOK_SECRET")
    )
    linear_api_key: SecretStr | None = Field(default=None, validation_alias=AliasChoices("LINEAR_API_KEY"))
    linear_api_url: str = Field(
        default="https://api.linear.app/graphql", validation_alias=AliasChoices("LINEAR_API_URL")
    )

    @_model_validator(mode="after")
    def _home_beside_config(self) -> Settings:
        """Unset, the config is the nearest `baton.yml` and the home the `.baton` beside it (bot/home.py)."""
        if "config" not in self.model_fields_set:
            self.config = find_config(Path.cwd())
        if "home" not in self.model_fields_set:
            self.home = home_for(self.config)
        return self

    def secret_values(self) -> list[str]:
        """Every secret this process holds (each SecretStr setting), for redaction."""
        values = [getattr(self, name) for name in type(self).model_fields]
        return [v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()]

    @property
    def store_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'baton.db').resolve()}"

    @property
    def system_database_url(self) -> str:
        """DBOS's own database: beside ours on SQLite, the same server on PostgreSQL."""
        if self.database_url and not self.database_url.startswith("sqlite"):
            return self.database_url
        return f"sqlite:///{(self.home / 'dbos.db').resolve()}"


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
