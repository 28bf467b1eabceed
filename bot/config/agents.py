"""An agent in `baton.yml`'s `agents:` list: its kind (a script or one of the coding-agent CLIs),
the command each kind runs by default, its model, endpoint, MCP servers, tool permissions, budget,
and how its process is confined. Validated at start like the rest of the file (models.py).
"""

from __future__ import annotations

import shlex
from typing import Any, Literal

from pydantic import Field
from pydantic import model_validator as _model_validator

from bot.config.base import Strict as _Strict
from bot.domain.models import Budget

AgentKind = Literal["script", "claude_code", "codex", "aider", "opencode", "cursor"]


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
    # The coding-agent CLIs (every kind but `script`); see bot/agents/ and docs/configuration.md (Agent CLIs).
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
    # Confined unless `isolation: none` is written out; without a working bwrap it does not start.
    isolation: Literal["none", "bwrap"] = "bwrap"
    isolation_network: Literal["none", "host"] = "none"
    # Paths outside its workspace a confined agent may also write (caches, a shared scratch dir).
    isolation_writable: list[str] = Field(default_factory=list)

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
        relative = [p for p in self.isolation_writable if not p.startswith("/")]
        if relative:
            raise ValueError(f"isolation_writable takes absolute paths; got {', '.join(relative)}")
        return self

    @property
    def argv_prefix(self) -> list[str]:
        """`command` as argv (a string is split like a shell would), or the kind's usual executable."""
        if self.command is None:
            return [DEFAULT_COMMANDS[self.kind]]
        return shlex.split(self.command) if isinstance(self.command, str) else list(self.command)
