"""Scale-out test harness: `baton serve` and `baton worker` as real processes sharing one PostgreSQL
database and one fake GitHub, the slot agent's log read back, and runs started and approved by
signed webhooks."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from bot.config.settings import Settings
from bot.store.store import Store, make_engine
from tests.e2e.conftest import process_alive
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import TOKEN, config_dict, start_fake
from tests.fakes.github_stack import SECRET
from tests.fakes.github_webhooks import Webhooks

SLOT_AGENT = Path(__file__).parent / "tools" / "slot_agent.py"
REQUESTER, APPROVER = "alice", "maya"


def until(what: str, condition: Callable[[], Any], timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Baton:
    """One `baton <args>` process, started and `kill -9`ed like a deployment's."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.env, self.args = env, list(args)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Baton:
        log = Path(self.env["BATON_HOME"]) / f"{self.args[0]}-{time.monotonic_ns()}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            # BATON_TEST_PID is the process's own pid (`exec` keeps the shell's): the slot agents
            # it runs record it as their parent, which a confined agent cannot see for itself.
            self.process = subprocess.Popen(
                ["sh", "-c", 'export BATON_TEST_PID=$$; exec "$0" "$@"', sys.executable, "-m", "bot", *self.args],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@dataclass
class Invocation:
    run: str
    repo: str
    id: str
    parent: int
    ended: bool = False


@dataclass
class AgentLog:
    """What the slot agents wrote (tests/e2e/tools/slot_agent.py)."""

    root: Path
    invocations: list[Invocation] = field(default_factory=list)

    def read(self) -> AgentLog:
        by_id: dict[str, Invocation] = {}
        path = self.root / "invocations.log"
        for line in path.read_text().splitlines() if path.exists() else []:
            kind, run, repo, made, *rest = line.split()
            if kind == "start":
                by_id[made] = Invocation(run, repo, made, int(rest[0]))
            else:
                by_id[made].ended = True
        self.invocations = list(by_id.values())
        return self

    def running_under(self, parent: int) -> list[Invocation]:
        return [i for i in self.invocations if i.parent == parent and not i.ended]

    def ends(self) -> Counter[tuple[str, str]]:
        return Counter((i.run, i.repo) for i in self.invocations if i.ended)

    def starts(self) -> Counter[tuple[str, str]]:
        return Counter((i.run, i.repo) for i in self.invocations)

    def overlaps(self) -> list[str]:
        path = self.root / "overlaps.log"
        return path.read_text().splitlines() if path.exists() else []

    def kill_orphans(self) -> None:
        """Kill what is left of the slot agents writing here (found by their `--log` in /proc)."""
        mark = str(self.root).encode()
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(SLOT_AGENT).encode() in argv and mark in argv and process_alive(int(proc.name)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(proc.name), signal.SIGKILL)


@dataclass
class Cluster:
    fake: FakeGitHub
    env: dict[str, str]
    store: Store
    agents: AgentLog
    url: str
    remotes: dict[str, Path]

    @property
    def hooks(self) -> Webhooks:
        return Webhooks(self.fake, f"{self.url}/github/webhook", SECRET, outcomes=self.store.intake_outcome)

    def redeliver(self, repo: str, issue: int, comment_id: int, delivery: str) -> httpx.Response:
        """GitHub delivering an issue comment's webhook (again) under `delivery`."""
        hooks = self.hooks
        return hooks.send("issue_comment", hooks.issue_comment(f"acme/{repo}", issue, comment_id), delivery=delivery)

    def serve(self, *flags: str) -> Baton:
        server = Baton(self.env, "serve", "--port", self.url.rsplit(":", 1)[1], *flags).start()
        until("baton serve to answer /readyz", self._ready)
        return server

    def _ready(self) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200
        return False

    def worker(self) -> Baton:
        """A worker that has joined: its executor heartbeats in the store."""
        worker = Baton(self.env, "worker").start()
        until("the worker to heartbeat", lambda: any(pid == worker.pid for _, _, pid, _, _ in self.store.executors()))
        return worker

    def ask(self, repos: list[str]) -> tuple[str, int]:
        """A person asks on an issue of the first repo; returns the run id and the issue number."""
        full = f"acme/{repos[0]}"
        issue = self.fake.open_issue(full, "Mark this run", "one marker file per run", REQUESTER)
        text = "@baton add a marker" + (f"\nrepos: {', '.join(repos)}" if len(repos) > 1 else "")
        comment = self.fake.add_comment(full, issue, text, REQUESTER)
        answer = self.hooks.send("issue_comment", self.hooks.issue_comment(full, issue, comment.id))
        assert answer.status_code == 200, answer.text
        return str(answer.json()["run_id"]), issue

    def approve(self, repo: str, issue: int) -> None:
        full = f"acme/{repo}"
        comment = self.fake.add_comment(full, issue, "/baton approve", APPROVER)
        answer = self.hooks.send("issue_comment", self.hooks.issue_comment(full, issue, comment.id))
        assert answer.status_code == 200, answer.text


def baton_env(tmp_path: Path, config: dict[str, Any], **extra: str) -> dict[str, str]:
    """The environment of a Baton process: `config` written as its baton.yml, its home under
    `tmp_path`, and none of the caller's own service settings."""
    config_path = tmp_path / "baton.yml"
    config_path.write_text(yaml.safe_dump(config))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GITHUB_", "LINEAR_", "BATON_"))}
    return {**clean, "BATON_HOME": str(tmp_path / ".baton"), "BATON_CONFIG": str(config_path), **extra}


def github_env(tmp_path: Path, config: dict[str, Any], fake: FakeGitHub, **extra: str) -> dict[str, str]:
    """`baton_env` for a Baton process on the fake GitHub."""
    github = {"GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": fake.url}
    return baton_env(tmp_path, config, **github, **extra)


@contextmanager
def cluster(tmp_path: Path, database_url: str, repos: list[str], concurrency: dict[str, int]) -> Iterator[Cluster]:
    """The fake GitHub over `repos` (acme/<name>), and the environment Baton processes share:
    one database, one home (one host: a restarted step finds its predecessor's agent to kill)."""
    fake, remotes = start_fake(tmp_path, repos)
    for name in repos:
        fake.grant(f"acme/{name}", REQUESTER, "write")
        fake.grant(f"acme/{name}", APPROVER, "maintain")
    agents = AgentLog(tmp_path / "agents")
    agents.root.mkdir(parents=True, exist_ok=True)
    config = config_dict(remotes)
    command = [sys.executable, str(SLOT_AGENT), "--log", str(agents.root), "--slots", str(concurrency["per_repo"])]
    marker = {
        "name": "marker",
        "kind": "script",
        "command": command,
        "timeout_s": 60,
        "env": {"PARENT_PID": "${BATON_TEST_PID}"},
        "isolation_writable": [str(agents.root)],
    }
    config["agents"] = [marker]
    config["routing"] = {"default_agent": "marker"}
    config["playbooks"] = {"default": {"per_repo": {"agent": "marker"}}}
    config["approval"] = {"require_green_checks": False}
    config["concurrency"] = concurrency
    env = github_env(tmp_path, config, fake, BATON_DATABASE_URL=database_url)
    engine = make_engine(Settings(database_url=database_url).store_url)
    try:
        yield Cluster(fake, env, Store(engine), agents, f"http://127.0.0.1:{free_port()}", remotes)
    finally:
        agents.read().kill_orphans()
        engine.dispose()
        fake.stop()
