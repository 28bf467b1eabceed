"""The idle pace section of bench/idle.py: what an idle `baton serve` burns on SQLite and on
PostgreSQL with the queue pace on and off (bot/engine/pace.py), beside a bare DBOS app with one
queue at DBOS's default polling measured in the same run, and what the pace costs the first step of
a new run: trigger -> the first agent step's `step_started` event.

Two trigger paths: in the executing process (as a webhook received by `serve` on SQLite submits
it: a launched Runtime child that idles, then submits) and from another process (a client of the
store and of DBOS's database, as `baton` commands and `serve` on PostgreSQL hand runs to workers).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _common import Figure, median, postgres_database
from _serve import Serve, baton_env, free_port

IDLE_AFTER_S = 10.0
"""`BATON_QUEUE_IDLE_AFTER_S`'s default: the serve settles this long (plus a heartbeat) before the window."""
PACED_S = "2.0"
"""The idle interval measured with the pace on (the SQLite default, set explicitly on PostgreSQL)."""


@dataclass
class PaceMode:
    window_s: float
    probes: int


PACE_FULL = PaceMode(window_s=20, probes=3)
PACE_QUICK = PaceMode(window_s=6, probes=1)


def bare_dbos_child(url: str, window_s: float, out: Path) -> None:
    """In a child process: a DBOS app with one queue at DBOS's default polling, its CPU while idle."""
    from dbos import DBOS, DBOSClient

    DBOS.migrate(url)
    client = DBOSClient(system_database_url=url, application_name="bare")
    client.register_queue("bare-queue")
    client.destroy()
    DBOS(config={"name": "bare", "system_database_url": url, "log_level": "WARNING", "run_migrations": False})
    DBOS.launch()
    time.sleep(3)
    usage, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    time.sleep(window_s)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    out.write_text(json.dumps({"cpu_pct": cpu / (time.monotonic() - wall) * 100}))
    sys.stdout.flush()
    os._exit(0)


def bare_dbos_cpu(root: Path, url: str | None, window_s: float) -> float:
    out = root / f"bare-{time.monotonic_ns()}.json"
    url = url or f"sqlite:///{root / f'bare-{time.monotonic_ns()}.sqlite'}"
    bench = Path(__file__).parent / "idle.py"
    subprocess.run([sys.executable, str(bench), "--bare-dbos", url, str(window_s), str(out)], timeout=300, check=False)
    return float(json.loads(out.read_text())["cpu_pct"]) if out.exists() else float("nan")


