"""Durability of parked runs: `kill -9` of the worker in the middle of a continuation (a follow-up
round on a parked run), then a new worker. The continuation resumes, the run parks again, and an
approval merges it exactly once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from bot.app import Runtime
from bot.config.settings import Settings
from bot.domain.models import Actor, Decision, RunState, Source
from bot.engine.intake import build_spec
from handlers.cli import cli_trigger
from tests.e2e.conftest import APPROVER, agent, agent_host_pid, event_data, lines, make_repos, repo_entries, until

BATON = [sys.executable, "-m", "bot"]
REVIEWER = Actor(source=Source.github, id="reviewer", display="reviewer")


def _worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*BATON, "worker"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )


def test_a_continuation_killed_mid_round_resumes_and_merges_once(tmp_path: Path) -> None:
    remotes = make_repos(tmp_path, ["api"])
    hung, count = tmp_path / "hung", tmp_path / "agent.count"
    hung.touch()  # the first work goes through; the follow-up round's agent hangs once
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--count", str(count), "--hang-first-time", str(hung), "--append", "N.md", "x")],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
    }
    config_path = tmp_path / "baton.yml"
    config_path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "BATON_HOME": str(tmp_path / ".baton"), "BATON_CONFIG": str(config_path)}
    runtime = Runtime(Settings(home=tmp_path / ".baton", config=config_path))  # ingests only, like serve on PG
    store = runtime.store
    first = _worker(env)
    second = None
    try:
        run_id = runtime.runs.submit(build_spec(cli_trigger("append a line"), runtime.config, repos=["api"]))
        until("the run parks", lambda: run_id in store.inbox.parked(), timeout=60)
        hung.unlink()
        assert runtime.runs.follow_up(run_id, REVIEWER, "one more line").accepted
        until("the round's agent hangs", hung.exists, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)

        second = _worker(env)
        until("the round finishes", lambda: len(event_data(runtime, run_id, "round_finished")) == 1, timeout=90)
        until("the run parks again", lambda: run_id in store.inbox.parked(), timeout=60)
        assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
        until("the merge", lambda: store.get_run(run_id).state is RunState.merged, timeout=60)  # type: ignore[union-attr]
    finally:
        for line in lines(count):
            pid = agent_host_pid(count, int(line.split()[-1]))
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        runtime.shutdown()

    assert len(event_data(runtime, run_id, "merged")) == 1
    assert [(c.repo, c.state.value) for c in store.changes(run_id)] == [("api", "merged")]
    assert len(list((tmp_path / ".baton" / "forge" / "api").glob("*.json"))) == 1
    merges = subprocess.run(
        ["git", "rev-list", "--merges", "--count", "main"],
        cwd=tmp_path / "remotes" / "api.git",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert merges == "1"
    assert [e["round"] for e in event_data(runtime, run_id, "round_started")] == [1]
    assert len(lines(count)) == 3, "first work, the round killed with the worker, the round resumed"
