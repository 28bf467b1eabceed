"""Cursor: `cursor-agent -p --trust --output-format stream-json [--force] <prompt>`.

Cursor talks only to Cursor's own service (no custom endpoint), so it cannot run offline: the
adapter is tested by replaying its stream. The stream mirrors Claude Code's: `system/init` with
the session id, `assistant` text, `tool_call` `started`/`completed` (the tool named by a key like
`writeToolCall` or `shellToolCall`, its result one of `success`, `rejected`, `permissionDenied`,
…), and a final `result` with `is_error` and usage (`inputTokens`, `outputTokens`, cache
figures; no cost, so tokens are priced with `usd_per_million_tokens`). On failure it may print
no JSON at all and exit non-zero. Shell commands are rejected unless `--force` is given
(`permission_mode: force`, the default; `default` leaves Cursor's own rules in charge). MCP
servers go to `$HOME/.cursor/mcp.json` in the per-run HOME; `--resume <session_id>` resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.agents import mcp
from bot.agents.cli import CliAgent, Invocation, positional, task_prompt
from bot.agents.stream import StreamParser, as_dict, as_int, parse_json_line, short
from bot.domain.models import AgentTask

DENIED = {"rejected", "permissionDenied", "readPermissionDenied", "writePermissionDenied"}
FILE_TOOLS = {"write", "edit", "delete"}


class CursorStream(StreamParser):
    def feed(self, line: str) -> None:
        event = parse_json_line(line)
        if event is None:
            return
        state = self.state
        if isinstance(event.get("session_id"), str):
            state.session_id = event["session_id"]
        kind = event.get("type")
        if kind == "assistant":
            for block in as_dict(event.get("message")).get("content") or []:
                if as_dict(block).get("type") == "text":
                    self.progress.text(str(as_dict(block).get("text") or ""))
        elif kind == "tool_call":
            self._tool_call(str(event.get("subtype")), as_dict(event.get("tool_call")))
        elif kind == "result":
            state.finished = True
            state.is_error = bool(event.get("is_error")) or event.get("subtype") not in (None, "success")
            text = event.get("result")
            state.final_text = text if isinstance(text, str) else None
            if state.is_error:
                state.error = state.final_text or str(event.get("subtype"))
            usage = as_dict(event.get("usage"))
            tokens_in = sum(as_int(usage.get(k)) for k in ("inputTokens", "cacheReadTokens", "cacheWriteTokens"))
            self.progress.set_totals(tokens_in, as_int(usage.get("outputTokens")), None)

    def _tool_call(self, subtype: str, call: dict[str, Any]) -> None:
        if not call:
            return
        key, body = next(iter(call.items()))
        body = as_dict(body)
        name = key.removesuffix("ToolCall")
        args = as_dict(body.get("args"))
        if subtype == "started":
            self.progress.tool(name, args.get("command") or args.get("path") or args)
            return
        result = as_dict(body.get("result"))
        outcome = next((k for k in result if k in DENIED or k == "success"), None)
        if outcome in DENIED:
            detail = as_dict(result[outcome])
            target = detail.get("command") or detail.get("path") or args.get("command") or args.get("path") or ""
            self.progress.denied(f"{name}({short(target, 80)})")
        elif outcome == "success" and name in FILE_TOOLS:
            path = as_dict(result["success"]).get("path") or args.get("path")
            if isinstance(path, str):
                self.progress.file(path)


class CursorAgent(CliAgent):
    kind = "cursor"
    stream = CursorStream

    def invocation(self, task: AgentTask, workdir: Path, home: Path, resume: str | None) -> Invocation:
        config = self.config
        argv = [*config.argv_prefix, "-p", "--trust", "--output-format", "stream-json"]
        if (config.permission_mode or "force") == "force":
            argv.append("--force")
        if config.model:
            argv += ["--model", config.model]
        if resume:
            argv += ["--resume", resume]
        if config.mcp_servers:
            path = home / ".cursor" / "mcp.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(mcp.claude_json(config), encoding="utf-8")
        argv.append(positional(task_prompt(task)))
        return Invocation(argv=argv)