def first_step_seconds(runtime: Any, submitted: float, run_id: str, wait_s: float = 30) -> float:
    """From `submitted` (time.time()) to the run's first `step_started` event (NaN: none in time)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        for event in runtime.store.events(run_id):
            if event.kind == "step_started":
                return event.at.timestamp() - submitted
        time.sleep(0.01)
    return float("nan")


def submit_probe(runtime: Any, n: int) -> tuple[str, float]:
    from bot.engine.intake import build_spec
    from handlers.cli import cli_trigger

    spec = build_spec(cli_trigger(f"Pace probe #{n}: touch a file"), runtime.config, repos=["svc"])
    submitted = datetime.now(UTC).timestamp()
    return runtime.runs.submit(spec), submitted


def cancel_probe(runtime: Any, run_id: str) -> None:
    from handlers.cli import operator

    runtime.runs.cancel(run_id, operator())


def client_probe(env: dict[str, str], probes: int, gap_s: float) -> list[float]:
    """Runs submitted from this (another) process, each after `gap_s` of quiet: their first steps."""
    from bot.app import Runtime
    from bot.config.settings import Settings

    settings = Settings(
        home=Path(env["BATON_HOME"]), config=Path(env["BATON_CONFIG"]), database_url=env.get("BATON_DATABASE_URL")
    )
    runtime = Runtime(settings)
    seconds = []
    try:
        for n in range(probes):
            run_id, submitted = submit_probe(runtime, n)
            seconds.append(first_step_seconds(runtime, submitted, run_id))
            cancel_probe(runtime, run_id)
            if n < probes - 1:
                time.sleep(gap_s)
    finally:
        runtime.shutdown()
    return seconds


def in_process_child(out: Path, window_s: float, probes: int) -> None:
    """In a child process on the bench's SQLite home: a launched Runtime with its surface hub, as
    `baton serve` executes; it idles past the pace's delay, then submits runs itself (as serve's
    webhook handlers do) and times each to its first step."""
    from bot.app import Runtime
    from bot.config.settings import Settings
    from bot.observability.logging import configure

    settings = Settings()
    configure("json", log_file=settings.home / "pace-child.log")
    runtime = Runtime(settings.model_copy(update={"park_waits": True}))
    runtime.launch()
    runtime.hub.start()
    seconds = []
    try:
        for n in range(probes):
            time.sleep(IDLE_AFTER_S + 2 + window_s / 4)
            run_id, submitted = submit_probe(runtime, 100 + n)
            seconds.append(first_step_seconds(runtime, submitted, run_id))
            cancel_probe(runtime, run_id)
    finally:
        out.write_text(json.dumps({"seconds": seconds}))
        sys.stdout.flush()
        os._exit(0)


def in_process_first_steps(env: dict[str, str], root: Path, window_s: float, probes: int, idle_s: str) -> list[float]:
    out = root / f"inproc-{idle_s}.json"
    bench = Path(__file__).parent / "idle.py"
    subprocess.run(
        [sys.executable, str(bench), "--pace-child", str(out), str(window_s), str(probes)],
        env=env | {"BATON_QUEUE_IDLE_POLLING_S": idle_s},
        timeout=600,
        check=False,
    )
    return list(json.loads(out.read_text())["seconds"]) if out.exists() else [float("nan")]


def serve_and_probe(env: dict[str, str], log: Path, mode: PaceMode, pg: bool) -> tuple[float, list[float]]:
    """Idle CPU of a serve, then (same serve, quiet again past the delay) runs from another process."""
    port = free_port()
    argv = [sys.executable, "-m", "bot", "serve", "--execute", "--port", str(port)] if pg else None
    serve = Serve.start(env, log, port, argv)
    try:
        serve.wait_ready()
        proc = serve.psutil()
        time.sleep(IDLE_AFTER_S + 3)
        cpu0, wall0 = sum(proc.cpu_times()[:2]), time.monotonic()
        time.sleep(mode.window_s)
        cpu = (sum(proc.cpu_times()[:2]) - cpu0) / (time.monotonic() - wall0) * 100
        first = client_probe(env, mode.probes, IDLE_AFTER_S + 3)
        return cpu, first
    finally:
        serve.stop()


def _store_figures(
    store: str, bare: float, on: tuple[float, list[float]], off: tuple[float, list[float]], note: str
) -> list[Figure]:
    tag = f"[{store}] "
    return [
        Figure(
            f"pace: {tag}idle serve CPU, pace on (idle polls every {PACED_S} s)",
            on[0],
            "% of a core",
            bare,
            "< 1%",
            f"of one core, quiet window after the pace settled; baseline: a bare DBOS app with one queue at "
            f"DBOS's default 1 s polling, same database kind, same run{note}",
        ),
        Figure(
            f"pace: {tag}idle serve CPU, pace off (polls every 0.1 s)",
            off[0],
            "% of a core",
            bare,
            note="BATON_QUEUE_IDLE_POLLING_S=0.1: the queues polled as before the pace",
        ),
        Figure(
            f"pace: {tag}run from another process after a quiet spell: trigger -> first step, pace on",
            median(on[1]),
            "s",
            median(off[1]),
            note=f"median of {len(on[1])}; baseline: the same with the pace off. The run waits for the serve's "
            "next (slow) poll of the run queue: DBOS cannot wake a sleeping poller",
        ),
    ]


def pace_figures(root: Path, quick: bool) -> list[Figure]:
    """Every figure of the pace section, SQLite then PostgreSQL."""
    from idle import write_config  # the bench's world: one repo, a `touch` agent

    mode = PACE_QUICK if quick else PACE_FULL
    figures: list[Figure] = []
    home = root / "pace"
    home.mkdir(parents=True, exist_ok=True)
    config = write_config(home)
    env = baton_env(home / ".baton", config)
    bare = bare_dbos_cpu(home, None, mode.window_s)
    on = serve_and_probe(env | {"BATON_QUEUE_IDLE_POLLING_S": PACED_S}, home / "serve-on.log", mode, pg=False)
    off = serve_and_probe(env | {"BATON_QUEUE_IDLE_POLLING_S": "0.1"}, home / "serve-off.log", mode, pg=False)
    figures += _store_figures("SQLite", bare, on, off, "")
    inproc_on = in_process_first_steps(env, home, mode.window_s, mode.probes, PACED_S)
    inproc_off = in_process_first_steps(env, home, mode.window_s, mode.probes, "0.1")
    figures.append(
        Figure(
            "pace: [SQLite] run triggered in the executing process after a quiet spell: trigger -> first step",
            median(inproc_on),
            "s",
            median(inproc_off),
            note=f"median of {len(inproc_on)}, pace on; baseline: pace off. As a webhook received by serve: "
            "the run starts in-process, its repo work waits for the repo queue's next poll",
        )
    )
    with postgres_database("pace") as url, tempfile.TemporaryDirectory(prefix="baton-pace-pg-") as tmp:
        pg_home = Path(tmp)
        pg_env = env | {"BATON_HOME": str(pg_home / ".baton"), "BATON_DATABASE_URL": url}
        pg_bare = bare_dbos_cpu(pg_home, url.replace("postgresql+psycopg://", "postgresql://"), mode.window_s)
        pg_on = serve_and_probe(pg_env | {"BATON_QUEUE_IDLE_POLLING_S": PACED_S}, pg_home / "on.log", mode, pg=True)
        pg_off = serve_and_probe(pg_env, pg_home / "off.log", mode, pg=True)
        figures += _store_figures(
            "PostgreSQL", pg_bare, pg_on, pg_off, "; `serve --execute`; the pace is off by default on PostgreSQL"
        )
    return figures
