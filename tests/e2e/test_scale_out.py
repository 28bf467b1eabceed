"""Scale-out on PostgreSQL: `baton serve` ingests signed webhooks and enqueues runs, `baton worker`
processes execute them from DBOS's queues, and a `kill -9`ed worker's work is taken over by another.
Every run ends merged with exactly one PR and one merge per repo, agent work repeats only where a
killed worker interrupted it, and no repo ever has more agents at work than `concurrency.per_repo`.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from dbos import DBOSClient

from bot.domain import RunState
from bot.engine.runs import RUN_QUEUE, workflow_id
from tests.e2e.postgres_support import fresh_database
from tests.e2e.scale_support import Cluster, cluster, until
from tests.gitutil import read_file_on

REPOS = ["r0", "r1", "r2", "r3"]
LIMITS = {"global": 6, "per_worker": 3, "per_repo": 2, "per_run": 2}


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


def _repos_of(number: int) -> list[str]:
    """Runs go round the repos; every fourth also works on the next repo (a two-PR run)."""
    first = REPOS[number % len(REPOS)]
    return [first, REPOS[(number + 1) % len(REPOS)]] if number % 4 == 3 else [first]


def _state(world: Cluster, run_id: str) -> RunState | None:
    run = world.store.get_run(run_id)
    return run.state if run is not None else None


@pytest.mark.postgres
def test_twenty_webhook_runs_on_serve_and_two_workers_merge_once_through_a_killed_worker(
    tmp_path: Path, database_url: str
) -> None:
    with cluster(tmp_path, database_url, REPOS, LIMITS) as world:
        server = world.serve()
        first, second = world.worker(), world.worker()
        replacement = None
        try:
            with ThreadPoolExecutor(4) as pool:  # people ask (and approve) at once, not in turn
                asked = list(pool.map(world.ask, [_repos_of(n) for n in range(10)]))
                # kill -9 the first worker while an agent of its works, then start another worker.
                interrupted = until(
                    "an agent at work under the first worker", lambda: world.agents.read().running_under(first.pid)
                )
                first.kill()
                asked += pool.map(world.ask, [_repos_of(n) for n in range(10, 20)])
                replacement = world.worker()
                runs = {run_id: (_repos_of(n), issue) for n, (run_id, issue) in enumerate(asked)}
                assert len(runs) == 20

                approved: set[str] = set()
                approvals: list[Future[None]] = []

                def approve_waiting() -> bool:
                    for done in approvals:
                        if done.done():
                            done.result()  # a refused approval fails here, not as a timeout
                    for run_id, (repos, issue) in runs.items():
                        state = _state(world, run_id)
                        assert state not in (RunState.failed, RunState.cancelled, RunState.expired), (run_id, state)
                        if state is RunState.awaiting_approval and run_id not in approved:
                            approved.add(run_id)
                            approvals.append(pool.submit(world.approve, repos[0], issue))
                    return all(_state(world, run_id) is RunState.merged for run_id in runs)

                until("every run to merge", approve_waiting, timeout=240)
        finally:
            for process in (server, first, second, replacement):
                if process is not None:
                    process.kill()

        agents = world.agents.read()
        touched = {(run_id, repo) for run_id, (repos, _) in runs.items() for repo in repos}
        # Each repo of each run: one finished agent invocation, or two where the kill cut one short.
        killed = {(i.run, i.repo) for i in interrupted}
        assert set(agents.ends()) == touched
        assert {key for key, count in agents.ends().items() if count > 1} <= killed
        assert {key for key, count in agents.starts().items() if count > 1} <= killed
        assert agents.overlaps() == []
        for repo in REPOS:
            full = f"acme/{repo}"
            expected = sorted(run_id for run_id, (repos, _) in runs.items() if repo in repos)
            pulls = world.fake.pulls(full)
            assert sorted(p.head.split("/")[1] for p in pulls) == expected, repo
            assert all(p.merged for p in pulls), repo
            merges = [c.path for c in world.fake.calls("PUT", rf"/repos/{full}/pulls/\d+/merge$")]
            assert len(merges) == len(set(merges)) == len(expected), repo
            for run_id in expected:
                assert read_file_on(world.remotes[repo], "main", f"done/{run_id}.txt") == f"{run_id}\n"
        client = DBOSClient(system_database_url=database_url)
        try:
            statuses = client.list_workflows(queue_name=RUN_QUEUE, load_input=False, load_output=False)
        finally:
            client.destroy()
        assert sorted(s.workflow_id for s in statuses) == sorted(workflow_id(r, 1) for r in runs)
        assert {s.status for s in statuses} == {"SUCCESS"}


@pytest.mark.postgres
def test_serve_on_postgres_enqueues_runs_and_leaves_them_to_a_worker(tmp_path: Path, database_url: str) -> None:
    limits = {"global": 2, "per_repo": 1}
    with cluster(tmp_path, database_url, ["r0"], limits) as world:
        server = world.serve()
        worker = None
        client = DBOSClient(system_database_url=database_url)
        try:
            run_id, _ = world.ask(["r0"])
            queued = client.list_workflows(workflow_ids=[workflow_id(run_id, 1)], load_input=False, load_output=False)
            assert [(s.status, s.queue_name, s.executor_id) for s in queued] == [("ENQUEUED", RUN_QUEUE, None)]
            assert world.store.executors() == []  # serve is no executor: nothing here can run it
            assert _state(world, run_id) is RunState.queued
            assert world.agents.read().invocations == []

            worker = world.worker()
            until("the worker to run it", lambda: _state(world, run_id) is RunState.awaiting_approval)
            done = client.list_workflows(workflow_ids=[workflow_id(run_id, 1)], load_input=False, load_output=False)
            (executor,) = [e for e, _, pid, _, _ in world.store.executors() if pid == worker.pid]
            assert [s.executor_id for s in done] == [executor]
            assert [(i.run, i.repo, i.parent, i.ended) for i in world.agents.read().invocations] == [
                (run_id, "r0", worker.pid, True)
            ]
        finally:
            client.destroy()
            for process in (server, worker):
                if process is not None:
                    process.kill()
