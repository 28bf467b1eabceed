"""Durability: `kill -9` of Baton in the middle of a run's second step, then a restart.

The run finishes; the first step's agent is not run again; exactly one branch and one PR per
repo and exactly one merge."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bot.config.settings import Settings
from bot.domain.models import RunState
from bot.store.store import Store, make_engine
from tests.e2e.conftest import agent, agent_host_pid, lines, make_repos, repo_entries
from tests.gitutil import read_file_on

BATON = [sys.executable, "-m", "bot"]


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _setup(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    remotes = make_repos(tmp_path, ["api", "client"])
    first, second = tmp_path / "first.count", tmp_path / "second.count"
    config = {
        "repos": repo_entries(remotes, {"client": ["api"]}),
        "agents": [
            agent("first", "--count", str(first), "--append", "one.txt", "first step"),
            agent(
                "second",
                "--count",
                str(second),
                "--hang-first-time",
                str(tmp_path / "hung"),
                "--append",
                "two.txt",
                "second step",
            ),
        ],
        "routing": {"default_agent": "first"},
        "playbooks": {
            "default": {"per_repo": {"sequential": [{"agent": "first"}, {"agent": "second"}]}},
        },
        "concurrency": {"per_run": 1},
    }
    config_path = tmp_path / "baton.yml"
    config_path.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "BATON_HOME": str(tmp_path / ".baton"),
        "BATON_CONFIG": str(config_path),
    }
    return env, first, second


def _store(tmp_path: Path) -> Store:
    settings = Settings(home=tmp_path / ".baton")
    return Store(make_engine(settings.store_url))


def test_a_killed_run_resumes_without_repeating_finished_agent_work(tmp_path: Path) -> None:
    env, first, second = _setup(tmp_path)
    crashed = subprocess.Popen(
        [*BATON, "run", "add two files", "--repo", "api", "--repo", "client", "--yes"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    orphans: list[int] = []
    worker = None
    try:
        _wait(lambda: (tmp_path / "hung").exists(), 60, "the second step to start")
        crashed.send_signal(signal.SIGKILL)
        crashed.wait(10)
        orphans = [int(line.split()[-1]) for line in lines(second)]
        assert lines(first) == ["api implementer " + lines(first)[0].split()[-1]]

        worker = subprocess.Popen(
            [*BATON, "worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        store = _store(tmp_path)
        run_id = store.list_runs()[0].run_id
        _wait(
            lambda: store.get_run(run_id).state is RunState.awaiting_approval,  # type: ignore[union-attr]
            60,
            "the resumed run to ask for approval",
        )
        approved = subprocess.run([*BATON, "approve", run_id], env=env, capture_output=True, text=True, timeout=60)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        _wait(
            lambda: store.get_run(run_id).state is RunState.merged,  # type: ignore[union-attr]
            60,
            "the merge",
        )
    finally:
        found = [agent_host_pid(second, pid) for pid in orphans]
        leftovers = [pid for pid in found if pid is not None]
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if worker is not None:
            worker.terminate()
            worker.wait(10)
        if crashed.poll() is None:
            crashed.kill()

    assert leftovers == [], "the restarted run left the crashed agent running"
    first_runs = [line.split()[0] for line in lines(first)]
    assert sorted(first_runs) == ["api", "client"], "the first step ran again after the restart"
    changes = store.changes(run_id)
    assert [(c.repo, c.state.value) for c in changes] == [("api", "merged"), ("client", "merged")]
    forge = tmp_path / ".baton" / "forge"
    for repo in ("api", "client"):
        assert len(list((forge / repo).glob("*.json"))) == 1, f"{repo} has more than one PR"
        remote = tmp_path / "remotes" / f"{repo}.git"
        branches = subprocess.run(
            ["git", "for-each-ref", "--format=%(refname)", "refs/heads/baton/"],
            cwd=remote,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert len(branches) == 1
        merges = subprocess.run(
            ["git", "rev-list", "--merges", "--count", "main"],
            cwd=remote,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert merges == "1"
        assert read_file_on(remote, "main", "two.txt") == "second step\n"
