"""Engine benchmark: what Baton's orchestration costs next to the floor of doing the same without it.

    .venv/bin/python bench/engine.py [--profile]

(a) Per-step overhead: one repo, a playbook of K sequential no-op script-agent steps (`true`; the
    last one appends to a file so there is a diff and a PR). Overhead per step = (submit →
    awaiting_approval - the agents' own process time) / K, beside the floor: a bare DBOS workflow on
    the same kind of database and configuration whose K steps each spawn `true` (run in a child
    process, because DBOS is a process global). An instrumented run then splits a step into agent, git, store writes,
    the rest of the step body, and the DBOS checkpoint between steps.
(b) Fan-out: 1, 4, 16 and 64 repos whose agent sleeps 1 s, concurrency 16 per run and globally,
    submit → awaiting_approval against the ideal ceil(n/16) x 1 s; the same with 0 s agents gives
    the time that is not the agents' (clones, commits, pushes, PRs, checkpoints).
(c) `baton demo --yes` (a real child process) split into CLI start-up, sandbox creation, agent,
    checks and git time, beside doing the demo by hand: per repo clone, codemod, tests, commit,
    merge, push, one after another.

(a) and (b) run on SQLite files and again on the machine's PostgreSQL (a fresh database each, made
and dropped here; figures tagged [PostgreSQL]); `engine-fanout.png` plots (b) against the ideal.
`--stores sqlite` or `--stores postgres` runs one; `--quick` is a smoke run.

A missed target never fails the benchmark; lost or duplicated work does (exit 1): every run must
reach awaiting_approval (the demo: merged) with exactly one PR per repo.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import itertools
import json
import logging
import math
import os
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import (
    Figure,
    conclude,
    median,
    percentile,
    postgres_database,
    pyplot,
    run_benchmark,
    save_figure,
    timed,
)

K = 20
REPEATS = 3
FANOUT = (1, 4, 16, 64)
CONCURRENCY = 16
SLEEP_S = 1.0
WAIT_S = 120.0
REQUEST = "Benchmark the engine"
problems: list[str] = []
"""Lost or duplicated work found along the way; any makes the benchmark exit 1."""


# -- harness (the approach of tests/e2e/conftest.py: bare remotes, script agents, a real Runtime) ---------
def git_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return env | {
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Bench",
        "GIT_AUTHOR_EMAIL": "bench@localhost",
        "GIT_COMMITTER_NAME": "Bench",
        "GIT_COMMITTER_EMAIL": "bench@localhost",
    }


def git(args: list[str], cwd: Path, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, input=stdin, env=git_env(), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)}: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode().strip()


def make_remote(root: Path, name: str) -> Path:
    """A bare repo whose `main` holds one commit with a README (two git processes)."""
    remote = root / f"{name}.git"
    root.mkdir(parents=True, exist_ok=True)
    git(["init", "--quiet", "--bare", "--initial-branch=main", str(remote)], root)
    readme = f"# {name}\n".encode()
    stream = (
        b"commit refs/heads/main\ncommitter Bench <bench@localhost> 1700000000 +0000\n"
        b"data 15\ninitial commit\n\nM 100644 inline README.md\n"
        b"data %d\n%s\n" % (len(readme), readme)
    )
    git([f"--git-dir={remote}", "fast-import", "--quiet"], root, stdin=stream)
    return remote


# Baton is imported inside functions: the floor's child process must stay a bare DBOS app.
@contextmanager
def runtime_for(home: Path, config: dict[str, Any], database_url: str | None = None) -> Iterator[Any]:
    """A launched Runtime on SQLite files in `home`, or on `database_url` (PostgreSQL)."""
    from bot.app import Runtime
    from bot.config.models import parse_baton_file
    from bot.config.settings import Settings

    settings = Settings(home=home, config=home.parent / "absent.yml", database_url=database_url)
    runtime = Runtime(settings, parse_baton_file(config))
    runtime.launch()
    try:
        yield runtime
    finally:
        try:
            release(runtime)
        finally:
            runtime.shutdown()


def script_agent(name: str, shell: str | None = None, argv: list[str] | None = None) -> dict[str, Any]:
    return {"name": name, "kind": "script", "command": argv or ["sh", "-c", shell or "true"], "timeout_s": 60}


@dataclass
class RunResult:
    run_id: str
    wall_s: float
    agent_s: float
    steps: int
    cpu_cores: float = 0.0
    """Average cores busy (this process and its finished children) from submit to the state."""
    view: Any = field(default=None, repr=False)
    at: dict[str, datetime] = field(default_factory=dict)
    """When the run first entered each state."""


def cpu_seconds() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run_once(runtime: Any, repos: list[str], playbook: str) -> RunResult:
    """Submit a run and wait for awaiting_approval; wall time from submit to that state's event."""
    from bot.domain.models import RunState
    from bot.engine.intake import build_spec
    from handlers.cli import cli_trigger

    spec = build_spec(cli_trigger(REQUEST), runtime.config, repos=repos, playbook=playbook)
    cpu = cpu_seconds()
    started = datetime.now(UTC)
    run_id = runtime.runs.submit(spec)
    want = RunState.awaiting_approval
    deadline = time.monotonic() + WAIT_S
    at: dict[str, datetime] = {}
    seen = 0
    while time.monotonic() < deadline:
        # The state's event, not the run row: the row changes a moment before the event lands.
        for event in runtime.store.events(run_id, after_seq=seen):
            seen = event.seq
            if event.kind == "state":
                at.setdefault(event.data["to"], event.at)
        if want.value in at or any(RunState(state).terminal for state in at):
            break
        time.sleep(0.02)
    cpu = cpu_seconds() - cpu
    view = runtime.store.view(run_id)
    if view is None or want.value not in at:
        state = view.run.state.value if view else "missing"
        error = view.run.error if view else ""
        problems.append(f"run {run_id} ({playbook}, {len(repos)} repos) ended {state}: {error}")
        return RunResult(run_id, float("nan"), 0.0, 0, view=view)
    wall = (at[want.value] - started).total_seconds()
    agent_s = sum(s.usage.agent_seconds for s in view.steps)
    steps = sum(1 for s in view.steps if s.agent)
    check_one_pr_per_repo(runtime.settings.home / "forge", view, repos)
    return RunResult(run_id, wall, agent_s, steps, cpu / wall, view, at)


