"""What every CLI adapter shares, run through the replay shim as a real subprocess: timeouts and
cancellation kill the whole process group, the transcript is kept (capped) with secrets redacted,
the files changed are read from git (not from the agent's words), and a live budget stops a
spending agent."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.agents.registry import CLI_ADAPTERS
from bot.agents.transcript import Transcript
from bot.config.agents import AgentConfig
from bot.domain.models import AgentStatus
from tests.agent_support import (
    ASSEMBLED,
    RECORDED,
    Progress,
    make_task,
    recorded_call,
    replay,
    replay_agent,
    run,
    work_tree,
)


def running(mark: Path) -> list[Path]:
    """Live processes whose argv carries `mark` (the shim's child carries its pid file's path:
    confined, its pid is its sandbox's own, meaningless here)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if str(mark).encode() in argv and state != "Z":
            found.append(proc)
    return found


def pid_written(pid_file: Path) -> bool:
    """The child's pid is in the file (it exists a moment before its content does)."""
    return pid_file.exists() and pid_file.read_text().strip().isdigit()


def wait_gone(mark: Path) -> bool:
    deadline = time.monotonic() + 30  # a guard against hanging, not a speed check
    while running(mark) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not running(mark)


def test_a_timeout_kills_the_cli_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    env = {"REPLAY_HANG": "1", "REPLAY_CHILD_PID": str(pid_file)}
    agent = replay_agent("codex", tmp_path, RECORDED / "codex1.jsonl", env=env, timeout_s=1)
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.timed_out
    assert result.summary.startswith("timed out after 1s")
    assert pid_written(pid_file)  # the child was started
    assert wait_gone(pid_file)


def test_a_cancelled_run_kills_the_cli_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    env = {"REPLAY_HANG": "1", "REPLAY_CHILD_PID": str(pid_file)}
    agent = replay_agent("claude_code", tmp_path, RECORDED / "claude1.jsonl", env=env)
    result = agent.run(make_task(), tmp_path, lambda: pid_written(pid_file), Progress())
    assert result.status is AgentStatus.cancelled
    assert wait_gone(pid_file)


def test_progress_arrives_while_the_cli_is_still_running(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    env = {"REPLAY_HANG": "1", "REPLAY_CHILD_PID": str(pid_file)}
    agent = replay_agent("claude_code", tmp_path, RECORDED / "claude1.jsonl", env=env)
    progress = Progress()
    # Stop only once the stream's tool calls were reported: they came before the process ended.
    result = agent.run(make_task(), tmp_path, lambda: len(progress.of("tool")) == 2, progress)
    assert result.status is AgentStatus.cancelled
    assert progress.tools() == ["Write", "Bash"]


def test_the_transcript_keeps_every_line_with_secrets_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSION_SECRET", "d78f1743-eaf3-4750-b68e-10d6cdd1691a")
    agent = replay_agent("claude_code", tmp_path, RECORDED / "claude1.jsonl", env={"TOKEN": "${SESSION_SECRET}"})
    result = run(agent, tmp_path)
    assert result.transcript_path is not None
    transcript = Path(result.transcript_path).read_text()
    assert len(transcript.splitlines()) == len((RECORDED / "claude1.jsonl").read_text().splitlines())
    assert "d78f1743-eaf3-4750-b68e-10d6cdd1691a" not in transcript
    assert "[REDACTED]" in transcript


def test_the_files_changed_are_read_from_the_work_tree_not_the_agents_words(tmp_path: Path) -> None:
    tree = work_tree(tmp_path)
    # The stream says it wrote hello.txt; in fact the CLI wrote other.txt and changed README.md.
    env = {"REPLAY_WRITE": "other.txt=real change;README.md=# changed"}
    result = run(replay_agent("claude_code", tmp_path, RECORDED / "claude1.jsonl", env=env), tree)
    assert result.files_changed == ["README.md", "other.txt"]


def test_spending_past_the_step_budget_stops_the_cli_at_once(tmp_path: Path) -> None:
    agent = replay_agent(
        "codex",
        tmp_path,
        RECORDED / "codex1.jsonl",
        env={"REPLAY_HANG": "1"},
        usd_per_million_tokens=(1000.0, 1000.0),
        budget={"max_usd": 0.1},
    )
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.failed
    assert result.summary == "stopped: step cost $0.3600 is over its budget of $0.10"


def test_a_token_budget_stops_the_cli_too(tmp_path: Path) -> None:
    agent = replay_agent(
        "opencode", tmp_path, RECORDED / "opencode12.jsonl", env={"REPLAY_HANG": "1"}, budget={"max_tokens": 100}
    )
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.failed
    assert result.summary.startswith("stopped: used ")
    assert result.summary.endswith("tokens, over its budget of 100")


def test_an_env_reference_to_a_missing_variable_fails_before_starting(tmp_path: Path) -> None:
    agent = replay_agent("codex", tmp_path, RECORDED / "codex1.jsonl", env={"OPENAI_API_KEY": "${NOT_SET_ANYWHERE}"})
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.failed
    assert "NOT_SET_ANYWHERE is not set" in result.summary


def test_a_missing_executable_is_a_failure_naming_it(tmp_path: Path) -> None:
    config = AgentConfig.model_validate({"name": "ghost", "kind": "opencode", "command": ["/nonexistent/opencode"]})
    result = run(CLI_ADAPTERS["opencode"](config, home_root=tmp_path), tmp_path)
    assert result.status is AgentStatus.failed
    assert "/nonexistent/opencode" in result.summary


def test_the_cli_runs_in_the_workspace_with_the_per_run_home(tmp_path: Path) -> None:
    tree = work_tree(tmp_path)
    record = tmp_path / "call.json"
    agent = replay_agent("cursor", tmp_path, ASSEMBLED / "cursor1.jsonl", env={"REPLAY_RECORD": str(record)})
    run(agent, tree, make_task(run_id="run/7"))
    call = recorded_call(record)
    assert call["cwd"] == str(tree)
    assert call["env"]["HOME"] == str(tmp_path / "homes" / "run_7" / agent.name)
    assert set(call["env"]) >= {"PATH", "HOME", "LANG", "TMPDIR"}
    assert not any(k.startswith(("SLACK_", "GITHUB_", "LINEAR_", "BATON_")) for k in call["env"] if k in os.environ)


@pytest.mark.parametrize(
    ("kind", "recording"),
    [("claude_code", "claudemcp.jsonl"), ("codex", "codexmcp.jsonl")],
    ids=["claude_code", "codex"],
)
def test_an_mcp_tool_call_shows_as_progress(tmp_path: Path, kind: str, recording: str) -> None:
    result, progress = replay(kind, tmp_path, RECORDED / recording)
    assert result.ok and result.summary == "MCP done."
    assert progress.tools() == ["mcp__demo__echo"]


# The stream's own verdict wins: Claude Code's `is_error` (subtype "success"), Codex's `turn.failed`, Cursor's
# error result.
@pytest.mark.parametrize(
    ("kind", "recording", "error"),
    [
        ("claude_code", RECORDED / "claudeerr400.jsonl", "API error 400"),
        ("codex", RECORDED / "codexerr400.jsonl", "404 Not Found"),
        ("cursor", ASSEMBLED / "cursor_error.jsonl", "denied"),
    ],
    ids=["claude_code", "codex", "cursor"],
)
def test_an_error_in_the_stream_fails_the_step_even_with_exit_code_zero(
    tmp_path: Path, kind: str, recording: Path, error: str
) -> None:
    result, _ = replay(kind, tmp_path, recording, exit_code=0)
    assert result.status is AgentStatus.failed
    assert error in result.summary


def test_a_transcript_past_its_cap_keeps_its_newest_lines_and_says_what_it_dropped(tmp_path: Path) -> None:
    path = tmp_path / "step.log"
    with Transcript(path, cap=4096) as transcript:
        for n in range(2000):
            transcript.write(f"line {n:04d}")
    lines = path.read_text().splitlines()
    assert path.stat().st_size <= 4096
    assert lines[0].startswith("[baton: ") and lines[0].endswith(
        " earlier bytes of output dropped; the transcript keeps its tail]"
    )
    assert lines[-1] == "line 1999"
    numbers = [int(line.split()[1]) for line in lines[1:]]
    assert numbers == list(range(numbers[0], 2000))  # whole lines, none lost after the cut
