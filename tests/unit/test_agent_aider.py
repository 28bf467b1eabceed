"""The Aider adapter: aider's text output is read for tokens, cost, edits, retries and errors;
its own commits and history files stay out of the work tree; a dead endpoint stops it early."""

from __future__ import annotations

from pathlib import Path

from bot.agents.aider import AiderStream
from bot.domain.models import AgentStatus
from tests.agent_support import RECORDED, Progress, replay, replay_agent, run, start, work_tree


def test_the_recorded_run_reports_tokens_edit_and_summary(tmp_path: Path) -> None:
    result, progress = replay("aider", tmp_path, RECORDED / "aider1.txt", usd_per_million_tokens=(2.0, 8.0))
    assert result.status is AgentStatus.succeeded
    assert result.summary == "Creating the file."
    assert (result.usage.tokens_in, result.usage.tokens_out) == (100, 20)
    assert result.usage.cost_usd == round((100 * 2.0 + 20 * 8.0) / 1_000_000, 6)
    assert progress.tools() == ["edit"]


def test_token_reports_in_thousands_and_the_session_cost_are_read() -> None:
    parser = AiderStream(Progress())
    parser.feed("Tokens: 2.1k sent, 1.2k cache write, 350 received. Cost: $0.01 message, $0.03 session.")
    parser.feed("Tokens: 12k sent, 1.0k received. Cost: $0.02 message, $0.05 session.")
    state = parser.state
    assert (state.tokens_in, state.tokens_out, state.cost_usd) == (14100, 1350, 0.05)


def test_a_run_without_any_model_reply_fails_with_the_error(tmp_path: Path) -> None:
    log = tmp_path / "err.txt"
    log.write_text("Aider v0.86.2\nlitellm.InternalServerError: OpenAIException - scripted 500\n")
    result = run(replay_agent("aider", tmp_path, log), tmp_path)
    assert result.status is AgentStatus.failed
    assert "litellm.InternalServerError" in result.summary


def test_retrying_a_dead_endpoint_past_max_retries_stops_aider(tmp_path: Path) -> None:
    log = tmp_path / "retries.txt"
    error = "litellm.InternalServerError: OpenAIException - scripted 500"
    log.write_text("".join(f"{error}\nRetrying in {0.25 * 2**i:.1f} seconds...\n" for i in range(3)))
    agent = replay_agent("aider", tmp_path, log, env={"REPLAY_HANG": "1"}, max_retries=2)
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.failed
    assert result.summary.startswith("endpoint still failing after 2 retries")


def test_flags_keep_commits_and_history_files_out_of_the_work_tree(tmp_path: Path) -> None:
    started = start(
        "aider",
        tmp_path,
        RECORDED / "aider1.txt",
        workdir=work_tree(tmp_path),
        env={"REPLAY_WRITE": "hello.txt=hello;.aider.tags.cache.v4/x=cache"},
        model="openai/fake",
        base_url="http://127.0.0.1:9/v1",
    )
    argv = started.argv
    for flag in ("--yes-always", "--no-auto-commits", "--no-dirty-commits", "--no-gitignore"):
        assert flag in argv
    assert argv[argv.index("--model") + 1] == "openai/fake"
    assert argv[argv.index("--openai-api-base") + 1] == "http://127.0.0.1:9/v1"
    assert argv[argv.index("--chat-history-file") + 1].startswith(str(started.agent.home_for("run-1")))
    assert started.result.files_changed == ["hello.txt"]  # the .aider* cache is excluded from the diff