def check_one_pr_per_repo(forge_dir: Path, view: Any, repos: list[str]) -> None:
    """Exactly one PR per repo for this run, in the store and in the forge's own records."""
    run_id = view.run.run_id
    in_store = sorted(c.repo for c in view.changes)
    if in_store != sorted(repos):
        problems.append(f"run {run_id}: store has PRs for {in_store}, expected one each for {sorted(repos)}")
    for repo in repos:
        records = [json.loads(p.read_text()) for p in (forge_dir / repo).glob("*.json")]
        mine = [r for r in records if r["change"]["run_id"] == run_id]
        if len(mine) != 1:
            problems.append(f"run {run_id}: forge holds {len(mine)} PRs for {repo}, expected 1")


def release(runtime: Any) -> None:
    """Reject every run left waiting for approval and wait for them to end.

    A run blocked in its durable approval wait keeps a DBOS executor thread alive past
    `Runtime.shutdown()`, and the process could not exit until the approval expired.
    """
    from bot.domain.models import Decision, RunState
    from handlers.cli import operator

    waiting = runtime.store.list_runs(limit=10_000, state=RunState.awaiting_approval)
    run_ids = [r.run_id for r in waiting]
    for run_id in run_ids:
        runtime.runs.decide(run_id, operator(), Decision.reject, "benchmark done")
    deadline = time.monotonic() + WAIT_S
    for run_id in run_ids:
        while time.monotonic() < deadline:
            run = runtime.store.get_run(run_id)
            if run is None or run.state.terminal:
                break
            time.sleep(0.02)
    # The workflow writes its last checkpoint after the state it reports; let it land.
    time.sleep(0.2)


# -- (a) per-step overhead -------------------------------------------------------------------------------
@dataclass
class Probe:
    """Time and calls of git processes and SQL statements, split by whether an agent step ran them."""

    git_s: dict[bool, float] = field(default_factory=lambda: {True: 0.0, False: 0.0})
    git_n: dict[bool, int] = field(default_factory=lambda: {True: 0, False: 0})
    sql_s: dict[str, float] = field(default_factory=lambda: {"store": 0.0, "dbos": 0.0})
    sql_n: dict[str, int] = field(default_factory=lambda: {"store": 0, "dbos": 0})
    commits: dict[str, int] = field(default_factory=lambda: {"store": 0, "dbos": 0})
    git_commands: Counter[str] = field(default_factory=Counter)
    local: threading.local = field(default_factory=threading.local)
    profile: cProfile.Profile | None = None

    def in_step(self) -> bool:
        return bool(getattr(self.local, "in_step", False))


