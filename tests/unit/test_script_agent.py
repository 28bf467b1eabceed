"""ScriptAgent running real commands: substitution, environment, status, usage and summary."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from bot.agents.script import ScriptAgent, command_argv
from bot.config.agents import AgentConfig
from bot.domain.models import AgentResult, AgentStatus, AgentTask

PY = sys.executable


def make_agent(tmp_path: Path, command: list[str] | str, **fields: object) -> ScriptAgent:
    config = AgentConfig.model_validate({"name": "codemod", "command": command, **fields})
    return ScriptAgent(config, tmp_path / "homes")


def make_task(**fields: str) -> AgentTask:
    data = {"run_id": "run-1", "repo": "api", "step_key": "api/impl", "prompt": "rename foo"}
    data.update(fields)
    return AgentTask.model_validate(data)


class Progress:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def __call__(self, kind: str, data: dict[str, object]) -> None:
        self.events.append((kind, data))

    def lines(self) -> list[object]:
        return [data["line"] for kind, data in self.events if kind == "output"]


def run(
    agent: ScriptAgent,
    workdir: Path,
    task: AgentTask | None = None,
    progress: Progress | None = None,
) -> AgentResult:
    return agent.run(task or make_task(), workdir, lambda: False, progress or Progress())


def test_exit_zero_succeeds_with_last_line_as_summary(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, ["sh", "-c", "echo working; echo renamed 3 files; echo"])
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.succeeded
    assert result.summary == "renamed 3 files"
    assert result.usage.agent_steps == 1 and result.usage.agent_seconds > 0
    assert result.usage.tokens == 0 and result.usage.cost_usd == 0


def test_non_zero_exit_is_a_failed_result_with_output_tail(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, ["sh", "-c", "echo trying; echo 'boom: no such symbol' >&2; exit 4"])
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.failed
    assert "exit code 4" in result.summary and "boom: no such symbol" in result.summary
    assert result.output_tail == "trying\nboom: no such symbol"


def test_placeholders_are_substituted_inside_arguments(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, [PY, "-c", "import sys; print(sys.argv[1:])", "--repo={repo}", "{task}", "{plan}"])
    result = run(agent, tmp_path, make_task(prompt="rename foo to bar", plan="step 1"))
    assert result.summary == "['--repo=api', 'rename foo to bar', 'step 1']"


def test_string_command_is_split_like_a_shell_line_without_a_shell() -> None:
    argv = command_argv("codemod --message '{task}' --in {repo}", {"task": "a b", "repo": "api"})
    assert argv == ["codemod", "--message", "a b", "--in", "api"]


def test_substituted_text_is_not_scanned_for_placeholders_again() -> None:
    argv = command_argv(["{task}", "{repo}"], {"task": "say {repo}", "repo": "api"})
    assert argv == ["say {repo}", "api"]


def test_task_text_is_never_interpreted_by_a_shell(tmp_path: Path) -> None:
    hostile = "$(touch pwned); `touch pwned2`; echo hi > pwned3 && touch pwned4"
    agent = make_agent(
        tmp_path,
        f"{PY} -c 'import os, sys; print(sys.argv[1] == os.environ[\"BATON_TASK\"]); print(sys.argv[1])' {{task}}",
    )
    result = run(agent, tmp_path, make_task(prompt=hostile))
    assert result.status is AgentStatus.succeeded
    assert result.output_tail == f"True\n{hostile}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["homes"]


OPTIONS = (
    "import argparse; p = argparse.ArgumentParser(); p.add_argument('--out'); "
    "p.add_argument('words', nargs='*'); print(p.parse_args())"
)


def test_a_task_that_looks_like_an_option_reaches_the_command_as_data(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, [PY, "-c", OPTIONS, "{task}"])
    result = run(agent, tmp_path, make_task(prompt="--out=/etc/cron.d/evil"))
    assert result.summary == "Namespace(out=None, words=[' --out=/etc/cron.d/evil'])"


def test_every_untrusted_substitution_that_would_start_an_argument_with_a_dash_is_guarded() -> None:
    values = {"task": "-f", "plan": "--plan", "feedback": "-x", "repo": "api"}
    argv = command_argv(["codemod", "{task}", "{plan}", "{feedback}", "{repo}"], values)
    assert argv == ["codemod", " -f", " --plan", " -x", "api"]


def test_an_option_the_config_spells_keeps_its_dash_and_takes_the_task_as_its_value() -> None:
    argv = command_argv(["codemod", "--message={task}", "-m", "{task}"], {"task": "-rf"})
    assert argv == ["codemod", "--message=-rf", "-m", " -rf"]


def test_task_fields_are_exported_as_baton_variables(tmp_path: Path) -> None:
    script = "import json, os; print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('BATON_')}))"
    agent = make_agent(tmp_path, [PY, "-c", script])
    task = make_task(plan="the plan", feedback="tests fail", role="reviewer")
    result = run(agent, tmp_path, task)
    assert json.loads(result.output_tail) == {
        "BATON_TASK": "rename foo",
        "BATON_REPO": "api",
        "BATON_PLAN": "the plan",
        "BATON_FEEDBACK": "tests fail",
        "BATON_ROLE": "reviewer",
        "BATON_RUN_ID": "run-1",
        "BATON_TRANSCRIPT": "",
    }


def test_group_chat_transcript_is_exported_one_turn_per_line(tmp_path: Path) -> None:
    script = "import os; print(os.environ['BATON_TRANSCRIPT'].splitlines())"
    agent = make_agent(tmp_path, [PY, "-c", script])
    task = make_task().model_copy(update={"transcript": ["impl: done", "reviewer: LGTM"]})
    result = run(agent, tmp_path, task)
    assert result.output_tail.strip() == "['impl: done', 'reviewer: LGTM']"


def test_agent_sees_only_listed_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-slack")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-secret-github")
    monkeypatch.setenv("LINEAR_API_KEY", "lin-secret-linear")
    monkeypatch.setenv("BATON_DATABASE_URL", "postgresql://secret")
    agent = make_agent(tmp_path, ["env"], env={"STYLE": "black"})
    result = run(agent, tmp_path)
    names = {line.split("=", 1)[0] for line in result.output_tail.splitlines()}
    assert not names & {"SLACK_BOT_TOKEN", "GITHUB_TOKEN", "LINEAR_API_KEY", "BATON_DATABASE_URL"}
    assert "secret" not in result.output_tail
    assert "STYLE=black" in result.output_tail.splitlines()


def test_runs_in_the_workspace_with_a_per_run_home(tmp_path: Path) -> None:
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    agent = make_agent(tmp_path, ["sh", "-c", 'pwd; echo "$HOME"'])
    result = run(agent, workdir)
    cwd, home = result.output_tail.splitlines()
    assert Path(cwd).resolve() == workdir.resolve()
    assert Path(home) == tmp_path / "homes" / "run-1" / "codemod"


def test_secrets_from_batons_environment_are_redacted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEMOD_API_KEY", "key-0123456789")
    agent = make_agent(tmp_path, ["sh", "-c", 'echo "using $API_KEY"'], env={"API_KEY": "${CODEMOD_API_KEY}"})
    progress = Progress()
    result = run(agent, tmp_path, progress=progress)
    assert "key-0123456789" not in result.output_tail + result.summary + str(progress.events)
    assert result.summary == "using [REDACTED]"


def test_missing_environment_reference_fails_naming_the_variable(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, ["true"], env={"API_KEY": "${NOT_SET_ANYWHERE_XYZ}"})
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.failed
    assert "NOT_SET_ANYWHERE_XYZ" in result.summary


def test_missing_command_is_a_failed_result(tmp_path: Path) -> None:
    result = run(make_agent(tmp_path, ["definitely-not-a-command-xyz"]), tmp_path)
    assert result.status is AgentStatus.failed
    assert "definitely-not-a-command-xyz" in result.summary


def test_each_output_line_is_reported_as_progress(tmp_path: Path) -> None:
    progress = Progress()
    run(make_agent(tmp_path, ["sh", "-c", "echo a; echo b"]), tmp_path, progress=progress)
    assert progress.lines() == ["a", "b"]


def test_usage_line_is_parsed(tmp_path: Path) -> None:
    script = (
        'echo \'BATON_USAGE {"tokens_in": 100, "tokens_out": 20, "cost_usd": 0.01}\'; '
        'echo \'BATON_USAGE {"tokens_in": 50, "tokens_out": 5, "cost_usd": 0.005}\'; '
        "echo done"
    )
    progress = Progress()
    result = run(make_agent(tmp_path, ["sh", "-c", script]), tmp_path, progress=progress)
    assert (result.usage.tokens_in, result.usage.tokens_out) == (150, 25)
    assert result.usage.cost_usd == pytest.approx(0.015)
    assert result.summary == "done"
    usage_events = [data for kind, data in progress.events if kind == "usage"]
    assert usage_events[-1] == {"tokens_in": 150, "tokens_out": 25, "cost_usd": 0.015}


def test_usage_without_cost_is_priced_from_the_agent_rates(tmp_path: Path) -> None:
    script = 'echo \'BATON_USAGE {"tokens_in": 1000000, "tokens_out": 500000}\''
    agent = make_agent(tmp_path, ["sh", "-c", script], usd_per_million_tokens=[3.0, 15.0])
    assert run(agent, tmp_path).usage.cost_usd == pytest.approx(10.5)


def test_malformed_usage_line_is_ordinary_output(tmp_path: Path) -> None:
    result = run(make_agent(tmp_path, ["sh", "-c", "echo 'BATON_USAGE not-json'"]), tmp_path)
    assert result.status is AgentStatus.succeeded
    assert result.usage.tokens == 0
    assert result.summary == "BATON_USAGE not-json"


def test_summary_line_overrides_the_last_line(tmp_path: Path) -> None:
    script = "echo 'BATON_SUMMARY renamed foo to bar in 3 files'; echo trailing noise"
    result = run(make_agent(tmp_path, ["sh", "-c", script]), tmp_path)
    assert result.summary == "renamed foo to bar in 3 files"


def test_long_summary_and_output_are_trimmed(tmp_path: Path) -> None:
    script = "import sys; print('x' * 10000); print('y' * 1000)"
    result = run(make_agent(tmp_path, [PY, "-c", script]), tmp_path)
    assert len(result.summary) <= 300 and result.summary.startswith("yyy")
    assert len(result.output_tail) == 4000 and result.output_tail.endswith("y" * 1000)


def test_timeout_is_a_timed_out_result(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, ["sh", "-c", "echo started; sleep 30"], timeout_s=0.5)
    started = time.monotonic()
    result = run(agent, tmp_path)
    assert result.status is AgentStatus.timed_out
    assert "timed out after 0.5s" in result.summary
    assert time.monotonic() - started < 4


def test_stop_request_kills_a_running_agent(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, ["sh", "-c", "echo started; sleep 30"])
    stop_at = time.monotonic() + 0.3
    result = agent.run(make_task(), tmp_path, lambda: time.monotonic() >= stop_at, Progress())
    assert result.status is AgentStatus.cancelled
    assert result.usage.agent_seconds < 3
