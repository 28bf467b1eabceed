"""A campaign's commands end to end (real git remotes, script agents, real checks, the local
forge): a failed repo is marked while the others merge; `retry` re-works only the failed repos;
`skip <repo>` drops one; `close` ends the campaign, closing its open PRs when the policy says so."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.domain.models import ChangeState, Decision, RunState
from bot.scm.local import PullRecord
from tests.e2e.conftest import APPROVER, RuntimeFactory, agent, lines, make_repos, repo_entries, submit, until
from tests.gitutil import read_file_on

CLIENTS = ["client1", "client2", "client3", "client4"]


def config(remotes: dict[str, Path], calls: Path, bad: list[Any], **policy: Any) -> dict[str, Any]:
    """api and four consumers; client3 gets the agent `bad` (the rest a steady one)."""
    return {
        "repos": repo_entries(remotes, {c: ["api"] for c in CLIENTS}),
        "agents": [
            agent("steady", "--count", str(calls), "--append", "NOTES.md", "renamed"),
            agent("bad", "--count", str(calls), *bad, "--append", "NOTES.md", "renamed"),
        ],
        "routing": {"default_agent": "steady", "rules": [{"repo": "client3", "agent": "bad"}]},
        "playbooks": {"default": {"campaign": {"canary": 2, "max_open_prs": 3, **policy}}},
    }


def settle(runtime: Runtime, run_id: str, since: str | None = None, timeout: float = 120) -> RunState:
    """Approve each wave as it asks; stop when the run ends or waits for a command, not an approval
    (with `since`: a wait it reported after it took that command)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = runtime.store.get_run(run_id)
        assert run is not None
        if run.state.terminal:
            return run.state
        if (
            run.state is RunState.awaiting_approval
            and run.waiting_for == "campaign"
            and _reported_after(runtime, run_id, since)
        ):
            return run.state
        if run.state is RunState.awaiting_approval and run.waiting_for == "approval":
            assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
        time.sleep(0.05)
    raise AssertionError("the campaign did not settle")


def worked(calls: Path) -> list[str]:
    return [line.split()[0] for line in lines(calls)]


def record(home: Path, repo: str) -> PullRecord:
    (path,) = (home / "forge" / repo).glob("*.json")
    return PullRecord.model_validate(json.loads(path.read_text()))


def test_a_failed_repo_is_marked_and_retry_reworks_only_it(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api", *CLIENTS])
    calls = tmp_path / "calls"
    runtime = start_runtime(config(remotes, calls, ["--fail-first-time", str(tmp_path / "failed-once")]))
    run_id = submit(runtime, "rename the endpoint", ["api", *CLIENTS])
    assert settle(runtime, run_id) is RunState.awaiting_approval
    merged = [c.repo for c in runtime.store.changes(run_id) if c.state is ChangeState.merged]
    assert sorted(merged) == ["api", "client1", "client2", "client4"]
    progress = [e.data for e in runtime.store.events(run_id) if e.kind == "campaign_progress"][-1]
    assert [f["repo"] for f in progress["failing"]] == ["client3"]
    before = len(worked(calls))

    assert runtime.runs.retry(run_id, APPROVER).accepted
    assert settle(runtime, run_id, since="campaign_retry") is RunState.merged
    assert worked(calls)[before:] == ["client3"]
    assert read_file_on(remotes["client3"], "main", "NOTES.md") == "renamed\n"


def test_skip_drops_a_failing_repo_and_the_campaign_ends_merged(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api", *CLIENTS])
    runtime = start_runtime(config(remotes, tmp_path / "calls", ["--exit", "1"]))
    run_id = submit(runtime, "rename the endpoint", ["api", *CLIENTS])
    assert settle(runtime, run_id) is RunState.awaiting_approval

    assert runtime.runs.skip(run_id, APPROVER, "client3").accepted
    assert settle(runtime, run_id, since="campaign_skipped") is RunState.merged
    assert sorted(c.repo for c in runtime.store.changes(run_id)) == ["api", "client1", "client2", "client4"]
    assert [e.data["repo"] for e in runtime.store.events(run_id) if e.kind == "campaign_skipped"] == ["client3"]


def test_close_closes_the_open_prs_and_starts_nothing_more(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api", *CLIENTS])
    calls = tmp_path / "calls"
    runtime = start_runtime(config(remotes, calls, [], on_close="close"))
    run_id = submit(runtime, "rename the endpoint", ["api", *CLIENTS])
    until("the first wave asks for approval", lambda: _waiting(runtime, run_id, "approval"))
    opened = sorted(c.repo for c in runtime.store.changes(run_id))

    assert runtime.runs.close(run_id, APPROVER).accepted
    until("the campaign ends", lambda: _state(runtime, run_id) is RunState.cancelled)
    assert [record(tmp_path / ".baton", r).change.state for r in opened] == [ChangeState.closed] * len(opened)
    assert sorted(worked(calls)) == opened  # nothing queued started after the close
    run = runtime.store.get_run(run_id)
    assert run is not None and "0 merged" in (run.error or "")


def test_close_refuses_a_run_that_is_not_a_campaign(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api"])
    runtime = start_runtime(
        {"repos": repo_entries(remotes), "agents": [agent("steady", "--append", "NOTES.md", "x")],
         "routing": {"default_agent": "steady"}}
    )  # fmt: skip
    run_id = submit(runtime, "rename the endpoint", ["api"])
    until("the run asks for approval", lambda: _waiting(runtime, run_id, "approval"))
    result = runtime.runs.close(run_id, APPROVER)
    assert not result.accepted and "not a campaign" in result.message


def _state(runtime: Runtime, run_id: str) -> RunState | None:
    run = runtime.store.get_run(run_id)
    return run.state if run else None


def _waiting(runtime: Runtime, run_id: str, what: str) -> bool:
    run = runtime.store.get_run(run_id)
    return run is not None and run.state is RunState.awaiting_approval and run.waiting_for == what


def _reported_after(runtime: Runtime, run_id: str, kind: str | None) -> bool:
    """Whether the campaign went back to waiting for a command after it recorded an event of `kind`
    (None: any time)."""
    if kind is None:
        return True
    events = runtime.store.events(run_id)
    taken = [e.seq for e in events if e.kind == kind]
    waits = [e.seq for e in events if e.kind == "state" and e.data.get("waiting_for") == "campaign"]
    return bool(taken) and any(seq > taken[0] for seq in waits)
