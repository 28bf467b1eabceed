"""The Claude Code adapter: recorded stream-json runs become the right AgentResult, and the CLI is
started with the flags, config files and environment the facts file prescribes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.agents.claude_code import ClaudeStream
from bot.domain.models import AgentResult, AgentStatus
from tests import agent_support
from tests.agent_support import (
    RECORDED,
    Progress,
    feed_recording,
    follow_up_argv,
    make_task,
    recorded_call,
    replay_agent,
    run,
    start,
    work_tree,
)


def replay(tmp_path: Path, name: str, exit_code: int = 0, **fields: object) -> tuple[AgentResult, Progress]:
    return agent_support.replay("claude_code", tmp_path, RECORDED / name, exit_code, **fields)


def test_a_successful_run_reports_summary_tokens_cost_and_session(tmp_path: Path) -> None:
    result, _ = replay(tmp_path, "claude1.jsonl")
    assert result.status is AgentStatus.succeeded
    assert result.summary == "Done: created hello.txt."
    assert (result.usage.tokens_in, result.usage.tokens_out) == (300, 60)
    assert result.usage.cost_usd == 0.003  # the CLI's total_cost_usd, not the price table
    assert result.session_id == "d78f1743-eaf3-4750-b68e-10d6cdd1691a"
    assert result.permission_denials == []


def test_progress_reports_tool_calls_and_files_touched_in_order() -> None:
    progress = feed_recording(ClaudeStream, RECORDED / "claude1.jsonl", Path("/workspace/repo1"))
    assert progress.tools() == ["Write", "Bash"]
    assert progress.of("files") == [{"files": ["hello.txt"]}]
    assert progress.of("tool")[1]["detail"] == "cat hello.txt && git status --short"
    assert progress.of("usage")[-1] == {"tokens_in": 300, "tokens_out": 60, "cost_usd": 0.003}


def test_a_resumed_run_keeps_its_session_id(tmp_path: Path) -> None:
    result, _ = replay(tmp_path, "claude2.jsonl")
    assert result.ok
    assert result.session_id == "5cb08281-2f21-47ce-91db-4de5da235353"


def test_max_turns_is_a_failure_naming_the_limit(tmp_path: Path) -> None:
    result, _ = replay(tmp_path, "claude10a.jsonl", exit_code=1)
    assert result.status is AgentStatus.failed
    assert "Reached maximum number of turns (1)" in result.summary
    assert result.usage.cost_usd == 0.001


def test_a_denied_write_with_exit_zero_and_success_fails_the_step(tmp_path: Path) -> None:
    result, progress = replay(tmp_path, "claude10b.jsonl")
    assert result.status is AgentStatus.failed
    assert result.permission_denials == ["Write(/workspace/repo10/hello.txt)"]
    assert "permission denied: Write(/workspace/repo10/hello.txt)" in result.summary
    assert progress.of("permission_denied") == [{"what": "Write(/workspace/repo10/hello.txt)"}]


def test_denials_can_be_reported_without_failing(tmp_path: Path) -> None:
    result, _ = replay(tmp_path, "claude10b.jsonl", on_permission_denial="report")
    assert result.status is AgentStatus.succeeded
    assert result.permission_denials == ["Write(/workspace/repo10/hello.txt)"]
    assert "permission denied" in result.summary


def test_api_retries_are_reported_then_the_error_fails_the_step(tmp_path: Path) -> None:
    result, progress = replay(tmp_path, "claudeerr500.jsonl", exit_code=1)
    assert result.status is AgentStatus.failed
    assert "API error 500" in result.summary
    assert [r["attempt"] for r in progress.of("api_retry")] == [1, 2]


def test_an_unauthorised_key_after_default_retries_is_a_failure(tmp_path: Path) -> None:
    result, progress = replay(tmp_path, "claudeerr401.jsonl", exit_code=1)
    assert result.status is AgentStatus.failed
    assert len(progress.of("api_retry")) == 10


def test_argv_carries_headless_flags_permissions_limits_mcp_and_model(tmp_path: Path) -> None:
    argv = start(
        "claude_code",
        tmp_path,
        RECORDED / "claude1.jsonl",
        task=make_task(prompt="--help me"),
        permission_mode="default",
        allowed_tools=["Write", "Bash(git *)"],
        disallowed_tools=["WebFetch"],
        max_turns=5,
        model="claude-sonnet-4-5",
        mcp_servers={"demo": {"command": ["python", "server.py", "--x"], "env": {"LEVEL": "1"}}},
    ).argv
    assert argv[:2] == ["-p", " --help me"]  # a prompt never turns into an option
    for flag, value in [
        ("--output-format", "stream-json"),
        ("--permission-mode", "default"),
        ("--allowedTools", "Write,Bash(git *)"),
        ("--disallowedTools", "WebFetch"),
        ("--max-turns", "5"),
        ("--model", "claude-sonnet-4-5"),
    ]:
        assert argv[argv.index(flag) + 1] == value
    assert "--verbose" in argv and "--strict-mcp-config" in argv
    mcp = json.loads(Path(argv[argv.index("--mcp-config") + 1]).read_text())
    assert mcp == {
        "mcpServers": {
            "demo": {"type": "stdio", "command": "python", "args": ["server.py", "--x"], "env": {"LEVEL": "1"}}
        }
    }


def test_env_has_its_own_config_dir_capped_retries_and_endpoint_but_no_baton_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret")
    monkeypatch.setenv("MY_ANTHROPIC_KEY", "sk-ant-123456")
    started = start(
        "claude_code",
        tmp_path,
        RECORDED / "claude1.jsonl",
        env={"ANTHROPIC_API_KEY": "${MY_ANTHROPIC_KEY}"},
        base_url="http://127.0.0.1:9/",
        max_retries=1,
    )
    env = started.env
    home = started.agent.home_for("run-1")
    assert env["HOME"] == str(home)
    assert env["CLAUDE_CONFIG_DIR"] == str(home / ".claude")
    assert env["CLAUDE_CODE_MAX_RETRIES"] == "1"
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9/"
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-123456"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == "1"
    assert "SLACK_BOT_TOKEN" not in env and "MY_ANTHROPIC_KEY" not in env


def test_a_follow_up_resumes_the_session_whose_commit_it_builds_on(tmp_path: Path) -> None:
    follow_up = make_task(step_key="svc/02-impl", feedback="tests fail: fix them")
    argv = follow_up_argv("claude_code", tmp_path, RECORDED / "claude1.jsonl", follow_up)
    assert argv[argv.index("--resume") + 1] == "d78f1743-eaf3-4750-b68e-10d6cdd1691a"


def test_a_follow_up_after_a_failed_step_starts_a_new_session(tmp_path: Path) -> None:
    tree = work_tree(tmp_path)
    record = tmp_path / "call.json"
    agent = replay_agent(
        "claude_code", tmp_path, RECORDED / "claudeerr400.jsonl", env={"REPLAY_RECORD": str(record), "REPLAY_EXIT": "1"}
    )
    assert not run(agent, tree).ok
    run(agent, tree, make_task(feedback="try again"))
    assert "--resume" not in recorded_call(record)["argv"]
