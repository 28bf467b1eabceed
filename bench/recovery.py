"""Recovery: `kill -9` of `baton serve` at a random point of a run, then a restart.

    .venv/bin/python bench/recovery.py [--quick] [--seed N]

Each trial has its own Baton home on SQLite: three repos, each with three sequential `script`
agent steps that sleep a little and record every invocation (start and end, with a timestamp) in
a marker file. `baton serve` is started as a child process, a signed Slack mention starts the run
(the Slack Web API is a stub in this process that answers `ok`), and at a random point of the run
the process gets SIGKILL: after its k-th event plus up to one agent step's sleep, k drawn by a
seeded RNG from the events an uninterrupted run records before it waits (so a slow machine moves
the kill points with the run instead of past its end). A new
`baton serve` is started on the same home and port and the run is followed to awaiting_approval.

Measured per trial: restart -> /readyz answers, restart -> the run's next event in the store (the
run is moving again), restart -> the first agent started again. Proof: no agent step the store
recorded as finished before the kill ran again (from the marker files), every step ran to its
end, and the run ended with exactly one run, one PR per repo. Baselines in the same run: a serve
started with nothing to resume (its start -> ready) and an uninterrupted run in it (mention ->
the run's first event, mention -> first agent step).

Target (issue 8): resumed within 5 s of the restart. Exit 1 only when finished work ran again or
a run was lost or duplicated; a missed target never fails it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml
from _common import Figure, conclude, median, percentile, pyplot, run_benchmark, save_figure, timed
from _serve import Serve, baton_env, free_port, make_remote, shell_agent

REPOS = ("api", "web", "worker")
STEPS = ("s1", "s2", "s3")
AGENT_SLEEP_S = 0.3
SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "-".join(("xoxb", "bench", "token"))  # the stub's token, not a secret: spelled so scanners see none
BOT_USER = "UBATON"
REQUEST = "Recovery benchmark: add three files"
WAIT_S = 120.0
TARGET_S = 5.0
problems: list[str] = []
"""Finished work that ran again, or a run lost or duplicated; any makes the benchmark exit 1."""


# -- a Slack Web API that answers `ok` (the run's card and replies go here) ---------------------------
class _SlackStub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counter = itertools.count(1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        method = self.path.rsplit("/", 1)[-1]
        body: dict[str, Any] = {"ok": True, "ts": f"1700000000.{next(self.counter):06d}", "channel": "CBENCH"}
        if method == "auth.test":
            body |= {"user": "baton", "user_id": BOT_USER, "bot_id": "BBATON", "team_id": "TBENCH"}
        elif method == "users.info":
            body["user"] = {"id": "UALICE", "name": "alice", "profile": {"display_name": "alice"}}
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@contextlib.contextmanager
def slack_stub() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlackStub)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    finally:
        server.shutdown()
        server.server_close()


def post_mention(url: str, n: int) -> None:
    """A signed `app_mention` event callback, as Slack delivers it."""
    ts = f"{int(time.time())}.{n:06d}"
    event = {
        "type": "app_mention",
        "user": "UALICE",
        "text": f"<@{BOT_USER}> {REQUEST} repo={','.join(REPOS)}",
        "ts": ts,
        "event_ts": ts,
        "channel": "CBENCH",
        "team": "TBENCH",
    }
    body = json.dumps(
        {
            "token": "unused",
            "team_id": "TBENCH",
            "api_app_id": "ABENCH",
            "type": "event_callback",
            "event_id": f"EvBENCH{n:06d}{os.getpid()}",
            "event_time": int(time.time()),
            "authorizations": [{"enterprise_id": None, "team_id": "TBENCH", "user_id": BOT_USER, "is_bot": True}],
            "event": event,
        }
    ).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    answer = httpx.post(f"{url}/slack/events", content=body, headers=headers, timeout=30)
    if answer.status_code != 200:
        raise RuntimeError(f"the mention was refused: {answer.status_code} {answer.text[:300]}")


# -- one Baton home ---------------------------------------------------------------------------------------
@dataclass
class World:
    root: Path
    env: dict[str, str]
    marks: Path

    @property
    def home(self) -> Path:
        return self.root / ".baton"


def make_world(root: Path, slack_api: str) -> World:
    marks = root / "marks" / "invocations.log"
    marks.parent.mkdir(parents=True)
    remotes = {name: make_remote(root / "remotes", name) for name in REPOS}
    # Each step appends `start|end <repo> <step> <epoch> <Baton's pid>` around its work (BATON_PID:
    # the serve that ran it, as `_serve.Serve` exports it; a confined agent cannot see its parent);
    # an append of one short line is atomic, so concurrent agents never interleave within a line.
    # The agents run confined (the default), with only the marks' folder writable outside their workspace.
    agents = [
        shell_agent(
            step,
            f'echo "start $BATON_REPO {step} $(date +%s.%N) $BATON_PID" >> {marks}; sleep {AGENT_SLEEP_S}; '
            f'echo {step} >> {step}.txt; echo "end $BATON_REPO {step} $(date +%s.%N) $BATON_PID" >> {marks}',
        )
        | {"env": {"BATON_PID": "${BATON_BENCH_PID}"}, "isolation_writable": [str(marks.parent)]}
        for step in STEPS
    ]
    config = {
        "repos": [{"name": n, "url": str(p)} for n, p in remotes.items()],
        "routing": {"default_agent": STEPS[0]},
        "agents": agents,
        "playbooks": {"default": {"per_repo": {"sequential": [{"agent": s} for s in STEPS]}}},
        "concurrency": {"per_run": len(REPOS)},
        # The mention names the repos: they must be its channel's (or the requester allowed to widen).
        "slack": {"channel_repos": {"CBENCH": list(REPOS)}},
    }
    path = root / "baton.yml"
    path.write_text(yaml.safe_dump(config))
    env = baton_env(
        root / ".baton",
        path,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=slack_api,
    )
    return World(root, env, marks)


@dataclass
class Invocation:
    phase: str
    repo: str
    step: str
    at: float
    baton_pid: int


def invocations(world: World) -> list[Invocation]:
    if not world.marks.exists():
        return []
    found = []
    for line in world.marks.read_text().splitlines():
        phase, repo, step, at, pid = line.split()
        found.append(Invocation(phase, repo, step, float(at), int(pid)))
    return found


class Reader:
    """The trial's store, read from outside the Baton process."""

    def __init__(self, world: World) -> None:
        from bot.store.store import Store, make_engine

        self.engine = make_engine(f"sqlite:///{(world.home / 'baton.db').resolve()}")
        self.store = Store(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def only_run(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.store.list_runs(limit=10)
            if runs:
                return runs[0].run_id
            time.sleep(0.01)
        raise RuntimeError("the mention started no run")

    def events(self, run_id: str, after: int = 0) -> list[Any]:
        return list(self.store.events(run_id, after_seq=after))

    def wait_state(self, run_id: str, state: str, timeout: float = WAIT_S) -> datetime | None:
        """When the run's state event for `state` landed, or None if it never did (or it ended)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(run_id):
                if event.kind == "state" and event.data.get("to") == state:
                    at: datetime = event.at
                    return at
            run = self.store.get_run(run_id)
            if run is not None and run.state.terminal:
                return None
            time.sleep(0.05)
        return None


# -- the uninterrupted run: the baseline, and the events the kill points are drawn from -----------------
@dataclass
class Fresh:
    ready_s: float
    first_event_s: float
    first_agent_s: float
    length_s: float
    events: int
    """How many events the run recorded before its awaiting_approval state event."""


def fresh_run(world: World) -> Fresh:
    serve = Serve.start(world.env, world.root / "serve.log")
    reader = Reader(world)
    try:
        ready = serve.wait_ready()
        posted = time.time()
        post_mention(serve.url, 0)
        run_id = reader.only_run()
        done = reader.wait_state(run_id, "awaiting_approval")
        if done is None:
            problems.append(f"uninterrupted run {run_id} never reached awaiting_approval")
            return Fresh(ready, float("nan"), float("nan"), float("nan"), 0)
        events = reader.events(run_id)
        waits = [n for n, e in enumerate(events) if e.kind == "state" and e.data.get("to") == "awaiting_approval"]
        first = min(e.at for e in events if e.kind != "run_created").timestamp()
        agent = min(i.at for i in invocations(world) if i.phase == "start")
        check_outcome(world, reader, run_id, "uninterrupted run")
        return Fresh(ready, first - posted, agent - posted, done.timestamp() - posted, waits[0])
    finally:
        reader.close()
        serve.stop()


def check_outcome(world: World, reader: Reader, run_id: str, label: str) -> None:
    """One run, waiting for approval, with one PR per repo (in the store and the forge's records),
    and every step of every repo run to its end."""
    runs = reader.store.list_runs(limit=10)
    if len(runs) != 1:
        problems.append(f"{label}: {len(runs)} runs in the store, expected 1")
    view = reader.store.view(run_id)
    if view is None or view.run.state.value != "awaiting_approval":
        problems.append(f"{label}: run {run_id} is {view.run.state.value if view else 'missing'}")
        return
    if sorted(c.repo for c in view.changes) != sorted(REPOS):
        problems.append(f"{label}: PRs in the store for {sorted(c.repo for c in view.changes)}")
    for repo in REPOS:
        records = [json.loads(p.read_text()) for p in (world.home / "forge" / repo).glob("*.json")]
        mine = [r for r in records if r["change"]["run_id"] == run_id]
        if len(mine) != 1:
            problems.append(f"{label}: the forge holds {len(mine)} PRs for {repo}, expected 1")
    ended = {(i.repo, i.step) for i in invocations(world) if i.phase == "end"}
    missing = sorted({(r, s) for r in REPOS for s in STEPS} - ended)
    if missing:
        problems.append(f"{label}: steps never finished: {missing}")


# -- one trial: kill -9 at a random point, restart, follow ------------------------------------------------
@dataclass
class Trial:
    number: int
    kill_event: int
    kill_after_s: float = float("nan")
    state_at_kill: str = ""
    finished_at_kill: int = 0
    cold_ready_s: float = float("nan")
    ready_s: float = float("nan")
    moving_s: float = float("nan")
    agent_s: float = float("nan")
    first_event: str = ""
    rerun_unfinished: int = 0
    notes: list[str] = field(default_factory=list)


def trial(number: int, root: Path, slack_api: str, kill_event: int, jitter_s: float) -> Trial:
    """Kill the serve `jitter_s` after its run recorded `kill_event` events."""
    world = make_world(root, slack_api)
    result = Trial(number, kill_event)
    port = free_port()
    crashed = Serve.start(world.env, root / "serve-1.log", port)
    reader = Reader(world)
    restarted: Serve | None = None
    try:
        result.cold_ready_s = crashed.wait_ready()
        posted = time.time()
        post_mention(crashed.url, number)
        run_id = reader.only_run()
        deadline = time.monotonic() + WAIT_S
        while len(reader.events(run_id)) < kill_event and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(jitter_s)
        result.kill_after_s = crashed.kill() - posted

        # What the store says was done when the process died (it is dead: nothing more is written).
        seen = max(e.seq for e in reader.events(run_id))
        view = reader.store.view(run_id)
        assert view is not None
        result.state_at_kill = view.run.state.value
        finished = {(s.repo, s.agent) for s in view.steps if s.finished_at is not None and s.state.value == "succeeded"}
        result.finished_at_kill = len(finished)

        restarted = Serve.start(world.env, root / "serve-2.log", port)
        result.ready_s = restarted.wait_ready()
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            new = reader.events(run_id, after=seen)
            if new:
                result.moving_s = new[0].at.timestamp() - restarted.started
                result.first_event = new[0].kind if new[0].kind != "state" else f"state {new[0].data.get('to')}"
                break
            if result.state_at_kill == "awaiting_approval":
                result.notes.append("killed after the run was already waiting: nothing to resume")
                break
            time.sleep(0.01)
        if reader.wait_state(run_id, "awaiting_approval") is None:
            problems.append(f"trial {number}: the resumed run never reached awaiting_approval")
        check_outcome(world, reader, run_id, f"trial {number}")

        calls = invocations(world)
        again = [i for i in calls if i.phase == "start" and i.baton_pid == restarted.process.pid]
        if again:
            result.agent_s = min(i.at for i in again) - restarted.started
        reran = sorted({(i.repo, i.step) for i in again} & finished)
        if reran:
            problems.append(f"trial {number}: finished steps ran again after the restart: {reran}")
        started_before = Counter(
            (i.repo, i.step) for i in calls if i.phase == "start" and i.baton_pid == crashed.process.pid
        )
        result.rerun_unfinished = sum(1 for i in again if (i.repo, i.step) in started_before)
        starts = Counter((i.repo, i.step) for i in calls if i.phase == "start")
        twice = {k: n for k, n in starts.items() if n > 2 or (n > 1 and k in finished)}
        if twice:
            problems.append(f"trial {number}: steps started more often than a crash explains: {twice}")
    finally:
        reader.close()
        crashed.kill()
        if restarted is not None:
            restarted.stop()
    print(
        f"  trial {number:>2}: killed after event {kill_event} + {jitter_s:.2f}s = {result.kill_after_s:.2f}s "
        f"({result.state_at_kill}, {result.finished_at_kill} steps "
        f"finished), ready {result.ready_s:.2f}s, moving {result.moving_s:.2f}s ({result.first_event}), "
        f"agent {result.agent_s:.2f}s, {result.rerun_unfinished} interrupted steps re-run",
        file=sys.stderr,
    )
    return result


# -- main ----------------------------------------------------------------------------------------------------
def figures_for(fresh: Fresh, trials: list[Trial]) -> list[Figure]:
    resumed = [t for t in trials if t.moving_s == t.moving_s]  # not NaN: there was something to resume
    moving = [t.moving_s for t in resumed]
    ready = [t.ready_s for t in trials]
    agent = [t.agent_s for t in resumed if t.agent_s == t.agent_s]
    n = len(trials)
    cold = cold_start(trials)
    figures = [
        Figure(
            f"restart -> run moving again, median of {len(moving)}",
            median(moving) if moving else float("nan"),
            "s",
            cold + fresh.first_event_s,
            f"<= {TARGET_S:g} s",
            "the run's next event in the store after the restart; baseline: a cold start with nothing "
            "to resume (start -> ready) + a new run's first event after its mention",
        ),
        Figure(
            "restart -> run moving again, worst",
            max(moving) if moving else float("nan"),
            "s",
            cold + fresh.first_event_s,
            f"<= {TARGET_S:g} s",
        ),
        Figure(
            f"restart -> /readyz, median of {n}",
            median(ready),
            "s",
            cold,
            note=f"p90 {percentile(ready, 90):.2f} s; baseline: the same serve on a home with nothing to resume",
        ),
        Figure(
            "restart -> first agent started again, median",
            median(agent) if agent else float("nan"),
            "s",
            cold + fresh.first_agent_s,
            note="from the marker files; baseline: cold start -> ready + mention -> first agent",
        ),
        Figure("uninterrupted run: mention -> first event", fresh.first_event_s, "s"),
        Figure("uninterrupted run: mention -> awaiting_approval", fresh.length_s, "s"),
        Figure(
            "finished agent steps at the kill (all trials)",
            sum(t.finished_at_kill for t in trials),
            "steps",
            note="recorded finished in the store when the process died",
        ),
        Figure(
            "finished agent steps that ran again",
            float(sum(1 for p in problems if "finished steps ran again" in p)),
            "trials",
            0,
            "0",
        ),
        Figure(
            "interrupted agent steps re-run (all trials)",
            sum(t.rerun_unfinished for t in trials),
            "steps",
            note="steps that were running at the kill: run again from their start, as designed",
        ),
        Figure(
            "trials resumed within the target",
            sum(1 for m in moving if m <= TARGET_S),
            "trials",
            len(moving),
        ),
    ]
    return figures


def cold_start(trials: list[Trial]) -> float:
    """Median start -> ready of the serves that had nothing to resume (each trial's first)."""
    return median([t.cold_ready_s for t in trials])


def plot(trials: list[Trial]) -> None:
    plt = pyplot()
    xs = [t.number for t in trials]
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.38
    ax.bar([x - width / 2 for x in xs], [t.ready_s for t in trials], width, label="restart -> /readyz")
    ax.bar([x + width / 2 for x in xs], [t.moving_s for t in trials], width, label="restart -> run moving again")
    ax.axhline(TARGET_S, color="red", linestyle="--", label=f"target {TARGET_S:g} s")
    ax.axhline(cold_start(trials), color="grey", linestyle=":", label="cold start -> /readyz (nothing to resume)")
    for t in trials:
        ax.annotate(
            f"{t.kill_after_s:.1f}s",
            (t.number, 0),
            textcoords="offset points",
            xytext=(0, -22),
            ha="center",
            fontsize=7,
            color="dimgrey",
        )
    ax.set(
        xlabel="trial (kill -9 this many seconds after the mention, below)",
        ylabel="seconds",
        title="bench/recovery.py: time to resume after kill -9 of baton serve",
    )
    ax.set_xticks(xs)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, "recovery", "time-to-resume")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 trials instead of 10")
    parser.add_argument("--trials", type=int, default=0, help="how many kill -9 trials (default 10, quick 3)")
    parser.add_argument("--seed", type=int, default=8, help="the RNG seed of the kill points")
    args = parser.parse_args()
    count = args.trials or (3 if args.quick else 10)
    rng = random.Random(args.seed)
    trials: list[Trial] = []
    with tempfile.TemporaryDirectory(prefix="baton-bench-recovery-") as tmp, timed() as whole, slack_stub() as api:
        root = Path(tmp)
        fresh = fresh_run(make_world(root / "fresh", api))
        print(
            f"  uninterrupted: ready {fresh.ready_s:.2f}s, first event {fresh.first_event_s:.2f}s, "
            f"first agent {fresh.first_agent_s:.2f}s, awaiting approval {fresh.length_s:.2f}s",
            file=sys.stderr,
        )
        last = max(fresh.events - 2, 2)  # the last events come as the run starts to wait
        for number in range(1, count + 1):
            kill_event, jitter = rng.randint(1, last), rng.uniform(0, AGENT_SLEEP_S)
            trials.append(trial(number, root / f"trial-{number}", api, kill_event, jitter))
    figures = figures_for(fresh, trials)
    plot(trials)
    return conclude("recovery", figures, whole.s, problems)


if __name__ == "__main__":
    run_benchmark(main)
