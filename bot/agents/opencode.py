"""opencode: `opencode run --format json --auto <prompt>`, configured through a per-run config file.

The config (`$XDG_CONFIG_HOME/opencode/opencode.json` under the per-run HOME, also named by
OPENCODE_CONFIG) points the model's provider at `base_url` with the key from `api_key_env`, turns
autoupdate and sharing off, lists MCP servers and denies `disallowed_tools`. The JSON events:
`step_start`, `tool_use` (tool, state.input/output/status), `text`, `step_finish` (reason, tokens,
cost — opencode prices its own steps) and `error`, each with the `sessionID` that `--session`
resumes. A failing endpoint is retried by opencode for as long as it runs, silently on stdout, so
the adapter also asks for its error log (`--print-logs --log-level ERROR`, on stderr): each
`stream error` of the main agent is one failed attempt, and after `max_retries` retries the
adapter stops it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot.agents import mcp
from bot.agents.cli import CliAgent, Invocation, positional, task_prompt
from bot.agents.stream import StreamParser, as_dict, as_int, parse_json_line, short
from bot.domain.models import AgentTask

FILE_TOOLS = {"write", "edit", "patch", "multiedit"}
DEFAULT_KEYS = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY"}
# One failed model call of the main agent (small=true is the session-title side query).
_STREAM_ERROR = re.compile(r'level=ERROR .*message="stream error".* small=false .*error\.error="([^"]*)"')


class OpencodeStream(StreamParser):
    def feed(self, line: str) -> None:
        event = parse_json_line(line)
        if event is None:
            failed = _STREAM_ERROR.search(line)
            if failed:
                self.state.error = failed.group(1)
                self.progress.retry(self.state.retries + 1, failed.group(1))
            return
        state = self.state
        if isinstance(event.get("sessionID"), str):
            state.session_id = event["sessionID"]
        part = as_dict(event.get("part"))
        kind = event.get("type")
        if kind == "tool_use":
            self._tool(part)
        elif kind == "text":
            self.progress.text(str(part.get("text") or ""))
        elif kind == "step_finish":
            tokens = as_dict(part.get("tokens"))
            cache = as_dict(tokens.get("cache"))
            cost = part.get("cost")
            self.progress.tokens(
                as_int(tokens.get("input")) + as_int(cache.get("read")) + as_int(cache.get("write")),
                as_int(tokens.get("output")) + as_int(tokens.get("reasoning")),
                float(cost) if isinstance(cost, int | float) else None,
            )
            if part.get("reason") != "tool-calls":
                state.finished = True
        elif kind == "error":
            error = as_dict(event.get("error"))
            data = as_dict(error.get("data"))
            state.finished, state.is_error = True, True
            state.error = short(data.get("message") or error.get("message") or error.get("name") or event, 400)

    def _tool(self, part: dict[str, Any]) -> None:
        name = str(part.get("tool") or "tool")
        status = as_dict(part.get("state"))
        tool_input = as_dict(status.get("input"))
        self.progress.tool(name, tool_input.get("command") or tool_input.get("filePath") or tool_input)
        if status.get("status") == "completed" and name in FILE_TOOLS and isinstance(tool_input.get("filePath"), str):
            self.progress.file(tool_input["filePath"])
        if status.get("status") == "error":
            error = str(status.get("error") or "")
            if "permission" in error.lower() or "rejected" in error.lower():
                self.progress.denied(f"{name}: {short(error, 120)}")


class OpencodeAgent(CliAgent):
    kind = "opencode"
    stream = OpencodeStream
    enforces_retries = True

    def provider(self) -> str:
        model = self.config.model or ""
        return model.split("/", 1)[0] if "/" in model else "anthropic"

    def config_json(self) -> dict[str, Any]:
        config = self.config
        data: dict[str, Any] = {"$schema": "https://opencode.ai/config.json", "autoupdate": False, "share": "disabled"}
        provider = self.provider()
        key = config.api_key_env or DEFAULT_KEYS.get(provider)
        options: dict[str, Any] = {}
        url = self.base_url()
        if url:
            options["baseURL"] = url
        if key:
            options["apiKey"] = "{env:" + key + "}"
        if options:
            data["provider"] = {provider: {"options": options}}
        if config.mcp_servers:
            data["mcp"] = mcp.opencode_entries(config)
        if config.disallowed_tools:
            data["permission"] = {tool: "deny" for tool in config.disallowed_tools}
        return data

    def invocation(self, task: AgentTask, workdir: Path, home: Path, resume: str | None) -> Invocation:
        config_dir = home / ".config"
        path = config_dir / "opencode" / "opencode.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.config_json(), indent=2), encoding="utf-8")
        argv = [*self.config.argv_prefix, "run", "--format", "json", "--auto", "--print-logs", "--log-level", "ERROR"]
        if self.config.model:
            argv += ["--model", self.config.model]
        if resume:
            argv += ["--session", resume]
        argv.append(positional(task_prompt(task)))
        env = {
            "OPENCODE_CONFIG": str(path),
            "XDG_CONFIG_HOME": str(config_dir),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "OPENCODE_DISABLE_AUTOUPDATE": "1",
        }
        return Invocation(argv=argv, env=env)
