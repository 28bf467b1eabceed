"""The Codex adapter: recorded `codex exec --json` runs become the right AgentResult, and each run
gets its own CODEX_HOME whose config.toml holds the provider, retries, sandbox and MCP servers."""

from __future__ import annotations

import tomllib
from pathlib import Path

from bot.agents.codex import CodexStream
from bot.domain.models import AgentResult, AgentStatus
from tests import agent_support
from tests.agent_support import RECORDED, Progress, feed_recording, follow_up_argv, make_task, start


def replay(tmp_path: Path, name: str, exit_code: int = 0, **fields: object) -> tuple[AgentResult, Progress]:
    return agent_support.replay("codex", tmp_path, RECORDED / name, exit_code, **fields)


def test_a_successful_turn_reports_summary_tokens_and_thread(tmp_path: Path) -> None:
    result, _ = replay(tmp_path, "codex1.jsonl", usd_per_million_tokens=(1.25, 10.0))
    assert result.status is AgentStatus.succeeded
    assert result.summary == "Done: created hello.txt."
    assert (result.usage.tokens_in, result.usage.tokens_out) == (300, 60)
    assert result.session_id == "01a20af3-2e09-78d3-a2b2-0d2bed16ba96"


def test_codex_reports_no_cost_so_tokens_are_priced_from_config(tmp_path: Path) -> None:
    result, progress = replay(tmp_path, "codex1.jsonl", usd_per_million_tokens=(1.25, 10.0))
    priced = round((300 * 1.25 + 60 * 10.0) / 1_000_000, 6)
    assert result.usage.cost_usd == priced
    assert progress.of("usage") == [{"tokens_in": 300, "tokens_out": 60, "cost_usd": priced}]  # live, too


def test_progress_shows_the_patch_the_command_and_the_file() -> None:
    progress = feed_recording(CodexStream, RECORDED / "codex1.jsonl", Path("/workspace/repo3"))
    assert progress.tools() == ["apply_patch", "exec"]
    assert progress.of("files") == [{"files": ["hello.txt"]}]
    assert progress.of("tool")[1]["detail"] == "/bin/bash -lc 'cat hello.txt && git status --short'"


def test_websocket_reconnects_count_as_retries_and_the_resumed_turn_succeeds(tmp_path: Path) -> None:
    result, progress = replay(tmp_path, "codex9.jsonl")
    assert result.ok and result.summary == "hello from fake"
    assert [r["attempt"] for r in progress.of("api_retry")] == [2, 3, 4, 5]


def test_a_failed_turn_is_a_failure_with_the_servers_message(tmp_path: Path) -> None:
    result, _ = replay(tmp_path, "codexerr500.jsonl", exit_code=1)
    assert result.status is AgentStatus.failed
    assert "experiencing high demand" in result.summary


def test_each_run_gets_a_codex_home_with_provider_retries_sandbox_and_mcp(tmp_path: Path) -> None:
    started = start(
        "codex",
        tmp_path,
        RECORDED / "codex1.jsonl",
        env={"FAKE_KEY": "k"},
        model="gpt-5.5",
        base_url="http://127.0.0.1:9/v1",
        api_key_env="FAKE_KEY",
        max_retries=0,
        sandbox="read-only",
        mcp_servers={"demo": {"command": "python server.py", "env": {"A": "b"}}},
    )
    codex_home = Path(started.env["CODEX_HOME"])
    assert codex_home == started.agent.home_for("run-1") / ".codex"
    config = tomllib.loads((codex_home / "config.toml").read_text())
    assert config["model"] == "gpt-5.5"
    assert config["model_provider"] == "baton"
    assert config["sandbox_mode"] == "read-only"
    assert config["analytics"] == {"enabled": False}
    assert config["model_providers"]["baton"] == {
        "name": "baton",
        "base_url": "http://127.0.0.1:9/v1",
        "env_key": "FAKE_KEY",
        "wire_api": "responses",
        "request_max_retries": 0,
        "stream_max_retries": 0,
    }
    assert config["mcp_servers"]["demo"] == {
        "command": "python",
        "args": ["server.py"],
        "default_tools_approval_mode": "approve",
        "env": {"A": "b"},
    }
    assert started.argv[:4] == ["exec", "--json", "--skip-git-repo-check", "create hello.txt"]


def test_a_follow_up_resumes_the_thread_with_exec_resume(tmp_path: Path) -> None:
    follow_up = make_task(step_key="svc/02-impl", feedback="the tests fail")
    argv = follow_up_argv("codex", tmp_path, RECORDED / "codex1.jsonl", follow_up)
    assert argv[:3] == ["exec", "resume", "01a20af3-2e09-78d3-a2b2-0d2bed16ba96"]