@contextmanager
def probing(runtime: Any, profile: bool) -> Iterator[Probe]:
    """Wrap git, both databases and the agent step (instrumentation only: bot/ is not changed)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    import bot.engine.activities as activities
    import bot.scm.git as gitmod
    import bot.scm.local as local
    import bot.scm.workspace as workspace

    probe = Probe(profile=cProfile.Profile() if profile else None)
    real_git, real_invoke = gitmod.git_result, activities.invoke_agent

    @functools.wraps(real_git)
    def git_result(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real_git(*args, **kwargs)
        finally:
            probe.git_s[probe.in_step()] += time.perf_counter() - started
            probe.git_n[probe.in_step()] += 1
            if probe.in_step():
                probe.git_commands[subcommand(args[0])] += 1

    @functools.wraps(real_invoke)
    def invoke_agent(*args: Any, **kwargs: Any) -> Any:
        probe.local.in_step = True
        if probe.profile:
            probe.profile.enable()
        try:
            return real_invoke(*args, **kwargs)
        finally:
            if probe.profile:
                probe.profile.disable()
            probe.local.in_step = False

    # Every SQLAlchemy engine in the process is listened to (DBOS's own through the Engine class, not
    # DBOS's private attributes); a connection's database says whose it is.
    store_db = runtime.db.url.database

    def whose(conn: Any) -> str | None:
        database = conn.engine.url.database
        return "store" if database == store_db else ("dbos" if database else None)

    listeners: list[tuple[Any, str, Callable[..., None]]] = []

    def before(conn: Any, *_: Any) -> None:
        conn.info.setdefault("bench_t", []).append(time.perf_counter())

    def after(conn: Any, *_: Any) -> None:
        pending = conn.info.get("bench_t")
        _name = whose(conn)
        if not pending or _name is None:  # began before the listener was added
            return
        began = pending.pop()
        if probe.in_step() or _name == "dbos":
            probe.sql_s[_name] += time.perf_counter() - began
            probe.sql_n[_name] += 1

    def commit(conn: Any) -> None:
        _name = whose(conn)
        if _name is not None and (probe.in_step() or _name == "dbos"):
            probe.commits[_name] += 1

    for kind, fn in (
        ("before_cursor_execute", before),
        ("after_cursor_execute", after),
        ("commit", commit),
    ):
        event.listen(Engine, kind, fn)
        listeners.append((Engine, kind, fn))

    patched = [(gitmod, "git_result"), (workspace, "git_result"), (local, "git_result")]
    for module, attr in patched:
        setattr(module, attr, git_result)
    activities.invoke_agent = invoke_agent
    try:
        yield probe
    finally:
        for module, attr in patched:
            setattr(module, attr, real_git)
        activities.invoke_agent = real_invoke
        for engine, kind, fn in listeners:
            event.remove(engine, kind, fn)


def subcommand(args: list[str]) -> str:
    """`commit` for `git -c commit.gpgsign=false commit ...`."""
    rest = iter(args)
    for arg in rest:
        if arg in ("-c", "--git-dir", "--work-tree", "-C"):
            next(rest, None)
        elif not arg.startswith("-"):
            return arg
    return "?"


def dbos_steps(run_id: str, repo: str) -> list[dict[str, Any]]:
    from dbos import DBOS

    from bot.engine.runs import repo_workflow_id

    steps = DBOS.list_workflow_steps(repo_workflow_id(run_id, 1, repo), load_output=False)
    return [dict(s) for s in steps]


def bench_steps(root: Path, profile: bool, database_url: str | None, floor_url: str | None) -> list[Figure]:
    """Per-step overhead on SQLite (`database_url` None) or PostgreSQL; the floor on the same kind
    of database (`floor_url`: a database of its own on the same server)."""
    remote = make_remote(root / "remotes", "steps")
    noop, touch = {"agent": "noop"}, {"agent": "touch"}
    config = {
        "repos": [{"name": "steps", "url": str(remote)}],
        "routing": {"default_agent": "touch"},
        "agents": [script_agent("noop", argv=["true"]), script_agent("touch", "echo step >> bench.txt")],
        "playbooks": {
            "one": {"per_repo": {"sequential": [touch]}},
            "steps": {"per_repo": {"sequential": [noop] * (K - 1) + [touch]}},
            "commits": {"per_repo": {"sequential": [touch] * K}},
        },
    }
    runs: dict[str, list[RunResult]] = {"one": [], "steps": [], "commits": []}
    with runtime_for(root / ".baton", config, database_url) as runtime:
        run_once(runtime, ["steps"], "one")  # warm-up: first launch, first clone, imports
        for _ in range(REPEATS):
            for book in ("steps", "one"):
                runs[book].append(run_once(runtime, ["steps"], book))
        runs["commits"].append(run_once(runtime, ["steps"], "commits"))
        with probing(runtime, profile) as probe:
            probed = run_once(runtime, ["steps"], "steps")
        timeline = dbos_steps(probed.run_id, "steps")
    for book, expected in (("one", 1), ("steps", K), ("commits", K)):
        for r in runs[book]:
            if r.steps != expected and not math.isnan(r.wall_s):
                problems.append(f"run {r.run_id}: {r.steps} agent steps, expected {expected}")

    floor = run_floor(root / "floor", floor_url)
    store = store_name(database_url)
    samples = [(r.wall_s - r.agent_s) / K * 1000 for r in runs["steps"]]
    per_step = median(samples) / 1000
    one = median([r.wall_s - r.agent_s for r in runs["one"]])
    marginal = (per_step * K - one) / (K - 1)
    commits = median([(r.wall_s - r.agent_s) / K for r in runs["commits"]])
    floor_step = (floor["wall_s"] - floor["process_s"]) / K
    agent_per_step = median([r.agent_s / K for r in runs["steps"]])

    figures = [
        Figure(
            f"(a) engine overhead per step, K={K} no-op steps",
            per_step * 1000,
            "ms",
            floor_step * 1000,
            "<= 15 ms and <= 5x floor",
            f"(submit -> awaiting_approval - agent time) / K, median of {REPEATS} runs "
            f"({min(samples):.0f}-{max(samples):.0f} ms); baseline = bare DBOS workflow, same {store} "
            "config, K steps each spawning `true`",
        ),
        Figure(
            "(a) marginal cost of one more step",
            marginal * 1000,
            "ms",
            floor_step * 1000,
            note=f"(overhead K={K} - overhead K=1) / {K - 1}: the fixed run cost taken out",
        ),
        Figure(
            "(a) whole-run overhead at K=1",
            one * 1000,
            "ms",
            note="plan, clone, one step, push, PR, checks, state changes",
        ),
        Figure(
            f"(a) overhead per step when every step commits (K={K})",
            commits * 1000,
            "ms",
            floor_step * 1000,
        ),
        Figure(
            "(a) agent process time per step (`true`)",
            agent_per_step * 1000,
            "ms",
            floor["process_s"] / K * 1000,
        ),
        Figure("(a) floor: bare DBOS step, no process", floor["pure_step_s"] * 1000, "ms"),
    ]
    return labelled(figures + step_breakdown(probed, probe, timeline), database_url)


def step_breakdown(run: RunResult, probe: Probe, timeline: list[dict[str, Any]]) -> list[Figure]:
    """Where an agent step's time goes, from the instrumented run (per step, milliseconds)."""
    agent_steps = [s for s in timeline if s["function_name"].endswith("agent_step")]
    spans = [(s["started_at_epoch_ms"] or 0, s["completed_at_epoch_ms"] or 0) for s in agent_steps]
    n = len(spans) or 1
    inside = sum(end - start for start, end in spans) / n
    gaps = [b[0] - a[1] for a, b in itertools.pairwise(spans)]
    gap = median(gaps) if gaps else float("nan")
    agent = run.agent_s / n * 1000
    git_ms = probe.git_s[True] / n * 1000
    sql_ms = probe.sql_s["store"] / n * 1000
    rest = inside - agent - git_ms - sql_ms
    if probe.profile and probe.profile.getstats():
        print_profile(probe.profile)
    dbos_note = ""
    if probe.sql_n["dbos"]:
        dbos_note = (
            f"; DBOS issued {probe.sql_n['dbos'] / n:.1f} statements and {probe.commits['dbos'] / n:.1f} "
            f"commits per step ({probe.sql_s['dbos'] / n * 1000:.1f} ms) over the whole run, polling included"
        )
    return [
        Figure(
            "(a) profile: agent step, start to end",
            inside,
            "ms",
            note="DBOS step timestamps, instrumented run",
        ),
        Figure("(a) profile:   agent process", agent, "ms"),
        Figure(
            "(a) profile:   git inside the step",
            git_ms,
            "ms",
            note=f"{probe.git_n[True] / n:.1f} git processes per step: "
            + ", ".join(f"{cmd} {count / n:g}" for cmd, count in probe.git_commands.most_common()),
        ),
        Figure(
            "(a) profile:   store SQL inside the step",
            sql_ms,
            "ms",
            note=f"{probe.sql_n['store'] / n:.1f} statements, {probe.commits['store'] / n:.1f} commits per step",
        ),
        Figure("(a) profile:   rest of the step body (Python)", rest, "ms"),
        Figure(
            "(a) profile: between steps (DBOS checkpoint + workflow code)",
            gap,
            "ms",
            note="median gap from one agent step's end to the next one's start" + dbos_note,
        ),
    ]


