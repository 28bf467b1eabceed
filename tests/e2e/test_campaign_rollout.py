"""A campaign end to end (real git remotes, script agents, real checks, the local forge): 30
consumers and their provider, a canary of 3 green before any other repo starts, never more than 10
PRs open at once by the forge's own records, every PR merged, the provider first."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.domain.models import ChangeState, Decision, RunState
from bot.scm.local import PullRecord
from tests.e2e.conftest import APPROVER, RuntimeFactory, agent, make_repos, repo_entries, submit

CONSUMERS = [f"client{i:02d}" for i in range(1, 31)]


def approve_waves(runtime: Runtime, run_id: str, timeout: float = 240) -> RunState:
    """Approve each wave as the campaign asks for it (every approval bound to the heads it covers)
    until the run ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = runtime.store.view(run_id)
        assert view is not None
        if view.run.state.terminal:
            return view.run.state
        if view.run.state is RunState.awaiting_approval and view.run.waiting_for == "approval":
            result = runtime.runs.decide(run_id, APPROVER, Decision.approve)
            assert result.accepted, result.message
        time.sleep(0.05)
    raise AssertionError("the campaign did not end in time")


def forge_records(home: Path, repos: list[str]) -> dict[str, PullRecord]:
    records = {}
    for repo in repos:
        for path in (home / "forge" / repo).glob("*.json"):
            records[repo] = PullRecord.model_validate(json.loads(path.read_text()))
    return records


def most_open_at_once(records: list[PullRecord]) -> int:
    """The most PRs open at once, replaying the forge's opens and merges in order (a merge at the
    same instant as an open counts first: the slot was free)."""
    marks: list[tuple[Any, int]] = []
    for record in records:
        marks.append((record.created_at, 1))
        assert record.ended_at is not None
        marks.append((record.ended_at, -1))
    most = current = 0
    for _, step in sorted(marks):
        current += step
        most = max(most, current)
    return most


def test_a_campaign_of_31_repos_canary_first_at_most_10_open_all_merged_provider_first(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["api", *CONSUMERS])
    config = {
        "repos": repo_entries(remotes, {c: ["api"] for c in CONSUMERS}),
        "agents": [agent("steady", "--append", "NOTES.md", "renamed")],
        "routing": {"default_agent": "steady"},
        "concurrency": {"per_run": 4},
        "playbooks": {"default": {"campaign": {"canary": 3, "max_open_prs": 10}}},
    }
    runtime = start_runtime(config)
    run_id = submit(runtime, "rename /v1/items to /v1/products", ["api", *CONSUMERS])
    assert approve_waves(runtime, run_id) is RunState.merged

    events = runtime.store.events(run_id)
    canary = ["api", "client01", "client02"]
    green = [e.seq for e in events if e.kind == "checks" and e.data["repo"] in canary and e.data["state"] == "passed"]
    later = [e.seq for e in events if e.kind == "step_started" and e.data.get("repo") not in canary]
    assert len(green) >= 3 and max(green) < min(later)

    records = forge_records(tmp_path / ".baton", ["api", *CONSUMERS])
    assert sorted(records) == sorted(["api", *CONSUMERS])
    assert all(r.change.state is ChangeState.merged for r in records.values())
    assert most_open_at_once(list(records.values())) <= 10
    first_merged = min(records.values(), key=lambda r: r.ended_at or r.created_at)
    assert first_merged.change.repo == "api"
