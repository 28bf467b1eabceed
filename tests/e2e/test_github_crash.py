"""Durability on GitHub: `baton serve` is killed (-9) in the middle of a run that GitHub started,
after the first repo's PR is open and while the second repo's agent works; a new `baton serve`
takes over. The run ends merged with one PR per repo, one status comment on the issue, one merge
per repo, and no finished agent work repeated."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.config.settings import Settings
from bot.domain.models import RunState
from bot.services.github.issues import status_marker
from bot.store.store import Store, make_engine
from tests.e2e.conftest import agent, agent_host_pid, lines
from tests.e2e.scale_support import free_port, github_env, until
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import config_dict, start_fake
from tests.fakes.github_stack import SECRET
from tests.fakes.github_webhooks import Webhooks
from tests.gitutil import read_file_on

ISSUE = "acme/api"


class Server:
    """`baton serve` as its own process, started and `kill -9`ed like a real deployment's."""

    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(self.port)],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        until("baton serve to answer /healthz", self._healthy)

    def _healthy(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        return False

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeGitHub, dict[str, Path], dict[str, str], Path]]:
    fake, remotes = start_fake(tmp_path, ["api", "web"])
    for full in ("acme/api", "acme/web"):
        fake.grant(full, "alice", "write")
        fake.grant(full, "maya", "maintain")
    counts = tmp_path / "counts"
    config = config_dict(remotes)
    config["repos"][1]["depends_on"] = ["api"]
    second = ["--count", str(counts / "second"), "--append", "two.txt", "second step"]
    config["agents"] = [
        agent("first", "--count", str(counts / "first"), "--append", "one.txt", "first step"),
        agent("second", *second),
        agent("second-hangs", *second, "--hang-first-time", str(tmp_path / "hung")),
    ]
    # web's second step hangs the first time: by then api is finished and its PR is open.
    config["routing"] = {"default_agent": "second", "rules": [{"repo": "web", "agent": "second-hangs"}]}
    config["playbooks"] = {"default": {"per_repo": {"sequential": [{"agent": "first"}, {"agent": "@routed"}]}}}
    config["concurrency"] = {"per_run": 1}
    counts.mkdir()
    env = github_env(tmp_path, config, fake)
    try:
        yield fake, remotes, env, tmp_path
    finally:
        fake.stop()


def test_a_killed_server_resumes_a_github_run_without_a_second_pr_comment_or_merge(
    world: tuple[FakeGitHub, dict[str, Path], dict[str, str], Path],
) -> None:
    fake, remotes, env, tmp_path = world
    port = free_port()
    first_server, second_server = Server(env, port), Server(env, port)
    store = Store(make_engine(Settings(home=tmp_path / ".baton").store_url))
    orphans: list[int] = []
    try:
        first_server.start()
        hooks = Webhooks(fake, f"{first_server.url}/github/webhook", SECRET, outcomes=store.intake_outcome)
        issue = fake.open_issue(ISSUE, "Add two files", "one.txt and two.txt in both repos", "alice")
        ask = fake.add_comment(ISSUE, issue, "@baton add two files\nrepos: api, web", "alice")
        answer = hooks.send("issue_comment", hooks.issue_comment(ISSUE, issue, ask.id))
        assert answer.status_code == 200, answer.text
        run_id = str(answer.json()["run_id"])

        # api is done (its PR open); web's second agent is the one that hangs; then the crash.
        until("web's second step to start", lambda: (tmp_path / "hung").exists())
        assert [p.head for p in fake.pulls("acme/api")] and fake.pulls("acme/web") == []
        orphans = [int(line.split()[-1]) for line in lines(tmp_path / "counts" / "second")]
        first_server.kill()

        second_server.start()
        until(
            "the resumed run to ask for approval",
            lambda: (run := store.get_run(run_id)) is not None and run.state is RunState.awaiting_approval,
        )
        for change in store.changes(run_id):
            full = f"acme/{change.repo}"
            fake.add_check_run(full, change.head_sha, "test", "success")
            hooks.send("check_suite", hooks.check_suite_completed(full, change.number))
        approve = fake.add_comment(ISSUE, issue, "/baton approve", "maya")
        hooks.send("issue_comment", hooks.issue_comment(ISSUE, issue, approve.id))
        until("the merge", lambda: (run := store.get_run(run_id)) is not None and run.state is RunState.merged)
    finally:
        found = [agent_host_pid(tmp_path / "counts" / "second", pid) for pid in orphans]
        leftovers = [pid for pid in found if pid is not None]
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        first_server.kill()
        second_server.kill()

    assert leftovers == [], "the restarted server left the crashed agent running"
    assert sorted(line.split()[0] for line in lines(tmp_path / "counts" / "first")) == ["api", "web"]
    assert [len(fake.pulls("acme/api")), len(fake.pulls("acme/web"))] == [1, 1]
    statuses = [c for c in fake.comments_on(ISSUE, issue) if status_marker(run_id) in c.body]
    assert len(statuses) == 1
    assert [r.path.split("/")[3] for r in fake.calls("PUT", r"/merge$")] == ["api", "web"]
    for repo in ("api", "web"):
        assert read_file_on(remotes[repo], "main", "two.txt") == "second step\n"