def print_profile(profile: cProfile.Profile) -> None:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("cumulative").print_stats(25)
    print("\ncProfile of the agent step bodies (instrumented run), by cumulative time:")
    print("\n".join(out.getvalue().splitlines()[:45]))


def store_name(database_url: str | None) -> str:
    return "PostgreSQL" if database_url else "SQLite"


def labelled(figures: list[Figure], database_url: str | None) -> list[Figure]:
    """SQLite figures keep their names; PostgreSQL ones say so after their section's tag."""
    if database_url is None:
        return figures
    for f in figures:
        f.name = re.sub(r"^(\(\w\))", r"\1 [PostgreSQL]", f.name)
    return figures


def run_floor(home: Path, database_url: str | None = None) -> dict[str, float]:
    """The floor, in a child process: DBOS is a process global and the Runtime has had it."""
    home.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, __file__, "--floor", str(home)] + (["--floor-db", database_url] if database_url else [])
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"floor benchmark failed: {done.stderr[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def floor_main(home: Path, database_url: str | None) -> None:
    """A bare DBOS workflow, configured as `Runtime.launch` configures Baton's, with K steps, on
    SQLite in `home` or on `database_url`."""
    from dbos import DBOS, DBOSConfig

    from bot.config.settings import Settings

    @DBOS.step()
    def spawn_step() -> float:
        started = time.perf_counter()
        subprocess.run(["true"], check=True)
        return time.perf_counter() - started

    @DBOS.step()
    def empty_step() -> float:
        return 0.0

    @DBOS.workflow()
    def floor_workflow(k: int, spawn: bool) -> tuple[float, float]:
        spent = sum(spawn_step() if spawn else empty_step() for _ in range(k))
        return time.time(), spent

    settings = Settings(home=home)
    config: DBOSConfig = {
        "name": "baton",
        "system_database_url": database_url or f"sqlite:///{(home / 'dbos.db').resolve()}",
        "application_version": "bench-floor",
        "executor_id": "bench-floor",
        "max_executor_threads": settings.executor_threads,
        "notification_listener_polling_interval_sec": settings.notification_polling_s,
        "log_level": "WARNING",
    }
    DBOS(config=config)
    DBOS.launch()

    def measure(spawn: bool) -> tuple[float, float]:
        started = time.time()
        ended, spent = DBOS.start_workflow(floor_workflow, K, spawn).get_result(polling_interval_sec=0.02)
        return ended - started, spent

    measure(True)  # warm-up
    walls = [measure(True) for _ in range(REPEATS)]
    pure = median([measure(False)[0] for _ in range(REPEATS)]) / K
    wall, spent = sorted(walls, key=lambda w: w[0] - w[1])[len(walls) // 2]
    DBOS.destroy()
    print(json.dumps({"wall_s": wall, "process_s": spent, "pure_step_s": pure}))


# -- (b) fan-out -------------------------------------------------------------------------------------------
@dataclass
class Fanout:
    """Submit -> awaiting_approval per repo count: with 1 s agents, with 0 s agents, and the ideal."""

    slept: dict[int, float] = field(default_factory=dict)
    bare: dict[int, float] = field(default_factory=dict)
    ideal: dict[int, float] = field(default_factory=dict)


def bench_fanout(root: Path, database_url: str | None, curves: dict[str, Fanout]) -> list[Figure]:
    """Fan-out on SQLite (`database_url` None) or PostgreSQL; its wall times go into `curves`."""
    curve = curves.setdefault(store_name(database_url), Fanout())
    names = [f"r{i:02d}" for i in range(max(FANOUT))]
    remotes = {n: make_remote(root / "remotes", n) for n in names}
    config = {
        "repos": [{"name": n, "url": str(p)} for n, p in remotes.items()],
        "routing": {"default_agent": "sleep0"},
        "agents": [
            script_agent("sleep1", f"sleep {SLEEP_S:g}; echo x >> fanout.txt"),
            script_agent("sleep0", "echo x >> fanout.txt"),
        ],
        "playbooks": {
            "sleep1": {"per_repo": {"agent": "sleep1"}},
            "sleep0": {"per_repo": {"agent": "sleep0"}},
        },
        "concurrency": {"per_run": CONCURRENCY, "global": CONCURRENCY},
    }
    figures: list[Figure] = []
    with runtime_for(root / ".baton", config, database_url) as runtime:
        run_once(runtime, names[:1], "sleep0")  # warm-up
        for n in FANOUT:
            slept = run_once(runtime, names[:n], "sleep1")
            bare = run_once(runtime, names[:n], "sleep0")
            ideal = math.ceil(n / CONCURRENCY) * SLEEP_S
            curve.slept[n], curve.bare[n], curve.ideal[n] = slept.wall_s, bare.wall_s, ideal
            figures += [
                Figure(
                    f"(b) fan-out {n:>2} repos, 1 s agents: submit -> awaiting",
                    slept.wall_s,
                    "s",
                    ideal,
                    "<= 1.2x ideal" if n == CONCURRENCY else "",
                    f"ideal = ceil(n/{CONCURRENCY}) x {SLEEP_S:g} s; "
                    f"{slept.cpu_cores:.2f} of {os.cpu_count()} cores busy on average",
                ),
                Figure(f"(b) fan-out {n:>2} repos: efficiency (ideal/actual)", ideal / slept.wall_s, "ratio"),
                Figure(
                    f"(b) fan-out {n:>2} repos, 0 s agents: non-agent time",
                    bare.wall_s,
                    "s",
                    note=f"{bare.cpu_cores:.2f} cores busy",
                ),
            ]
        figures += fanout_phases(slept)
        per_repo = bare.cpu_cores * bare.wall_s / max(FANOUT)
        cores = os.cpu_count() or 1
        figures.append(
            Figure(
                f"(b) CPU per repo (0 s agents, {max(FANOUT)} repos)",
                per_repo,
                "s",
                note=f"core-seconds of this process and its git/agent children; {CONCURRENCY} repos "
                f"cannot finish faster than {CONCURRENCY * per_repo / cores:.1f} s + the agents "
                f"on {cores} cores",
            )
        )
    return labelled(figures, database_url)


def plot_steps(figures: list[Figure]) -> None:
    """engine-steps.png: per-step overhead and the marginal step against the DBOS floor, per store."""
    rows = [
        ("overhead per step", f"engine overhead per step, K={K}"),
        ("one more step", "marginal cost of one more step"),
    ]
    stores = {"SQLite": "(a) ", "PostgreSQL": "(a) [PostgreSQL] "}
    found = {
        (store, label): f
        for store, tag in stores.items()
        for label, name in rows
        for f in figures
        if f.name.startswith(tag + name)
    }
    if not found:
        return
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    width, x = 0.25, 0
    ticks: list[tuple[float, str]] = []
    for store in stores:
        for label, _ in rows:
            f = found.get((store, label))
            if f is None:
                continue
            ax.bar(x - width / 2, f.value, width, color="tab:blue", label="Baton" if x == 0 else None)
            ax.bar(x + width / 2, f.baseline or 0, width, color="tab:gray", label="bare DBOS step" if x == 0 else None)
            ticks.append((x, f"{store}\n{label}"))
            x += 1
    ax.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=8)
    ax.set_ylabel("ms per step (agent process time taken out)")
    ax.set_title(f"Per-step overhead, {K} no-op steps, against the DBOS floor")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, "engine", "steps")


