"""The Cursor adapter, by replay only (Cursor cannot be pointed at a local model server): streams
assembled from Cursor's documented event shapes become the right AgentResult."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config.agents import AgentConfig
from bot.domain.models import AgentStatus
from tests.agent_support import ASSEMBLED, replay, replay_agent, run, start


def test_a_run_reports_summary_tokens_session_and_priced_cost(tmp_path: Path) -> None:
    result, progress = replay("cursor", tmp_path, ASSEMBLED / "cursor1.jsonl", usd_per_million_tokens=(1.0, 2.0))
    assert result.status is AgentStatus.succeeded
    assert result.summary == "Done: created hello.txt and the tests pass."
    assert (result.usage.tokens_in, result.usage.tokens_out) == (15948, 103)
    assert result.usage.cost_usd == round((15948 * 1.0 + 103 * 2.0) / 1_000_000, 6)
    assert result.session_id == "00000000-0000-4000-8000-00000000c001"
    assert progress.tools() == ["write", "shell"]


def test_a_rejected_shell_call_is_a_permission_denial(tmp_path: Path) -> None:
    result = run(replay_agent("cursor", tmp_path, ASSEMBLED / "cursor_rejected.jsonl"), tmp_path)
    assert result.status is AgentStatus.failed
    assert result.permission_denials == ["shell(python3 hello.py)"]


def test_a_failure_without_json_reports_the_exit_code_and_last_line(tmp_path: Path) -> None:
    text = tmp_path / "noauth.txt"
    text.write_text("Error: not authenticated\n")
    agent = replay_agent("cursor", tmp_path, text, env={"REPLAY_EXIT": "1"})
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.failed
    assert result.summary == "exit code 1: Error: not authenticated"


def test_argv_is_headless_trusted_forced_and_mcp_goes_to_the_per_run_home(tmp_path: Path) -> None:
    mcp_servers = {"demo": {"command": ["python", "server.py"]}}
    started = start("cursor", tmp_path, ASSEMBLED / "cursor1.jsonl", model="gpt-5", mcp_servers=mcp_servers)
    argv = started.argv
    assert argv[:5] == ["-p", "--trust", "--output-format", "stream-json", "--force"]
    assert argv[-1] == "create hello.txt"
    mcp = json.loads((started.agent.home_for("run-1") / ".cursor" / "mcp.json").read_text())
    assert mcp["mcpServers"]["demo"]["command"] == "python"


def test_cursor_refuses_a_custom_endpoint_in_config() -> None:
    with pytest.raises(ValueError, match="cannot be pointed at a custom endpoint"):
        AgentConfig.model_validate({"name": "c", "kind": "cursor", "base_url": "http://127.0.0.1:9"})
