"""`baton approve` when no Baton process would act on it: the `baton run` that started the run died
while it waited, nothing else runs for that home. The command carries the decision out itself in
the foreground (the PRs merge before it returns), or with --no-wait says exactly what to start.
With a process alive it only records the decision, and that process merges."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.conftest import agent, make_repos, repo_entries
from tests.gitutil import read_file_on

BATON = [sys.executable, "-m", "bot"]


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.remotes = make_repos(root, ["api", "web"])
        config = {
            "repos": repo_entries(self.remotes, {"web": ["api"]}),
            "agents": [agent("writer", "--append", "NOTES.md", "approved elsewhere")],
        }
        (root / "baton.yml").write_text(yaml.safe_dump(config))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}

    def baton(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BATON, *args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=120)

    def start_waiting_run(self) -> tuple[subprocess.Popen[str], str]:
        """`baton run` without --yes and without a terminal: it waits for an approval from elsewhere."""
        proc = subprocess.Popen(
            [*BATON, "run", "write a note", "--repo", "api", "--repo", "web"],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            waiting = re.match(r"awaiting approval: run `baton approve (\S+)` to merge", line)
            if waiting:
                return proc, waiting.group(1)
        raise AssertionError(f"baton run ended without waiting: {proc.wait()}")

    def state(self, run_id: str) -> str:
        [run] = [r for r in json.loads(self.baton("runs", "list", "--json").stdout) if r["run_id"] == run_id]
        return str(run["state"])


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    made = Project(tmp_path)
    yield made


def _killed(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)


def test_approve_with_no_process_alive_merges_in_the_foreground(project: Project) -> None:
    running, run_id = project.start_waiting_run()
    _killed(running)

    result = project.baton("approve", run_id)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"no Baton process is running for {project.root / '.baton'}: carrying the approve out here"
    assert lines[1].startswith("approve recorded for api@")
    merged = [m.group(1) for m in (re.search(rf"^\[{run_id}\] PR merged: (\S+) ", line) for line in lines) if m]
    assert merged == ["api#1", "web#1"]
    assert lines[-1] == f"run {run_id} is merged"
    assert project.state(run_id) == "merged"
    assert read_file_on(project.remotes["web"], "main", "NOTES.md") == "approved elsewhere\n"


def test_reject_with_no_process_alive_ends_the_run_in_the_foreground(project: Project) -> None:
    running, run_id = project.start_waiting_run()
    _killed(running)

    result = project.baton("reject", run_id, "--reason", "not now")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == f"run {run_id} is rejected"
    assert project.state(run_id) == "rejected"


def test_approve_no_wait_with_no_process_alive_says_exactly_what_to_start(project: Project) -> None:
    running, run_id = project.start_waiting_run()
    _killed(running)

    result = project.baton("approve", run_id, "--no-wait")

    assert result.returncode == 0
    home = project.root / ".baton"
    assert result.stdout.splitlines()[1] == (
        f"No Baton process is running for {home} to carry this out. Start `baton --home {home} serve` "
        f"(or `baton worker`) and it will, or run `baton approve {run_id}` to do it here."
    )
    assert project.state(run_id) == "awaiting_approval"
    # Doing what it says finishes the job.
    assert project.baton("approve", run_id).returncode == 0
    assert project.state(run_id) == "merged"


def test_approve_while_the_run_that_waits_is_alive_leaves_the_merge_to_it(project: Project) -> None:
    running, run_id = project.start_waiting_run()
    try:
        result = project.baton("approve", run_id)
        assert result.returncode == 0
        assert "carrying" not in result.stdout
        assert result.stdout.splitlines()[1].startswith("the Baton process running for this home (pid ")
        output, _ = running.communicate(timeout=60)
    finally:
        if running.poll() is None:
            running.kill()
    assert f"run {run_id} ended merged" in output
    assert running.returncode == 0
