"""run_process, scrubbed_env and redact against real processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.agents.process import OUTPUT_CAP_CHARS, ProcessStartError, run_process, scrubbed_env
from bot.config.env_refs import AgentEnvError, referenced_secrets
from bot.observability.redaction import redact


def never() -> bool:
    return False


def alive(pid: int) -> bool:
    """A zombie waiting for a reaper counts as dead: it runs nothing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_dead(pid: int, within_s: float = 2.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.02)
    return not alive(pid)


def read_pid(path: Path, within_s: float = 2.0) -> int:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        text = path.read_text().strip() if path.exists() else ""
        if text:
            return int(text)
        time.sleep(0.01)
    raise AssertionError(f"{path} never got a pid")


def test_output_lines_reach_on_line_in_order(tmp_path: Path) -> None:
    seen: list[str] = []
    outcome = run_process(
        ["sh", "-c", "echo one; echo two >&2; echo three"],
        tmp_path,
        {"PATH": os.environ["PATH"]},
        5.0,
        never,
        on_line=seen.append,
    )
    assert seen == ["one", "two", "three"]
    assert outcome.output == "one\ntwo\nthree"
    assert outcome.exit_code == 0 and outcome.ok


def test_exit_code_is_reported(tmp_path: Path) -> None:
    outcome = run_process(["sh", "-c", "exit 3"], tmp_path, {}, 5.0, never)
    assert outcome.exit_code == 3
    assert not outcome.ok and not outcome.timed_out and not outcome.cancelled


def test_lines_arrive_while_the_process_is_still_running(tmp_path: Path) -> None:
    arrivals: list[float] = []
    started = time.monotonic()
    run_process(
        ["sh", "-c", "echo early; sleep 0.5; echo late"],
        tmp_path,
        {"PATH": os.environ["PATH"]},
        5.0,
        never,
        on_line=lambda _line: arrivals.append(time.monotonic() - started),
    )
    assert arrivals[0] < 0.4 < arrivals[1]


def test_runs_in_the_given_directory(tmp_path: Path) -> None:
    outcome = run_process(["pwd"], tmp_path, {"PATH": os.environ["PATH"]}, 5.0, never)
    assert Path(outcome.output).resolve() == tmp_path.resolve()


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pidfile"
    started = time.monotonic()
    outcome = run_process(
        ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"],
        tmp_path,
        {"PATH": os.environ["PATH"]},
        0.5,
        never,
    )
    assert outcome.timed_out and not outcome.cancelled
    assert time.monotonic() - started < 3
    assert wait_dead(read_pid(pidfile))


def test_stop_request_kills_a_running_agent(tmp_path: Path) -> None:
    pidfile = tmp_path / "pidfile"
    stop_at = time.monotonic() + 0.3
    outcome = run_process(
        ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; wait"],
        tmp_path,
        {"PATH": os.environ["PATH"]},
        30.0,
        lambda: time.monotonic() >= stop_at,
    )
    assert outcome.cancelled and not outcome.timed_out
    assert outcome.duration_s < 2
    assert wait_dead(read_pid(pidfile))


def test_a_flood_of_output_does_not_delay_the_timeout(tmp_path: Path) -> None:
    count = 0

    def count_line(_line: str) -> None:
        nonlocal count
        count += 1

    outcome = run_process(["yes", "flood"], tmp_path, {"PATH": os.environ["PATH"]}, 0.5, never, on_line=count_line)
    assert outcome.timed_out
    assert outcome.duration_s < 3
    assert count > 1000 and len(outcome.output) <= OUTPUT_CAP_CHARS


def test_a_process_ignoring_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    pidfile = tmp_path / "pidfile"
    outcome = run_process(
        ["sh", "-c", f"trap '' TERM; echo $$ > {pidfile}; while :; do sleep 0.05; done"],
        tmp_path,
        {"PATH": os.environ["PATH"]},
        0.3,
        never,
        kill_grace_s=0.2,
    )
    assert outcome.timed_out
    assert outcome.duration_s < 2
    assert wait_dead(read_pid(pidfile))


def test_background_jobs_left_behind_are_killed_when_the_command_exits(tmp_path: Path) -> None:
    pidfile = tmp_path / "pidfile"
    outcome = run_process(
        ["sh", "-c", f"sleep 30 & echo $! > {pidfile}; echo done"],
        tmp_path,
        {"PATH": os.environ["PATH"]},
        5.0,
        never,
    )
    assert outcome.exit_code == 0 and outcome.output == "done"
    assert outcome.duration_s < 2
    assert wait_dead(read_pid(pidfile))


