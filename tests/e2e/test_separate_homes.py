"""Workers with separate homes (the shape docker-compose.yml ships: a volume each) on PostgreSQL: a
worker `kill -9`ed in the middle of a multi-step playbook leaves its repo to the other worker, which
has no checkout of it; the other worker continues from the commits the earlier steps pushed to
hidden refs, and nothing that finished runs again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config.settings import Settings
from bot.domain.models import RunState
from bot.store.store import Store, make_engine
from tests.e2e.conftest import agent, process_alive
from tests.e2e.postgres_support import fresh_database
from tests.e2e.scale_support import APPROVER, REQUESTER, AgentLog, Baton, Cluster, free_port, github_env, until
from tests.fakes.github_setup import config_dict, start_fake
from tests.gitutil import read_file_on

ROLES = ("implement", "review", "fix")


@pytest.fixture
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[Cluster]:
    """The fake GitHub over acme/svc and a playbook implement → review → fix; each step appends its
    name to CHANGES.md and a line to `counts/<step>.log` (outside every home); review waits for
    `gate` to exist."""
    fake, remotes = start_fake(tmp_path, ["svc"])
    fake.grant("acme/svc", REQUESTER, "write")
    fake.grant("acme/svc", APPROVER, "maintain")
    counts = tmp_path / "counts"
    counts.mkdir()
    config = config_dict(remotes)
    extra = {"review": ["--block-until", str(tmp_path / "gates" / "gate")]}
    (tmp_path / "gates").mkdir()
    config["agents"] = [
        agent(role, "--append", "CHANGES.md", role, "--count", str(counts / f"{role}.log"), *extra.get(role, []))
        for role in ROLES
    ]
    config["routing"] = {"default_agent": "implement"}
    config["playbooks"] = {"default": {"per_repo": {"sequential": [{"agent": role} for role in ROLES]}}}
    config["approval"] = {"require_green_checks": False}
    config["concurrency"] = {"global": 2, "per_worker": 2, "per_repo": 1, "per_run": 1}
    env = github_env(tmp_path, config, fake, BATON_DATABASE_URL=database_url)
    engine = make_engine(Settings(database_url=database_url).store_url)
    try:
        url = f"http://127.0.0.1:{free_port()}"
        yield Cluster(fake, env, Store(engine), AgentLog(tmp_path / "agents"), url, remotes)
    finally:
        engine.dispose()
        fake.stop()


def _worker(world: Cluster, home: Path) -> Baton:
    """A worker with a home (and so a workspace folder) of its own."""
    worker = Baton({**world.env, "BATON_HOME": str(home)}, "worker").start()
    until("the worker to heartbeat", lambda: any(pid == worker.pid for _, _, pid, _, _ in world.store.executors()))
    return worker


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in argv and process_alive(int(proc.name)):
            pids.append(int(proc.name))
    return pids


def _parent(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    return 0


def _ancestor_among(pid: int, candidates: list[Baton]) -> Baton | None:
    while pid > 1:
        for candidate in candidates:
            if candidate.pid == pid:
                return candidate
        pid = _parent(pid)
    return None


def _finished(world: Cluster, run_id: str, agent_name: str) -> bool:
    return any(
        e.kind == "step_finished" and e.data.get("agent") == agent_name and e.data.get("state") == "succeeded"
        for e in world.store.events(run_id)
    )


def _count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.postgres
def test_a_worker_on_another_home_finishes_a_killed_workers_playbook_without_rerunning_finished_steps(
    tmp_path: Path, world: Cluster
) -> None:
    server = world.serve()  # migrates the schema the workers wait for
    workers = [_worker(world, tmp_path / "home-a"), _worker(world, tmp_path / "home-b")]
    try:
        run_id, issue = world.ask(["svc"])
        until("the implement step to finish", lambda: _finished(world, run_id, "implement"))
        gate = str(tmp_path / "gates" / "gate")
        until("the review agent to start", lambda: _count(tmp_path / "counts" / "review.log") == 1)
        review = until("the review agent at work", lambda: _processes_mentioning(gate))
        holder = _ancestor_among(review[0], workers)
        assert holder is not None
        holder.kill()
        # The review agent the kill orphaned stops with its worker, before anyone else works the repo.
        until("the orphaned review agent to stop", lambda: not any(process_alive(pid) for pid in review))
        (tmp_path / "gates" / "gate").touch()
        until("the run to await approval", lambda: _reached(world, run_id, RunState.awaiting_approval), timeout=120)
        world.approve("svc", issue)
        until("the run to merge", lambda: _reached(world, run_id, RunState.merged))
    finally:
        for process in (server, *workers):
            process.kill()

    counts = {role: _count(tmp_path / "counts" / f"{role}.log") for role in ROLES}
    assert counts == {"implement": 1, "review": 2, "fix": 1}  # only the step the kill cut short ran again
    assert read_file_on(world.remotes["svc"], "main", "CHANGES.md") == "implement\nreview\nfix\n"
    pulls = world.fake.pulls("acme/svc")
    assert [(p.head.split("/")[1], p.merged) for p in pulls] == [(run_id, True)]
    assert len(world.fake.calls("PUT", r"/repos/acme/svc/pulls/\d+/merge$")) == 1


def _reached(world: Cluster, run_id: str, state: RunState) -> bool:
    """Whether the run is in `state`; a run that ended otherwise fails the test at once, saying why."""
    run = world.store.get_run(run_id)
    assert run is not None
    assert run.state is state or not run.state.terminal, (run.state, run.error)
    return run.state is state