def plot_fanout(curves: dict[str, Fanout]) -> None:
    """engine-fanout.png: wall time against the ideal, per store, by repo count."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    some = next(iter(curves.values()), None)
    if some is None:
        return
    ns = sorted(some.ideal)
    ax.plot(ns, [some.ideal[n] for n in ns], "kx:", label=f"ideal: ceil(n/{CONCURRENCY}) x {SLEEP_S:g} s")
    for (store, curve), color in zip(curves.items(), ("tab:blue", "tab:orange"), strict=False):
        xs = sorted(curve.slept)
        ax.plot(xs, [curve.slept[n] for n in xs], "o-", color=color, label=f"{store}: 1 s agents")
        ax.plot(xs, [curve.bare[n] for n in xs], "s--", color=color, alpha=0.6, label=f"{store}: 0 s agents")
    ax.set_xscale("log", base=2)
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel(f"repos in the run (concurrency {CONCURRENCY})")
    ax.set_ylabel("submit -> awaiting approval (s)")
    ax.set_title("Fan-out wall time against ideal")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, "engine", "fanout")


def fanout_phases(run: RunResult) -> list[Figure]:
    """Where the largest fan-out's time went, from the DBOS step records of its workflows."""
    from dbos import DBOS

    from bot.engine.runs import workflow_id

    steps = DBOS.list_workflow_steps(workflow_id(run.run_id, 1), load_output=False)
    children = [s for s in steps if s["function_name"].endswith("repo_workflow") and s["child_workflow_id"]]
    results = [s for s in steps if s["function_name"] == "DBOS.getResult"]
    if not children or not results or "awaiting_approval" not in run.at:
        return []
    n = len(children)
    awaiting = run.at["awaiting_approval"].timestamp()
    submitted = awaiting - run.wall_s
    first = min(s["started_at_epoch_ms"] or 0 for s in children) / 1000
    last = max(s["completed_at_epoch_ms"] or 0 for s in results) / 1000
    spans = []
    for child in children:
        inner = DBOS.list_workflow_steps(child["child_workflow_id"] or "", load_output=False)
        if inner:
            begun = min(s["started_at_epoch_ms"] or 0 for s in inner)
            spans.append((max(s["completed_at_epoch_ms"] or 0 for s in inner) - begun) / 1000)
    return [
        Figure(f"(b) {n} repos: submit -> first repo enqueued", first - submitted, "s"),
        Figure(
            f"(b) {n} repos: first repo enqueued -> last repo result",
            last - first,
            "s",
            math.ceil(n / CONCURRENCY) * SLEEP_S,
            note="the fan-out proper: per repo prepare, agent, push, PR and its checks",
        ),
        Figure(f"(b) {n} repos: last repo result -> awaiting_approval", awaiting - last, "s"),
        Figure(
            f"(b) {n} repos: one repo workflow, median",
            median(spans),
            "s",
            SLEEP_S,
            note=f"p90 {percentile(spans, 90):.2f} s; {CONCURRENCY} run at once on {os.cpu_count()} cores",
        ),
    ]


