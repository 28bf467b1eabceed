"""The sequential pattern end to end: each step starts from the previous step's commit and is told
what the previous step reported; a failing step ends the sequence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.domain.models import RunState
from tests.e2e.conftest import (
    RuntimeFactory,
    agent,
    approve_until_merged,
    lines,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.e2e.pattern_support import exists_on
from tests.gitutil import read_file_on


def config_for(remotes: dict[str, Path], agents: list[dict[str, Any]], steps: list[str]) -> dict[str, Any]:
    return {
        "repos": repo_entries(remotes),
        "agents": agents,
        "routing": {"default_agent": agents[0]["name"]},
        "playbooks": {"chain": {"per_repo": {"sequential": [{"agent": s} for s in steps]}}},
    }


def test_each_step_receives_the_previous_steps_summary(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [
        agent("writer", "--append", "NOTES.md", "draft", "--summary", "wrote the draft"),
        # Fails unless told what the writer reported, so it only succeeds if the summary arrived.
        agent("editor", "--fail-unless-feedback", "wrote the draft", "--append", "NOTES.md", "edited"),
    ]
    runtime = start_runtime(config_for(remotes, agents, ["writer", "editor"]))
    run_id = submit(runtime, "write the notes", ["svc"], playbook="chain")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert [(s.agent, s.state.value) for s in view.steps if s.agent] == [
        ("writer", "succeeded"),
        ("editor", "succeeded"),
    ]


def test_each_step_builds_on_the_previous_steps_commit(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    agents = [
        agent("schema", "--append", "CHANGES.md", "schema", "--summary", "schema"),
        agent("handler", "--append", "CHANGES.md", "handler", "--summary", "handler"),
        agent("docs", "--append", "CHANGES.md", "docs", "--summary", "docs"),
    ]
    runtime = start_runtime(config_for(remotes, agents, ["schema", "handler", "docs"]))
    run_id = submit(runtime, "add the endpoint", ["svc"], playbook="chain")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    approve_until_merged(runtime, run_id, timeout=20)
    assert read_file_on(remotes["svc"], "main", "CHANGES.md") == "schema\nhandler\ndocs\n"


def test_a_failing_step_stops_the_sequence(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    publisher_calls = tmp_path / "publisher.count"
    agents = [
        agent("writer", "--append", "NOTES.md", "draft"),
        agent("tester", "--exit", "3", "--summary", "tests are red"),
        agent("publisher", "--count", str(publisher_calls), "--append", "NOTES.md", "published"),
    ]
    runtime = start_runtime(config_for(remotes, agents, ["writer", "tester", "publisher"]))
    run_id = submit(runtime, "write the notes", ["svc"], playbook="chain")
    view = wait_for(runtime, run_id, RunState.failed, timeout=20)
    assert view.run.error is not None and "tests are red" in view.run.error
    assert lines(publisher_calls) == []
    assert view.changes == []
    assert not exists_on(remotes["svc"], "main", "NOTES.md")
