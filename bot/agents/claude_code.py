"""Claude Code: `claude -p <prompt> --output-format stream-json --verbose`, parsed as it streams.

The stream is NDJSON: `system/init` (session id, MCP servers), `assistant` and `user` events (one
per content block: text, tool_use, tool_result), `system/api_retry`, and one final `result` with
`is_error`, usage, `total_cost_usd` and `permission_denials`. `is_error: true` is a failure even
when `subtype` is "success" (an API error), and a denied tool leaves exit code 0 and success, so
denials are read from the result. Retries are capped with CLAUDE_CODE_MAX_RETRIES (default 10
would turn a dead endpoint into minutes). Config and sessions live in a per-run
CLAUDE_CONFIG_DIR, so `--resume <session_id>` finds the session the previous step left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.agents import mcp
from bot.agents.cli import CliAgent, Invocation, positional, task_prompt
from bot.agents.stream import StreamParser, as_dict, as_int, parse_json_line, short
from bot.domain.models import AgentTask
from bot.domain.ports import ProgressSink

FILE_TOOLS = {"Write": "file_path", "Edit": "file_path", "MultiEdit": "file_path", "NotebookEdit": "notebook_path"}
QUIET_ENV = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
}


class ClaudeStream(StreamParser):
    def __init__(self, sink: ProgressSink, root: Path | None = None) -> None:
        super().__init__(sink, root)
        self._messages: set[str] = set()

    def feed(self, line: str) -> None:
        event = parse_json_line(line)
        if event is None:
            return
        kind = event.get("type")
        if isinstance(event.get("session_id"), str):
            self.state.session_id = event["session_id"]
        if kind == "system" and event.get("subtype") == "api_retry":
            error = f"HTTP {event.get('error_status')} {event.get('error') or ''}".strip()
            self.progress.retry(as_int(event.get("attempt")), error)
        elif kind == "system" and event.get("subtype") == "init":
            failed = [s.get("name") for s in event.get("mcp_servers") or [] if as_dict(s).get("status") == "failed"]
            if failed:
                self.progress.text(f"MCP servers failed to start: {', '.join(map(str, failed))}")
        elif kind == "assistant":
            self._assistant(as_dict(event.get("message")))
        elif kind == "result":
            self._result(event)

    def _assistant(self, message: dict[str, Any]) -> None:
        message_id = message.get("id")
        usage = as_dict(message.get("usage"))
        if isinstance(message_id, str) and message_id not in self._messages and usage:
            self._messages.add(message_id)
            self.progress.tokens(_input_tokens(usage), as_int(usage.get("output_tokens")))
        for block in message.get("content") or []:
            block = as_dict(block)
            if block.get("type") == "text":
                self.progress.text(str(block.get("text") or ""))
            elif block.get("type") == "tool_use":
                name = str(block.get("name") or "tool")
                tool_input = as_dict(block.get("input"))
                self.progress.tool(name, tool_input.get("command") or tool_input.get("file_path") or tool_input)
                key = FILE_TOOLS.get(name)
                if key and isinstance(tool_input.get(key), str):
                    self.progress.file(tool_input[key])

    def _result(self, event: dict[str, Any]) -> None:
        state = self.state
        state.finished = True
        state.is_error = bool(event.get("is_error")) or event.get("subtype") not in (None, "success")
        text = event.get("result")
        state.final_text = text if isinstance(text, str) else None
        usage = as_dict(event.get("usage"))
        cost = event.get("total_cost_usd")
        self.progress.set_totals(
            _input_tokens(usage),
            as_int(usage.get("output_tokens")),
            float(cost) if isinstance(cost, int | float) else None,
        )
        if state.is_error:
            errors = [str(e) for e in event.get("errors") or []]
            status = event.get("api_error_status")
            detail = "; ".join(errors) or state.final_text or str(event.get("subtype"))
            state.error = f"API error {status}: {detail}" if status else detail
        for denial in event.get("permission_denials") or []:
            denial = as_dict(denial)
            tool_input = as_dict(denial.get("tool_input"))
            target = tool_input.get("file_path") or tool_input.get("command") or tool_input
            self.progress.denied(f"{denial.get('tool_name')}({short(target, 80)})")


def _input_tokens(usage: dict[str, Any]) -> int:
    return sum(as_int(usage.get(k)) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"))


class ClaudeCodeAgent(CliAgent):
    kind = "claude_code"
    stream = ClaudeStream

    def invocation(self, task: AgentTask, workdir: Path, home: Path, resume: str | None) -> Invocation:
        config = self.config
        argv = [*config.argv_prefix, "-p", positional(task_prompt(task))]
        argv += ["--output-format", "stream-json", "--verbose"]
        argv += ["--permission-mode", config.permission_mode or "acceptEdits"]
        if config.allowed_tools:
            argv += ["--allowedTools", ",".join(config.allowed_tools)]
        if config.disallowed_tools:
            argv += ["--disallowedTools", ",".join(config.disallowed_tools)]
        if config.max_turns is not None:
            argv += ["--max-turns", str(config.max_turns)]
        if config.model:
            argv += ["--model", config.model]
        if config.mcp_servers:
            path = home / "mcp.json"
            path.write_text(mcp.claude_json(config), encoding="utf-8")
            argv += ["--mcp-config", str(path), "--strict-mcp-config"]
        if resume:
            argv += ["--resume", resume]
        env = {
            **QUIET_ENV,
            "CLAUDE_CONFIG_DIR": str(home / ".claude"),
            "CLAUDE_CODE_MAX_RETRIES": str(config.max_retries),
        }
        url = self.base_url()
        if url:
            env["ANTHROPIC_BASE_URL"] = url
        return Invocation(argv=argv, env=env)