# -- (c) the demo --------------------------------------------------------------------------------------------
def demo_child(out: Path, directory: Path) -> None:
    """`baton demo --yes --dir DIR` in this process, timing git, checks and the sandbox on the way."""
    started = time.perf_counter()
    from bot.cli.main import app

    imported = time.perf_counter() - started
    import bot.demo
    import bot.engine.activities as activities
    import bot.scm.git as gitmod
    import bot.scm.local as local
    import bot.scm.workspace as workspace

    spent = {"git": 0.0, "checks": 0.0, "sandbox": 0.0}
    lock = threading.Lock()

    def timing(key: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            begun = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with lock:
                    spent[key] += time.perf_counter() - begun
                    spent[f"{key}_n"] = spent.get(f"{key}_n", 0) + 1

        return wrapper

    git_result = timing("git", gitmod.git_result)
    for module in (gitmod, workspace, local):
        module.git_result = git_result
    activities.run_process = timing("checks", activities.run_process)
    local.LocalForge._run_command = timing("checks", local.LocalForge._run_command)
    bot.demo.create_sandbox = timing("sandbox", bot.demo.create_sandbox)
    code: object = 0
    try:  # the typer app behind `baton`: `bot.cli.main.main` ends the process with os._exit
        app(["demo", "--yes", "--dir", str(directory)], prog_name="baton")
    except SystemExit as exit_:
        code = exit_.code
    finally:
        out.write_text(json.dumps({**spent, "import": imported, "exit": code}))


def bench_demo(root: Path) -> list[Figure]:
    from bot.domain.models import ChangeState, RunState
    from bot.store.store import Store, make_engine

    directory, report = root / "demo", root / "demo-timings.json"
    with timed() as total:
        child = subprocess.run(
            [sys.executable, __file__, "--demo-child", str(report), str(directory)],
            capture_output=True,
            text=True,
            timeout=180,
        )
    spent = json.loads(report.read_text()) if report.exists() else {"exit": "no timings written"}
    if child.returncode != 0 or spent.get("exit") not in (0, None):
        problems.append(f"baton demo exited {child.returncode}: {(child.stdout + child.stderr)[-1500:]}")
        return []
    engine = make_engine(f"sqlite:///{(directory / '.baton' / 'baton.db').resolve()}")
    store = Store(engine)
    runs = store.list_runs()
    view = store.view(runs[0].run_id) if len(runs) == 1 else None
    if view is None or view.run.state is not RunState.merged:
        problems.append(f"baton demo: expected one merged run, found {[r.state.value for r in runs]}")
        engine.dispose()
        return []
    repos = sorted(view.run.spec.repos)
    merged = sorted(c.repo for c in view.changes if c.state is ChangeState.merged)
    if merged != repos or len(view.changes) != len(repos):
        problems.append(f"baton demo: PRs {[(c.repo, c.state.value) for c in view.changes]} for {repos}")
    events = store.events(view.run.run_id)
    engine.dispose()
    created = next(e.at for e in events if e.kind == "run_created")
    ended = next(e.at for e in events if e.kind == "state" and e.data.get("to") == "merged")
    in_run = (ended - created).total_seconds()
    agent = sum(s.usage.agent_seconds for s in view.steps)

    hand = by_hand(root / "by-hand")
    rest = total.s - agent - spent["checks"]
    return [
        Figure(
            f"(c) `baton demo --yes`, {len(repos)} repos: wall",
            total.s,
            "s",
            hand["total"],
            note="child process, start to exit",
        ),
        Figure("(c)   CLI start-up (imports)", spent["import"], "s"),
        Figure("(c)   sandbox creation", spent["sandbox"], "s"),
        Figure(
            "(c)   run: submit -> merged",
            in_run,
            "s",
            hand["total"],
            note="the by-hand loop does the same work",
        ),
        Figure("(c)   agent time (codemods)", agent, "s", hand["agent"]),
        Figure(
            "(c)   checks time (unit tests)",
            spent["checks"],
            "s",
            hand["checks"],
            note=f"{spent.get('checks_n', 0):.0f} test runs vs {len(repos)} by hand: the playbook's "
            "verify runs them in the workspace, then again on each PR",
        ),
        Figure(
            "(c)   git time (all git processes)",
            spent["git"],
            "s",
            hand["git"],
            note=f"{spent.get('git_n', 0):.0f} git processes vs {hand['git_n']:.0f} by hand; "
            "summed over repos that run concurrently",
        ),
        Figure(
            "(c)   Baton + git (wall - agent - checks)",
            rest,
            "s",
            hand["total"] - hand["agent"] - hand["checks"],
        ),
    ]


def by_hand(root: Path) -> dict[str, float]:
    """The demo without Baton: per repo, one after another, clone → codemod → tests → commit → merge."""
    from bot.demo import create_sandbox
    from bot.demo.sandbox import checks_command

    sandbox = create_sandbox(root)
    spent = {"git": 0.0, "agent": 0.0, "checks": 0.0, "git_n": 0.0}

    def step(kind: str, argv: list[str], cwd: Path) -> None:
        begun = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, env=git_env(), capture_output=True)
        spent[kind] += time.perf_counter() - begun
        spent["git_n"] += kind == "git"
        if done.returncode != 0:
            problems.append(f"by hand: {' '.join(argv)} failed: {done.stdout[-500:]!r} {done.stderr[-500:]!r}")

    with timed() as total:
        for name, remote in sandbox.remotes.items():
            work = root / "work" / name
            step("git", ["git", "clone", "--quiet", str(remote), str(work)], root)
            step("git", ["git", "checkout", "--quiet", "-b", "rename"], work)
            step("agent", [sys.executable, str(sandbox.codemod), sandbox.old_path, sandbox.new_path], work)
            step("checks", ["sh", "-c", checks_command()], work)
            step("git", ["git", "add", "-A"], work)
            step("git", ["git", "commit", "--quiet", "-m", "Rename the endpoint"], work)
            step("git", ["git", "checkout", "--quiet", "main"], work)
            step("git", ["git", "merge", "--quiet", "--no-ff", "-m", "Merge rename", "rename"], work)
            step("git", ["git", "push", "--quiet", "origin", "main"], work)
    return spent | {"total": total.s}