def test_stdin_is_closed_unless_text_is_given(tmp_path: Path) -> None:
    outcome = run_process(["cat"], tmp_path, {"PATH": os.environ["PATH"]}, 2.0, never)
    assert outcome.exit_code == 0 and outcome.output == "" and not outcome.timed_out


def test_stdin_text_is_fed_to_the_process(tmp_path: Path) -> None:
    outcome = run_process(["cat"], tmp_path, {"PATH": os.environ["PATH"]}, 2.0, never, stdin_text="héllo\nworld\n")
    assert outcome.output == "héllo\nworld"


def test_output_keeps_only_the_tail(tmp_path: Path) -> None:
    seen: list[str] = []
    outcome = run_process(
        [
            "sh",
            "-c",
            "i=0; while [ $i -lt 3000 ]; do echo line-$i-padding-padding; i=$((i+1)); done",
        ],
        tmp_path,
        {"PATH": os.environ["PATH"]},
        10.0,
        never,
        on_line=seen.append,
    )
    assert len(seen) == 3000
    assert outcome.truncated
    assert len(outcome.output) <= OUTPUT_CAP_CHARS
    assert outcome.output.endswith("line-2999-padding-padding")
    assert "line-0-" not in outcome.output


def test_missing_executable_is_a_start_error(tmp_path: Path) -> None:
    with pytest.raises(ProcessStartError, match="no-such-agent-cli"):
        run_process(["no-such-agent-cli"], tmp_path, {"PATH": "/nonexistent"}, 1.0, never)


def test_agent_sees_only_listed_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "GITHUB_TOKEN", "LINEAR_API_KEY", "BATON_DATABASE_URL"):
        monkeypatch.setenv(name, f"secret-{name.lower()}")
    monkeypatch.setenv("UNRELATED_PARENT_VAR", "leak")
    env = scrubbed_env({"MY_SETTING": "on"}, tmp_path / "home")
    outcome = run_process(["env"], tmp_path, env, 2.0, never)
    names = {line.split("=", 1)[0] for line in outcome.output.splitlines()}
    assert "secret-" not in outcome.output and "leak" not in outcome.output
    assert names <= {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "MY_SETTING", "PWD", "_", "SHLVL"}
    assert "MY_SETTING=on" in outcome.output.splitlines()


def test_home_and_tmpdir_are_the_per_run_directory(tmp_path: Path) -> None:
    home = tmp_path / "runs" / "r1" / "bot"
    env = scrubbed_env({}, home)
    assert env["HOME"] == str(home)
    assert Path(env["TMPDIR"]).parent == home and Path(env["TMPDIR"]).is_dir()
    assert env["LANG"] == env["LC_ALL"] == "C.UTF-8"


def test_listed_references_are_expanded_from_batons_environment(tmp_path: Path) -> None:
    source = {"PATH": "/bin", "OPENAI_API_KEY": "sk-123456"}
    env = scrubbed_env(
        {"OPENAI_API_KEY": "${OPENAI_API_KEY}", "AUTH": "Bearer ${OPENAI_API_KEY}"},
        tmp_path,
        source=source,
    )
    assert env["OPENAI_API_KEY"] == "sk-123456"
    assert env["AUTH"] == "Bearer sk-123456"
    assert env["PATH"] == "/bin"


def test_missing_reference_names_the_variable_but_no_value(tmp_path: Path) -> None:
    source = {"PRESENT": "value-that-must-not-show"}
    with pytest.raises(AgentEnvError) as err:
        scrubbed_env({"A": "${PRESENT}", "B": "${ABSENT_KEY}"}, tmp_path, source=source)
    assert "ABSENT_KEY" in str(err.value)
    assert "value-that-must-not-show" not in str(err.value)


def test_referenced_secrets_are_the_values_pulled_from_batons_environment() -> None:
    source = {"TOKEN": "tok-abcdef"}
    found = referenced_secrets({"AUTH": "Bearer ${TOKEN}", "MODE": "fast"}, source=source)
    assert set(found) == {"tok-abcdef", "Bearer tok-abcdef"}


def test_redact_blanks_secret_values() -> None:
    text = "using key sk-123456 and again sk-123456; fine"
    assert redact(text, ["sk-123456"]) == "using key [REDACTED] and again [REDACTED]; fine"


def test_redact_leaves_very_short_values_alone() -> None:
    assert redact("exit 1 after 1 try", ["1", ""]) == "exit 1 after 1 try"
