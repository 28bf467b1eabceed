"""Agents that go wrong: a non-zero exit, a hang past the timeout, a success that changes nothing.
Each fails its step with the reason people need, fails the run, and opens no PR."""

from __future__ import annotations

import time
from pathlib import Path

from bot.domain.models import RunState
from bot.domain.records import StepState
from tests.e2e.conftest import RuntimeFactory, agent, agent_alive, lines, make_repos, repo_entries, submit, wait_for
from tests.gitutil import ref_sha


def test_an_agent_exiting_non_zero_fails_the_step_with_its_output_and_opens_no_pr(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["api"])
    before = ref_sha(remotes["api"], "main")
    # Prints "feedback missing: failing as asked" and exits 1 (the feedback never contains it).
    coder = agent("coder", "--append", "NOTES.md", "half done", "--fail-unless-feedback", "never-said")
    runtime = start_runtime({"repos": repo_entries(remotes), "agents": [coder]})

    run_id = submit(runtime, "rename the endpoint", ["api"])
    view = wait_for(runtime, run_id, RunState.failed, timeout=20)

    [step] = [s for s in view.steps if s.agent == "coder"]
    assert step.state is StepState.failed
    assert "exit code 1" in step.detail
    assert "feedback missing: failing as asked" in step.detail
    finished = [e.data for e in runtime.store.events(run_id) if e.kind == "step_finished"]
    assert finished[-1]["state"] == "failed"
    assert "feedback missing: failing as asked" in finished[-1]["summary"]
    assert "api" in (view.run.error or "")
    assert "feedback missing: failing as asked" in (view.run.error or "")
    assert runtime.store.changes(run_id) == []
    assert ref_sha(remotes["api"], "main") == before


def test_an_agent_past_its_timeout_is_killed_and_the_run_fails(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api"])
    count = tmp_path / "count"
    slow = agent("slow", "--count", str(count), "--sleep", "60", "--append", "NOTES.md", "late", timeout=1)
    runtime = start_runtime({"repos": repo_entries(remotes), "agents": [slow]})

    started = time.monotonic()
    run_id = submit(runtime, "rename the endpoint", ["api"])
    view = wait_for(runtime, run_id, RunState.failed, timeout=20)

    assert time.monotonic() - started < 15, "the timeout did not stop the agent"
    [invocation] = lines(count)
    pid = int(invocation.split()[-1])
    assert not agent_alive(count, pid), f"agent process {pid} survived its timeout"
    [step] = [s for s in view.steps if s.agent == "slow"]
    assert step.state is StepState.failed
    assert "timed out after 1s" in step.detail
    assert "timed out" in (view.run.error or "")
    assert runtime.store.changes(run_id) == []


def test_an_agent_that_changes_nothing_fails_the_run_with_no_diff_and_opens_no_pr(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["api"])
    idle = agent("idle", "--summary", "looked around, nothing to change")
    runtime = start_runtime({"repos": repo_entries(remotes), "agents": [idle]})

    run_id = submit(runtime, "rename the endpoint", ["api"])
    view = wait_for(runtime, run_id, RunState.failed, timeout=20)

    assert "no diff" in (view.run.error or "")
    assert "api" in (view.run.error or "")
    assert runtime.store.changes(run_id) == []
    assert not any(e.kind in ("pushed", "pr_opened") for e in runtime.store.events(run_id))
