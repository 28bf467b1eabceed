"""`baton retry` of a run whose agent failed: the failed repo is worked on again, the repo that
already finished is not, and the run goes on to approval and merge."""

from __future__ import annotations

from pathlib import Path

from bot.domain.models import RunState
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    approve_until_merged,
    lines,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.gitutil import read_file_on


def test_retry_redoes_only_the_failed_repo_and_merges(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api", "web"])
    calls = tmp_path / "calls"
    flaky = tmp_path / "web-failed-once"
    config = {
        "repos": repo_entries(remotes),
        "agents": [
            agent("steady", "--count", str(calls), "--append", "NOTES.md", "steady"),
            agent("flaky", "--count", str(calls), "--fail-first-time", str(flaky), "--append", "NOTES.md", "flaky"),
        ],
        "routing": {"default_agent": "steady", "rules": [{"repo": "web", "agent": "flaky"}]},
    }
    runtime = start_runtime(config)
    run_id = submit(runtime, "write notes", ["api", "web"])
    failed = wait_for(runtime, run_id, RunState.failed)
    assert "web: every agent failed" in (failed.run.error or "")
    assert [c.repo for c in failed.changes] == ["api"]

    assert runtime.runs.retry(run_id, APPROVER).accepted
    wait_for(runtime, run_id, RunState.awaiting_approval)
    merged = approve_until_merged(runtime, run_id)

    assert sorted(line.split()[0] for line in lines(calls)) == ["api", "web", "web"]
    assert merged.run.attempt == 2
    assert read_file_on(remotes["api"], "main", "NOTES.md") == "steady\n"
    assert read_file_on(remotes["web"], "main", "NOTES.md") == "flaky\n"
