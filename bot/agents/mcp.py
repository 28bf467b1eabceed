"""MCP servers from an agent's config, in the shape each CLI reads them.

The config names each server once (`agents[].mcp_servers.<name>: {command, env}`); Claude Code
and Cursor read `{"mcpServers": {...}}` JSON, Codex reads `[mcp_servers.<name>]` TOML tables,
opencode reads `{"mcp": {...}}` in its own config. `${NAME}` in a server's env is taken from
Baton's environment when the agent starts, and those values are redacted like the agent's own.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from bot.config.agents import AgentConfig, McpServer
from bot.config.env_refs import expand_env, referenced_secrets


def argv(server: McpServer) -> list[str]:
    return shlex.split(server.command) if isinstance(server.command, str) else list(server.command)


def secrets(config: AgentConfig) -> list[str]:
    found: list[str] = []
    for server in config.mcp_servers.values():
        found += referenced_secrets(server.env)
    return found


def claude_json(config: AgentConfig) -> str:
    """`--mcp-config` for Claude Code (and Cursor's `mcp.json`): stdio servers by name."""
    servers: dict[str, Any] = {}
    for name, server in config.mcp_servers.items():
        command = argv(server)
        servers[name] = {"type": "stdio", "command": command[0], "args": command[1:], "env": expand_env(server.env)}
    return json.dumps({"mcpServers": servers}, indent=2)


def opencode_entries(config: AgentConfig) -> dict[str, Any]:
    return {
        name: {"type": "local", "command": argv(server), "environment": expand_env(server.env), "enabled": True}
        for name, server in config.mcp_servers.items()
    }


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escaping is a valid subset of TOML's)."""
    return json.dumps(value)


def codex_toml(config: AgentConfig) -> str:
    """`[mcp_servers.<name>]` tables; tools pre-approved, since `codex exec` cannot ask anyone."""
    blocks: list[str] = []
    for name, server in config.mcp_servers.items():
        command = argv(server)
        lines = [
            f"[mcp_servers.{toml_string(name)}]",
            f"command = {toml_string(command[0])}",
            "args = [" + ", ".join(toml_string(a) for a in command[1:]) + "]",
            'default_tools_approval_mode = "approve"',
        ]
        env = expand_env(server.env)
        if env:
            pairs = ", ".join(f"{toml_string(k)} = {toml_string(v)}" for k, v in env.items())
            lines.append(f"env = {{ {pairs} }}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
