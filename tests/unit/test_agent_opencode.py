"""The opencode adapter: the recorded `opencode run --format json` stream becomes the right
AgentResult (opencode prices its own steps), and its per-run config points at the endpoint."""

from __future__ import annotations

import json
from pathlib import Path

from bot.agents.opencode import OpencodeStream
from bot.domain.models import AgentStatus
from tests.agent_support import RECORDED, Progress, feed_recording, replay, replay_agent, run, start


def test_a_run_reports_summary_tokens_cost_and_session(tmp_path: Path) -> None:
    result, _ = replay("opencode", tmp_path, RECORDED / "opencode12.jsonl", usd_per_million_tokens=(100.0, 100.0))
    assert result.status is AgentStatus.succeeded
    assert result.summary == "Done: created hello.txt."
    assert (result.usage.tokens_in, result.usage.tokens_out) == (200, 40)
    assert result.usage.cost_usd == 0.0012  # the two step_finish costs, not the price table
    assert result.session_id == "ses_df508ed78ffeFlGFexHWO98gDf"


def test_progress_shows_the_write_and_the_file() -> None:
    progress = feed_recording(OpencodeStream, RECORDED / "opencode12.jsonl", Path("/workspace/repo12"))
    assert progress.tools() == ["write"]
    assert progress.of("files") == [{"files": ["hello.txt"]}]
    assert [u["cost_usd"] for u in progress.of("usage")] == [0.0006, 0.0012]


def test_an_error_event_fails_the_run_with_its_message() -> None:
    parser = OpencodeStream(Progress())
    parser.feed(
        json.dumps(
            {"type": "error", "sessionID": "ses_1", "error": {"name": "APIError", "data": {"message": "boom 500"}}}
        )
    )
    assert parser.state.is_error and parser.state.error == "boom 500"


def test_a_stream_that_stops_after_tool_calls_has_not_finished(tmp_path: Path) -> None:
    lines = (RECORDED / "opencode12.jsonl").read_text().splitlines()[:3]
    partial = tmp_path / "partial.jsonl"
    partial.write_text("\n".join(lines) + "\n")
    result = run(replay_agent("opencode", tmp_path, partial), tmp_path)
    assert result.status is AgentStatus.failed
    assert "ended without its final result" in result.summary


def test_config_points_the_provider_at_the_endpoint_with_the_key_by_reference(tmp_path: Path) -> None:
    started = start(
        "opencode",
        tmp_path,
        RECORDED / "opencode12.jsonl",
        model="anthropic/claude-sonnet-4-5",
        base_url="http://127.0.0.1:9/v1",
        disallowed_tools=["webfetch"],
        mcp_servers={"demo": {"command": ["python", "server.py"]}},
    )
    config = json.loads(Path(started.env["OPENCODE_CONFIG"]).read_text())
    assert config["provider"] == {
        "anthropic": {"options": {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "{env:ANTHROPIC_API_KEY}"}}
    }
    assert config["autoupdate"] is False and config["share"] == "disabled"
    assert config["permission"] == {"webfetch": "deny"}
    assert config["mcp"]["demo"]["command"] == ["python", "server.py"]
    argv = started.argv
    assert argv[:4] == ["run", "--format", "json", "--auto"]
    assert argv[argv.index("--model") + 1] == "anthropic/claude-sonnet-4-5"
    assert started.env["XDG_DATA_HOME"].startswith(str(started.agent.home_for("run-1")))


def test_a_failing_endpoint_seen_in_the_error_log_is_stopped_after_max_retries(tmp_path: Path) -> None:
    error = (
        'timestamp=2026-11-24T08:30:01.267Z level=ERROR run=adf98938 message="stream error" providerID=anthropic '
        "modelID=claude-sonnet-4-5 session.id=ses_1 small={small} agent=build mode=primary "
        'error.error="AI_APICallError: scripted 500"'
    )
    log = tmp_path / "errors.txt"
    log.write_text("\n".join([error.format(small="true")] + [error.format(small="false")] * 2) + "\n")
    agent = replay_agent("opencode", tmp_path, log, env={"REPLAY_HANG": "1"}, max_retries=1)
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.failed
    assert result.summary == "endpoint still failing after 1 retries: AI_APICallError: scripted 500"
