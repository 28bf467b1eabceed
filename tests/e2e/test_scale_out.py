"""Scale-out on PostgreSQL: `baton serve` ingests signed webhooks and enqueues runs, `baton worker`
processes execute them from DBOS's queues, and a `kill -9`ed worker's work is taken over by another.
Every run ends merged with exactly one PR and one merge per repo, agent work repeats only where a
killed worker interrupted it, and no repo ever has more agents at work than `concurrency.per_repo`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from dbos import DBOSClient, WorkflowStatus

from bot.domain.models import RunState
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


def _run_workflows_if_ended(database_url: str) -> list[WorkflowStatus] | None:
    """The run queue's workflows once none of them is waiting or working any more."""
    client = DBOSClient(system_database_url=database_url)
    try:
        statuses = client.list_workflows(queue_name=RUN_QUEUE, load_input=False, load_output=False)
    finally:
        client.destroy()
    return statuses if all(s.status not in ("ENQUEUED", "PENDING") for s in statuses) else None


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
                until("an agent at work under the first worker", lambda: world.agents.read().running_under(first.pid))
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
                statuses = until("every run's workflow to end", lambda: _run_workflows_if_ended(database_url))
        finally:
            for process in (server, first, second, replacement):
                if process is not None:
                    process.kill()

        agents = world.agents.read()
        touched = {(run_id, repo) for run_id, (repos, _) in runs.items() for repo in repos}
        # The first worker's agents: those whose parent is neither live worker (an agent the kill
        # orphaned before it looked is the init process's). The kill cut one short: it never ended.
        assert replacement is not None
        of_first = [i for i in agents.invocations if i.parent not in (second.pid, replacement.pid)]
        assert [i for i in of_first if not i.ended] != []
        # Each repo of each run ended one agent invocation; only what the killed worker had in hand
        # (cut short, or just ended before its step was recorded) was invoked again.
        killed = {(i.run, i.repo) for i in of_first}
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
        # Each run was one workflow, taken from the run queue, then (parked for approval) one
        # continuation per message, also from the run queue; all finished.
        ids = [s.workflow_id for s in statuses]
        continuations = [i for i in ids if re.search(r"-a1-c\d+$", i)]
        assert sorted(set(ids) - set(continuations)) == sorted(workflow_id(r, 1) for r in runs)
        assert all(re.sub(r"-c\d+$", "", i) in {workflow_id(r, 1) for r in runs} for i in continuations)
        assert {s.status for s in statuses} == {"SUCCESS"}


@pytest.mark.postgres
def test_serve_on_postgres_enqueues_runs_and_leaves_them_to_a_worker(tmp_path: Path, database_url: str) -> None:
    limits = {"global": 2, "per_repo": 1}
    with cluster(tmp_path, database_url, ["r0"], limits) as world:
        server = world.serve()
        worker = None
        client = DBOSClient(system_database_url=database_url)
        try:
            issue = world.fake.open_issue("acme/r0", "Mark this run", "one marker file", "alice")
            comment = world.fake.add_comment("acme/r0", issue, "@baton add a marker", "alice")
            first, again = (world.redeliver("r0", issue, comment.id, "delivery-1") for _ in range(2))
            run_id = first.json()["run_id"]
            assert again.json() == {**first.json(), "action": "duplicate"}  # a redelivery joins the run
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


@pytest.mark.postgres
def test_serve_with_execute_runs_work_itself_on_postgres(tmp_path: Path, database_url: str) -> None:
    with cluster(tmp_path, database_url, ["r0"], {"global": 2, "per_repo": 1}) as world:
        server = world.serve("--execute")
        try:
            run_id, _ = world.ask(["r0"])
            until("serve to run it", lambda: _state(world, run_id) is RunState.awaiting_approval)
        finally:
            server.kill()
    assert [(i.run, i.parent, i.ended) for i in world.agents.read().invocations] == [(run_id, server.pid, True)]
