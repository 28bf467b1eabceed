"""Requests naming things Baton does not know: the run fails before any agent starts, and the
error says what is known instead, so the requester can fix the request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.domain.models import RunState
from bot.scm.git import run_git
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries, submit, wait_for
from tests.gitutil import ref_sha


def _config(tmp_path: Path) -> tuple[dict[str, Any], dict[str, Path], Path]:
    remotes = make_repos(tmp_path, ["api", "web"])
    count = tmp_path / "count"
    config = {
        "repos": repo_entries(remotes),
        "agents": [
            agent("coder", "--count", str(count), "--append", "NOTES.md", "x"),
            agent("helper", "--count", str(count), "--append", "NOTES.md", "y"),
        ],
        "routing": {"default_agent": "coder"},
    }
    return config, remotes, count


def _assert_nothing_happened(runtime: Runtime, run_id: str, remotes: dict[str, Path], count: Path) -> None:
    assert not count.exists(), f"an agent ran: {count.read_text()}"
    assert runtime.store.steps(run_id) == []
    assert runtime.store.changes(run_id) == []
    for remote in remotes.values():
        assert _baton_branches(remote) == []


def _baton_branches(remote: Path) -> list[str]:
    refs = run_git(["--git-dir", str(remote), "for-each-ref", "--format=%(refname)", "refs/heads/baton/"], remote)
    return refs.split()


def test_unknown_repo_fails_before_any_agent_runs_and_names_the_known_repos(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    config, remotes, count = _config(tmp_path)
    runtime = start_runtime(config)
    before = {n: ref_sha(r, "main") for n, r in remotes.items()}

    run_id = submit(runtime, "rename the endpoint", ["api", "mobile"])
    view = wait_for(runtime, run_id, RunState.failed, timeout=10)

    error = view.run.error or ""
    assert "unknown repo mobile" in error
    assert "known repos: api, web" in error
    _assert_nothing_happened(runtime, run_id, remotes, count)
    assert {n: ref_sha(r, "main") for n, r in remotes.items()} == before


def test_unknown_agent_fails_before_any_agent_runs_and_names_the_known_agents(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    config, remotes, count = _config(tmp_path)
    runtime = start_runtime(config)

    run_id = submit(runtime, "rename the endpoint", ["api"], agent="wizard")
    view = wait_for(runtime, run_id, RunState.failed, timeout=10)

    error = view.run.error or ""
    assert "unknown agent 'wizard'" in error
    assert "known agents: coder, helper" in error
    _assert_nothing_happened(runtime, run_id, remotes, count)


def test_unknown_agent_written_in_the_request_fails_the_same_way(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    config, remotes, count = _config(tmp_path)
    runtime = start_runtime(config)

    run_id = submit(runtime, "rename the endpoint agent=wizard", ["api"])
    view = wait_for(runtime, run_id, RunState.failed, timeout=10)

    assert view.run.spec.agent == "wizard"
    assert "unknown agent 'wizard'" in (view.run.error or "")
    _assert_nothing_happened(runtime, run_id, remotes, count)


def test_unknown_playbook_fails_before_any_agent_runs_and_names_the_known_playbooks(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    config, remotes, count = _config(tmp_path)
    config["playbooks"] = {"careful": {"per_repo": {"agent": "coder"}}}
    runtime = start_runtime(config)

    run_id = submit(runtime, "rename the endpoint", ["api"], playbook="yolo")
    view = wait_for(runtime, run_id, RunState.failed, timeout=10)

    error = view.run.error or ""
    assert "unknown playbook yolo" in error
    assert "known playbooks: careful, default" in error
    _assert_nothing_happened(runtime, run_id, remotes, count)


def test_a_failed_request_records_the_reason_as_a_state_event(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    config, _, _ = _config(tmp_path)
    runtime = start_runtime(config)

    run_id = submit(runtime, "rename the endpoint", ["mobile"])
    wait_for(runtime, run_id, RunState.failed, timeout=10)

    states = [e.data for e in runtime.store.events(run_id) if e.kind == "state"]
    assert states[-1]["to"] == "failed"
    assert "unknown repo mobile" in states[-1]["error"]
    assert not any(e.kind in ("step_started", "pushed", "pr_opened") for e in runtime.store.events(run_id))
