"""A campaign end to end (real git remotes, script agents, real checks, the local forge): a search
finds the 30 consumers that call the old endpoint among 15 decoys that do not, and their provider;
a canary of 3 is green before any other repo starts, never more than 10 PRs are open at once by the
forge's own records, every PR merges, the provider first, and no decoy is touched."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.domain.models import ChangeState, Decision, RunState
from bot.scm.git import run_git
from bot.scm.local import PullRecord
from tests.e2e.conftest import APPROVER, CHECKS, RuntimeFactory, agent, submit
from tests.gitutil import make_remote

CONSUMERS = [f"client{i:02d}" for i in range(1, 31)]
DECOYS = [f"other{i:02d}" for i in range(1, 16)]
USES = 'def items():\n    return get("/v1/items")\n'
DECOY = 'def items():\n    return get("/v2/items")  # already moved\n'


def campaign_repos(tmp_path: Path) -> dict[str, Path]:
    """The provider, 30 consumers that call its old endpoint, and 15 decoys that call the new one
    (five of them depend on the provider too: a dependency alone must not bring a repo in)."""
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    files = {"api": {"server.py": "ROUTE = 'items'\n"}}
    files |= {n: {"src/client.py": USES} for n in CONSUMERS}
    files |= {n: {"src/client.py": DECOY} for n in DECOYS}
    return {n: make_remote(remotes, n, f) for n, f in files.items()}


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


def test_a_discovered_campaign_of_31_repos_canary_first_at_most_10_open_all_merged_provider_first(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = campaign_repos(tmp_path)
    depends = {n: ["api"] for n in [*CONSUMERS, *DECOYS[:5]]}
    config = {
        "repos": [
            {"name": n, "url": str(p), "checks": CHECKS, "depends_on": depends.get(n, [])} for n, p in remotes.items()
        ],
        "agents": [agent("steady", "--append", "NOTES.md", "renamed")],
        "routing": {"default_agent": "steady"},
        "concurrency": {"per_run": 4},
        "playbooks": {"default": {"campaign": {"canary": 3, "max_open_prs": 10}}},
    }
    decoy_heads = {n: run_git(["rev-parse", "refs/heads/main"], remotes[n]) for n in DECOYS}
    runtime = start_runtime(config)
    run_id = submit(runtime, "rename /v1/items to /v1/products", [], discover="/v1/items")
    assert approve_waves(runtime, run_id) is RunState.merged

    run = runtime.store.get_run(run_id)
    assert run is not None and sorted(run.spec.repos) == sorted(["api", *CONSUMERS])
    events = runtime.store.events(run_id)
    canary = ["api", "client01", "client02"]
    green = [e.seq for e in events if e.kind == "checks" and e.data["repo"] in canary and e.data["state"] == "passed"]
    later = [e.seq for e in events if e.kind == "step_started" and e.data.get("repo") not in canary]
    assert len(green) >= 3 and max(green) < min(later)

    records = forge_records(tmp_path / ".baton", ["api", *CONSUMERS, *DECOYS])
    assert sorted(records) == sorted(["api", *CONSUMERS])
    assert all(r.change.state is ChangeState.merged for r in records.values())
    assert most_open_at_once(list(records.values())) <= 10
    first_merged = min(records.values(), key=lambda r: r.ended_at or r.created_at)
    assert first_merged.change.repo == "api"
    assert {n: run_git(["rev-parse", "refs/heads/main"], remotes[n]) for n in DECOYS} == decoy_heads
    branches = {n: run_git(["for-each-ref", "--format=%(refname)", "refs/heads"], remotes[n]).split() for n in DECOYS}
    assert all(refs == ["refs/heads/main"] for refs in branches.values())
