"""Checks run once per head: a run's workspace checks pass on the commit it pushes, and the PR's
checks at that same commit reuse the outcome (the local forge runs the same command) — each
outcome still appears once in the timeline. A head that moves runs them again."""

from __future__ import annotations

from pathlib import Path

from bot.domain.models import Decision, RunState
from tests.e2e.conftest import APPROVER, RuntimeFactory, agent, event_data, make_repos, submit, until, wait_for
from tests.gitutil import commit_to_remote


def _config(tmp_path: Path, count: Path) -> dict[str, object]:
    remotes = make_repos(tmp_path, ["api", "web"])
    # Unconfined only so the command can tally the commits it checks outside the work tree.
    checks = f"echo $(basename $(git rev-parse --show-toplevel)) $(git rev-parse HEAD) >> {count}"
    entries = [{"name": n, "url": str(p), "checks": checks, "checks_isolation": "none"} for n, p in remotes.items()]
    return {"repos": entries, "agents": [agent("coder", "--append", "README.md", "use /v2/items")]}


def _heads_checked(count: Path) -> list[str]:
    return [line.split()[1] for line in count.read_text().splitlines()] if count.exists() else []


def test_each_prs_head_is_checked_once_and_announced_once(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    count = tmp_path / "checked"
    runtime = start_runtime(_config(tmp_path, count))
    run_id = submit(runtime, "rename /items to /v2/items", ["api", "web"])
    wait_for(runtime, run_id, RunState.awaiting_approval)

    heads = sorted(c.head_sha for c in runtime.store.changes(run_id))
    assert sorted(_heads_checked(count)) == heads
    announced = event_data(runtime, run_id, "checks")
    assert sorted((e["sha"], e["state"]) for e in announced) == [(h, "passed") for h in heads]


def test_a_head_pushed_after_the_run_checked_it_is_checked_again(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    count = tmp_path / "checked"
    config = _config(tmp_path, count)
    runtime = start_runtime(config)
    run_id = submit(runtime, "rename /items to /v2/items", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval)
    [change] = runtime.store.changes(run_id)
    remote = Path(str(config["repos"][0]["url"]))  # type: ignore[index]
    moved = commit_to_remote(remote, change.branch, {"NOTES.md": "by hand\n"}, "a person's commit")

    runtime.runs.decide(run_id, APPROVER, Decision.approve)  # the gate reads the PR again
    until("the new head's checks", lambda: moved in _heads_checked(count))

    assert _heads_checked(count) == [change.head_sha, moved]