def steps_on_postgres(root: Path, profile: bool) -> list[Figure]:
    with postgres_database("steps") as url, postgres_database("floor") as floor_url:
        return bench_steps(root, profile, url, floor_url)


def fanout_on_postgres(root: Path, curves: dict[str, Fanout]) -> list[Figure]:
    with postgres_database("fanout") as url:
        return bench_fanout(root, url, curves)


# -- main ---------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the agent steps")
    parser.add_argument("--stores", default="sqlite,postgres", help="comma-separated: sqlite, postgres (default: both)")
    parser.add_argument("--quick", action="store_true", help="2 repeats, fan-out to 16 repos, no demo (a smoke run)")
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--floor-db", help=argparse.SUPPRESS)
    parser.add_argument("--demo-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    from bot.observability.logging import configure

    if args.floor:
        floor_main(args.floor, args.floor_db)
        return 0
    if args.demo_child:
        demo_child(*args.demo_child)
        return 0

    global REPEATS, FANOUT
    if args.quick:
        REPEATS, FANOUT = 2, (1, 4, 16)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if not set(stores) <= {"sqlite", "postgres"}:
        parser.error(f"--stores: unknown store in {args.stores!r}")
    figures: list[Figure] = []
    curves: dict[str, Fanout] = {}
    with tempfile.TemporaryDirectory(prefix="baton-bench-") as tmp, timed() as whole:
        root = Path(tmp)
        configure("json", level=logging.INFO, log_file=root / "baton.log")  # as `baton run` logs
        sections: list[tuple[str, Callable[[], list[Figure]]]] = []
        if "sqlite" in stores:
            sections.append(
                ("(a) per-step overhead, SQLite", lambda: bench_steps(root / "steps", args.profile, None, None))
            )
        if "postgres" in stores:
            sections.append(
                ("(a) per-step overhead, PostgreSQL", lambda: steps_on_postgres(root / "pg-steps", args.profile))
            )
        if "sqlite" in stores:
            sections.append(("(b) fan-out, SQLite", lambda: bench_fanout(root / "fanout", None, curves)))
        if "postgres" in stores:
            sections.append(("(b) fan-out, PostgreSQL", lambda: fanout_on_postgres(root / "pg-fanout", curves)))
        if not args.quick:
            sections.append(("(c) baton demo", lambda: bench_demo(root / "demo")))
        for title, section in sections:
            with timed() as took:
                figures += section()
            print(f"{title}: measured in {took.s:.1f}s", file=sys.stderr)
        plot_fanout(curves)
        plot_steps(figures)
    return conclude("engine", figures, whole.s, problems)


if __name__ == "__main__":
    run_benchmark(main)
