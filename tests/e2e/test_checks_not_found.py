"""A checks command that exits 127 (no such program) is a configuration error: no verify attempt
and no repair round is spent on it; the run fails at once saying the checks program was not found."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.domain.models import RunState
from tests.e2e.conftest import RuntimeFactory, agent, event_data, lines, make_repos, repo_entries, submit, wait_for

MISSING = "baton-no-such-checker --all"


def _config(tmp_path: Path, calls: Path, per_repo: dict[str, Any], **extra: Any) -> dict[str, Any]:
    remotes = make_repos(tmp_path, ["svc"])
    repos = [{**entry, "checks": MISSING} for entry in repo_entries(remotes)]
    coder = agent("coder", "--count", str(calls), "--append", "feature.py", "feature")
    return {"repos": repos, "agents": [coder], "playbooks": {"default": {"per_repo": per_repo}}, **extra}


def test_a_verify_loop_spends_no_second_attempt_on_a_missing_checks_program(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    calls = tmp_path / "coder.count"
    per_repo = {"verify": {"do": {"agent": "coder"}, "max_attempts": 3}}
    runtime = start_runtime(_config(tmp_path, calls, per_repo))
    run_id = submit(runtime, "add the feature", ["svc"])
    view = wait_for(runtime, run_id, RunState.failed, timeout=30)

    assert len(lines(calls)) == 1
    assert [s.state.value for s in view.steps if s.name == "checks"] == ["failed"]
    assert (view.run.error or "").startswith("svc: the checks program was not found (exit 127), a configuration error")
    assert "baton-no-such-checker" in (view.run.error or "")
    assert view.changes == []


def test_no_repair_round_is_spent_on_a_missing_checks_program(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    calls = tmp_path / "coder.count"
    config = _config(tmp_path, calls, {"agent": "coder"}, approval={"repair_on_failed_checks": 2})
    runtime = start_runtime(config)
    run_id = submit(runtime, "add the feature", ["svc"])
    view = wait_for(runtime, run_id, RunState.failed, timeout=30)

    assert len(lines(calls)) == 1
    assert event_data(runtime, run_id, "round_started") == []
    assert (view.run.error or "").startswith("svc: the checks program was not found (exit 127)")
    [change] = view.changes
    assert change.checks_program_missing


def test_a_checks_command_that_fails_for_a_code_reason_is_still_retried(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    calls = tmp_path / "coder.count"
    config = _config(tmp_path, calls, {"verify": {"do": {"agent": "coder"}, "max_attempts": 2}})
    config["repos"][0]["checks"] = "exit 1"
    runtime = start_runtime(config)
    run_id = submit(runtime, "add the feature", ["svc"])
    view = wait_for(runtime, run_id, RunState.failed, timeout=30)

    assert len(lines(calls)) == 2
    assert view.run.error == "svc: checks still failing after 2 attempt(s)"
