"""Codex CLI: `codex exec --json`, stdin closed, with a per-run CODEX_HOME holding its config.

Codex ignores OPENAI_BASE_URL, so the endpoint is a model provider in `$CODEX_HOME/config.toml`
(`wire_api = "responses"`, the key read from the variable `api_key_env` names, retries capped with
`request_max_retries`/`stream_max_retries`); the sandbox, approval policy and MCP servers sit there
too, so `codex exec resume <thread_id>` runs with exactly the same settings. Its JSONL stream:
`thread.started`, `item.started|completed` (agent_message, file_change, command_execution,
mcp_tool_call, error), `error`, then `turn.completed` with usage (no cost: tokens are priced with
`usd_per_million_tokens`) or `turn.failed`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot.agents import mcp
from bot.agents.cli import CliAgent, Invocation, positional, task_prompt
from bot.agents.stream import StreamParser, as_dict, as_int, parse_json_line
from bot.domain.models import AgentTask

OPENAI_URL = "https://api.openai.com/v1"
_RECONNECT = re.compile(r"^Reconnecting\.\.\. (\d+)/(\d+)")


class CodexStream(StreamParser):
    def feed(self, line: str) -> None:
        event = parse_json_line(line)
        if event is None:
            return
        kind = event.get("type")
        state = self.state
        if kind == "thread.started" and isinstance(event.get("thread_id"), str):
            state.session_id = event["thread_id"]
        elif kind in ("item.started", "item.completed"):
            self._item(str(kind), as_dict(event.get("item")))
        elif kind == "error":
            message = str(event.get("message") or "")
            retry = _RECONNECT.match(message)
            if retry:
                self.progress.retry(int(retry.group(1)), message)
            else:
                state.error = message
        elif kind == "turn.completed":
            usage = as_dict(event.get("usage"))
            # cached_input_tokens are part of input_tokens (OpenAI counts them inside it).
            self.progress.tokens(as_int(usage.get("input_tokens")), as_int(usage.get("output_tokens")))
            state.finished, state.is_error, state.error = True, False, None
        elif kind == "turn.failed":
            state.finished, state.is_error = True, True
            state.error = str(as_dict(event.get("error")).get("message") or state.error or "turn failed")

    def _item(self, kind: str, item: dict[str, Any]) -> None:
        item_type = item.get("type")
        done = kind == "item.completed"
        if item_type == "agent_message" and done:
            self.progress.text(str(item.get("text") or ""))
        elif item_type == "file_change" and done:
            paths = [str(as_dict(c).get("path")) for c in item.get("changes") or []]
            self.progress.tool("apply_patch", ", ".join(paths))
            if item.get("status") == "completed":
                for path in paths:
                    self.progress.file(path)
        elif item_type == "command_execution" and not done:
            self.progress.tool("exec", item.get("command") or "")
        elif item_type == "command_execution" and item.get("status") == "declined":
            self.progress.denied(f"exec({item.get('command')})")
        elif item_type == "mcp_tool_call" and not done:
            self.progress.tool(f"mcp__{item.get('server')}__{item.get('tool')}", item.get("arguments") or "")
        elif item_type == "mcp_tool_call" and done and item.get("error"):
            error = str(as_dict(item.get("error")).get("message") or item.get("error"))
            if "approval" in error:
                self.progress.denied(f"mcp__{item.get('server')}__{item.get('tool')}: {error}")


class CodexAgent(CliAgent):
    kind = "codex"
    stream = CodexStream

    def config_toml(self) -> str:
        config = self.config
        lines = []
        if config.model:
            lines.append(f"model = {mcp.toml_string(config.model)}")
        lines += [
            'model_provider = "baton"',
            f"sandbox_mode = {mcp.toml_string(config.sandbox)}",
            'approval_policy = "never"',
            "",
            "[analytics]",
            "enabled = false",
            "",
            "[model_providers.baton]",
            'name = "baton"',
            f"base_url = {mcp.toml_string(self.base_url() or OPENAI_URL)}",
            f"env_key = {mcp.toml_string(config.api_key_env or 'OPENAI_API_KEY')}",
            'wire_api = "responses"',
            f"request_max_retries = {config.max_retries}",
            f"stream_max_retries = {config.max_retries}",
        ]
        servers = mcp.codex_toml(config)
        return "\n".join(lines) + ("\n\n" + servers if servers else "") + "\n"

    def invocation(self, task: AgentTask, workdir: Path, home: Path, resume: str | None) -> Invocation:
        codex_home = home / ".codex"
        codex_home.mkdir(parents=True, exist_ok=True)
        (codex_home / "config.toml").write_text(self.config_toml(), encoding="utf-8")
        argv = [*self.config.argv_prefix, "exec"]
        if resume:
            argv += ["resume", resume]
        argv += ["--json", "--skip-git-repo-check", positional(task_prompt(task))]
        return Invocation(argv=argv, env={"CODEX_HOME": str(codex_home)})
