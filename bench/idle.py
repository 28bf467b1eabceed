"""Idle cost: what `baton serve` holds and burns while runs wait for approval.

    .venv/bin/python bench/idle.py [--quick]

One Baton home on SQLite, filled in steps by a setup process (a launched Runtime, like `baton
run`, that submits cheap runs, waits until each is waiting for approval and exits): first runs
on one repo whose `script` agent appends a line (a PR opened, waiting for PR approval), then runs
of a playbook that asks for plan approval (waiting before any repo work; the same durable wait,
without the clone, so 1000 can be made in a minute). At each level (0, 100, 1000 waiting runs)
a fresh `baton serve` is started on the home, so it recovers them exactly as after a restart,
and measured from outside over a quiet window: RSS, CPU%, threads, open fds, start -> ready and
start -> every waiting run resumed. The baseline is the same `baton serve` with zero runs.

At 1000 waiting runs the default executor cap (`BATON_EXECUTOR_THREADS`, 512) is below the
number of waits, so it is measured twice: at the default cap and with the cap raised above it.
Then the same serve, with a sampler thread inside, says which threads spend the idle CPU.

Then the queue pace (bench/_pace.py, bot/engine/pace.py): an idle `baton serve` on SQLite and on
PostgreSQL (`--execute`) with the pace on and off, beside a bare DBOS app with one queue at DBOS's
default polling on the same kind of database, and trigger -> first step of a run after a quiet
spell, triggered in the executing process and from another process (`--pace-only`: just this).
Target (issue 19): under 1% of a core idle without slowing the first step.

Targets (issue 8): under 300 MB and under 1% of a core with 1000 waiting runs, "a waiting run
holds no thread and no process". Exit 1 only when a run was lost (left awaiting_approval or
failed); a missed target never fails it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from _common import Figure, conclude, median, pyplot, run_benchmark, save_figure, table, timed
from _pace import bare_dbos_child, in_process_child, pace_figures
from _serve import Serve, baton_env, free_port, make_remote, open_fds, shell_agent

REQUEST = "Idle benchmark: touch a file"
PROBE = "Idle benchmark: a new run while others wait"
SETUP_THREADS = 4000
"""The setup process's executor cap: above every level, so every run reaches its wait there."""
SETUP_POLLING_S = 2.0
"""The setup process's notification polling: on SQLite each poll runs one query per waiting run,
so at the default 0.05 s the setup itself would slow to a crawl as the waits pile up."""
problems: list[str] = []


@dataclass
class Mode:
    levels: tuple[int, ...]
    pr_runs: int
    window_s: float
    probe_wait_s: float


FULL = Mode(levels=(0, 100, 1000), pr_runs=100, window_s=20, probe_wait_s=20)
QUICK = Mode(levels=(0, 20, 100), pr_runs=20, window_s=5, probe_wait_s=10)


# -- the world -------------------------------------------------------------------------------------
def write_config(root: Path) -> Path:
    remote = make_remote(root / "remotes", "svc")
    config = {
        "repos": [{"name": "svc", "url": str(remote)}],
        "routing": {"default_agent": "touch"},
        "agents": [shell_agent("touch", "echo idle >> idle.txt")],
        "playbooks": {
            "default": {"per_repo": {"agent": "touch"}},
            "plan": {"approve_plan": True, "per_repo": {"agent": "touch"}},
        },
    }
    path = root / "baton.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def setup_child(pr_runs: int, plan_runs: int, out: Path) -> None:
    """In a child process: submit runs until `pr_runs + plan_runs` more wait for approval, then exit
    without shutting down cleanly (the next `baton serve` recovers the waits)."""
    from bot.app import Runtime
    from bot.config.settings import Settings
    from bot.domain.models import RunState
    from bot.engine.intake import build_spec
    from bot.observability.logging import configure
    from handlers.cli import cli_trigger

    settings = Settings()
    configure("json", log_file=settings.home / "setup.log")
    runtime = Runtime(settings)
    runtime.launch()
    before = len(runtime.store.list_runs(limit=100_000))
    books = ["default"] * pr_runs + ["plan"] * plan_runs
    in_flight = 16  # at most this many runs not yet waiting, so SQLite is not a lock queue
    pending: set[str] = set()
    with timed() as took:
        for n, book in enumerate(books):
            spec = build_spec(cli_trigger(f"{REQUEST} #{before + n}"), runtime.config, repos=["svc"], playbook=book)
            pending.add(runtime.runs.submit(spec))
            while len(pending) >= in_flight:
                pending = not_waiting_yet(runtime, pending)
                time.sleep(0.05)
        deadline = time.monotonic() + 600
        while pending and time.monotonic() < deadline:
            pending = not_waiting_yet(runtime, pending)
            time.sleep(0.1)
    runs = runtime.store.list_runs(limit=100_000)
    states = Counter(r.state.value for r in runs)
    out.write_text(json.dumps({"seconds": took.s, "states": states, "waiting": states[RunState.awaiting_approval]}))
    sys.stdout.flush()
    os._exit(0)


def not_waiting_yet(runtime: Any, run_ids: set[str]) -> set[str]:
    """The runs of `run_ids` still on their way to awaiting_approval (an ended run is dropped: the
    serve's check finds it)."""
    from bot.domain.models import RunState

    left = set()
    for run_id in run_ids:
        run = runtime.store.get_run(run_id)
        if run is not None and run.state is not RunState.awaiting_approval and not run.state.terminal:
            left.add(run_id)
    return left


def fill(root: Path, env: dict[str, str], pr_runs: int, plan_runs: int) -> dict[str, Any]:
    out = root / "setup.json"
    out.unlink(missing_ok=True)
    child = subprocess.run(
        [sys.executable, __file__, "--setup", str(pr_runs), str(plan_runs), str(out)],
        env=env
        | {
            "BATON_EXECUTOR_THREADS": str(SETUP_THREADS),
            "BATON_NOTIFICATION_POLLING_S": str(SETUP_POLLING_S),
            # As under `serve` and `worker`: each run parks at its wait (a blocking wait, as under
            # `baton run`, would hold its thread in the serve that recovers it until it re-checks).
            "BATON_PARK_WAITS": "1",
        },
        capture_output=True,
        text=True,
        timeout=900,
    )
    if child.returncode != 0 or not out.exists():
        raise RuntimeError(f"setup exited {child.returncode}: {(child.stdout + child.stderr)[-2000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


# -- measuring one serve ---------------------------------------------------------------------------------
@dataclass
class Sample:
    waiting: int
    cap: int
    ready_s: float
    resumed_s: float
    threads: int
    rss_mb: float
    rss_max_mb: float
    cpu_pct: float
    fds: int
    new_run_s: float = float("nan")
    """A run submitted after the window: submit -> waiting for plan approval (NaN: not within the wait)."""


def measure(
    root: Path,
    env: dict[str, str],
    waiting_runs: int,
    cap: int,
    window_s: float,
    probe_wait_s: float,
    profiled: bool = False,
) -> tuple[Sample, dict[str, Any]]:
    """A fresh `baton serve` on the home: ready, every wait resumed (threads stop growing), then
    a quiet window, then one new run. `profiled`: the same serve with a sampler thread inside (its own CPU is taken
    out of the figure), which says what the threads spend the window on."""
    name = f"serve-{waiting_runs}-{cap}"
    out, go = root / f"{name}.profile.json", root / f"{name}.go"
    port = free_port()
    argv = [sys.executable, __file__, "--profiled-serve", str(port), str(out), str(go), str(window_s)]
    env = env | {"BATON_EXECUTOR_THREADS": str(cap)}
    serve = Serve.start(env, root / f"{name}.log", port, argv if profiled else None)
    found: dict[str, Any] = {}
    try:
        ready = serve.wait_ready()
        proc = serve.psutil()
        resumed = settle(proc, serve.started)
        go.touch()
        cpu0, wall0 = sum(proc.cpu_times()[:2]), time.monotonic()
        rss: list[float] = []
        while time.monotonic() - wall0 < window_s:
            rss.append(proc.memory_info().rss / 2**20)
            time.sleep(min(1.0, window_s / 10))
        cpu_s = sum(proc.cpu_times()[:2]) - cpu0
        wall = time.monotonic() - wall0
        threads, fds = proc.num_threads(), open_fds(proc)
        new_run = new_run_seconds(root, probe_wait_s)
        if profiled:
            deadline = time.monotonic() + 30
            while not out.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            found = json.loads(out.read_text()) if out.exists() else {}
            cpu_s -= found.get("sampler_cpu_s", 0.0)
            threads -= 1
    finally:
        serve.kill()  # as a crash: the next serve recovers the waits all the same, and at once
    sample = Sample(waiting_runs, cap, ready, resumed, threads, median(rss), max(rss), cpu_s / wall * 100, fds, new_run)
    print(
        f"  {waiting_runs:>5} waiting, cap {cap:>4}: ready {sample.ready_s:.1f}s, resumed {sample.resumed_s:.1f}s, "
        f"RSS {sample.rss_mb:.0f} MB, CPU {sample.cpu_pct:.2f}%, {sample.threads} threads, {sample.fds} fds, "
        f"new run waiting after {sample.new_run_s:.2f}s",
        file=sys.stderr,
    )
    return sample, found


def settle(proc: Any, started: float, quiet_s: float = 3.0, timeout: float = 300) -> float:
    """Seconds from start until the thread count last changed, once it has held for `quiet_s`:
    every recovered run is then blocked in its wait."""
    count, changed = proc.num_threads(), time.time()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = proc.num_threads()
        if now != count:
            count, changed = now, time.time()
        elif time.time() - changed >= quiet_s:
            break
    return changed - started


def new_run_seconds(root: Path, wait_s: float) -> float:
    """Submit one more run (plan approval, no repo work) to the serving process through the run
    queue, as a webhook would, and time it to awaiting_approval; then cancel it, so the count of
    waiting runs stays what the levels say. NaN when it did not get there within `wait_s`."""
    from bot.app import Runtime
    from bot.config.settings import Settings
    from bot.domain.models import RunState
    from bot.engine.intake import build_spec
    from handlers.cli import cli_trigger, operator

    runtime = Runtime(Settings(home=root / ".baton", config=root / "baton.yml"))
    try:
        spec = build_spec(cli_trigger(PROBE), runtime.config, repos=["svc"], playbook="plan")
        started = time.monotonic()
        runtime.runs.submit(spec)
        seconds = float("nan")
        while time.monotonic() - started < wait_s:
            run = runtime.store.get_run(spec.run_id)
            if run is not None and run.state is RunState.awaiting_approval:
                seconds = time.monotonic() - started
                break
            time.sleep(0.02)
        runtime.runs.cancel(spec.run_id, operator())
    finally:
        runtime.shutdown()
    return seconds


def check_runs(root: Path, expected: int) -> None:
    """Every run made so far is still waiting: none lost, failed or expired by a restart (the new
    runs of `new_run_seconds` were cancelled on purpose)."""
    from bot.domain.models import RunState
    from bot.store.store import Store, make_engine

    engine = make_engine(f"sqlite:///{(root / '.baton' / 'baton.db').resolve()}")
    try:
        runs = [r for r in Store(engine).list_runs(limit=100_000) if r.spec.trigger.request != PROBE]
    finally:
        engine.dispose()
    states = Counter(r.state.value for r in runs)
    if len(runs) != expected or states[RunState.awaiting_approval.value] != expected:
        problems.append(f"expected {expected} runs waiting for approval, found {dict(states)}")


# -- where the idle CPU goes: a sampler thread inside `baton serve` ----------------------------------------
def profiled_serve_child(port: int, out: Path, go: Path, seconds: float) -> None:
    """`baton serve` in this process, plus a thread that, once `go` exists, reads every thread's
    own CPU clock for `seconds` and samples the stacks of the threads that were on the CPU."""
    from bot.cli.main import app

    def sampler() -> None:
        while not go.exists():
            time.sleep(0.05)
        me = threading.get_ident()

        def clocks() -> dict[int, float]:
            found = {}
            for t in threading.enumerate():
                if t.ident is None or t.ident == me:
                    continue
                try:
                    found[t.ident] = time.clock_gettime(time.pthread_getcpuclockid(t.ident))
                except (OSError, ProcessLookupError):
                    continue
            return found

        names = {t.ident: t.name for t in threading.enumerate()}
        first = last = clocks()
        process_cpu = time.process_time()
        own_cpu = time.thread_time()
        stacks: Counter[str] = Counter()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = clocks()
            frames = sys._current_frames()
            for ident, cpu in now.items():
                if cpu - last.get(ident, cpu) > 0.0005 and ident in frames:
                    stacks[thread_group(names.get(ident, "?")) + ": " + stack_of(frames[ident])] += 1
            names.update({t.ident: t.name for t in threading.enumerate()})
            last = now
        spent: Counter[str] = Counter()
        for ident, cpu in last.items():
            spent[thread_group(names.get(ident, "?"))] += cpu - first.get(ident, 0.0)
        result = {
            "seconds": seconds,
            "process_cpu_s": time.process_time() - process_cpu,
            "sampler_cpu_s": time.thread_time() - own_cpu,
            "threads_cpu_s": dict(spent.most_common()),
            "stacks": dict(stacks.most_common(12)),
        }
        out.write_text(json.dumps(result, indent=2))

    threading.Thread(target=sampler, name="bench-sampler", daemon=True).start()
    with contextlib.suppress(SystemExit):
        app(["serve", "--port", str(port)], prog_name="baton")
    os._exit(0)


def thread_group(name: str) -> str:
    """`ThreadPoolExecutor-0_17` -> `ThreadPoolExecutor-0_*`: one line per pool."""
    head, sep, tail = name.rpartition("_")
    return f"{head}_*" if sep and tail.isdigit() else name


def stack_of(frame: Any, depth: int = 5) -> str:
    parts = []
    while frame is not None and len(parts) < depth:
        code = frame.f_code
        parts.append(f"{Path(code.co_filename).stem}.{code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return " < ".join(parts)


# -- main ----------------------------------------------------------------------------------------------------
def default_cap() -> int:
    from bot.config.settings import Settings

    cap: int = Settings.model_fields["executor_threads"].default
    return cap


def figures_for(
    samples: list[Sample], cap: int, raised: Sample | None, made: dict[int, dict[str, Any]]
) -> list[Figure]:
    base = samples[0]
    top = samples[-1]
    figures = [
        Figure(
            f"RSS, {top.waiting} runs waiting",
            top.rss_mb,
            "MB",
            base.rss_mb,
            "< 300 MB",
            f"median over the quiet window (max {top.rss_max_mb:.0f} MB); baseline: the same serve, no runs",
        ),
        Figure(f"CPU, {top.waiting} runs waiting", top.cpu_pct, "%", base.cpu_pct, "< 1%", "of one core"),
        Figure(
            f"threads, {top.waiting} runs waiting",
            top.threads,
            "threads",
            base.threads,
            "no thread per waiting run",
            f"{top.threads - base.threads} more than with no runs (executor cap {cap})",
        ),
        Figure(f"open fds, {top.waiting} runs waiting", top.fds, "fds", base.fds),
        Figure(
            f"serve start -> ready, {top.waiting} runs waiting",
            top.ready_s,
            "s",
            base.ready_s,
            note="/readyz answers; recovery of the waits is submitted before the server starts",
        ),
        Figure(
            f"new run while {top.waiting} wait: submit -> waiting for approval",
            top.new_run_s,
            "s",
            base.new_run_s,
            note="a plan-approval run enqueued as a webhook would; n/a = still not started after "
            "the benchmark's wait: no executor thread was free",
        ),
        Figure(
            f"serve start -> every wait resumed, {top.waiting} runs",
            top.resumed_s,
            "s",
            base.resumed_s,
            note="until the thread count stops growing",
        ),
    ]
    for s in samples[1:-1]:
        figures += [
            Figure(f"RSS, {s.waiting} runs waiting", s.rss_mb, "MB", base.rss_mb),
            Figure(f"CPU, {s.waiting} runs waiting", s.cpu_pct, "%", base.cpu_pct),
            Figure(f"threads, {s.waiting} runs waiting", s.threads, "threads", base.threads),
            Figure(f"new run while {s.waiting} wait: submit -> waiting", s.new_run_s, "s", base.new_run_s),
        ]
    if top.waiting > 0:
        per_run = (top.rss_mb - base.rss_mb) / min(top.waiting, cap) * 1024
        figures.append(
            Figure("RSS per waiting run (holding a thread)", per_run, "KiB", note="(RSS - baseline) / resumed waits")
        )
    if raised is not None:
        resumed = raised.threads - base.threads
        figures += [
            Figure(
                f"runs resumed at the default cap ({cap} threads), of {top.waiting}",
                min(top.threads - base.threads, cap),
                "runs",
                top.waiting,
                note=f"the other {max(top.waiting - cap, 0)} wait in the executor's queue for a thread; "
                "until one frees, nothing else (a new run, a repo's work) gets a thread either",
            ),
            Figure(
                f"RSS, {raised.waiting} waiting, cap raised to {raised.cap}",
                raised.rss_mb,
                "MB",
                base.rss_mb,
                "< 300 MB",
            ),
            Figure(f"CPU, {raised.waiting} waiting, cap raised to {raised.cap}", raised.cpu_pct, "%", base.cpu_pct),
            Figure(
                f"threads, {raised.waiting} waiting, cap raised to {raised.cap}",
                raised.threads,
                "threads",
                base.threads,
                note=f"{resumed} waits resumed, one thread each",
            ),
            Figure(f"serve start -> ready, {raised.waiting} waiting, cap {raised.cap}", raised.ready_s, "s"),
            Figure(
                f"new run while {raised.waiting} wait, cap {raised.cap}: submit -> waiting",
                raised.new_run_s,
                "s",
                base.new_run_s,
            ),
        ]
    for level, info in made.items():
        figures.append(
            Figure(
                f"setup: runs made waiting, up to {level}",
                info["seconds"],
                "s",
                note=f"{info['pr']} PR approvals + {info['plan']} plan approvals, in a setup process",
            )
        )
    return figures


def profile_figures(result: dict[str, Any], sample: Sample) -> list[Figure]:
    """Which threads spent the idle CPU of `sample`'s serve, from the sampler inside it."""
    if not result:
        print("the profiled serve wrote no profile", file=sys.stderr)
        return []
    seconds = result["seconds"]
    process = (result["process_cpu_s"] - result["sampler_cpu_s"]) / seconds * 100
    figures = [
        Figure(
            f"profile ({sample.waiting} waiting, cap {sample.cap}): process CPU",
            process,
            "%",
            note="measured inside the process, the sampler thread's own CPU taken out",
        )
    ]
    for name, spent in list(result["threads_cpu_s"].items())[:4]:
        figures.append(Figure(f"profile:   thread {name}", spent / seconds * 100, "%"))
    print(f"\nidle profile, {sample.waiting} waiting (stacks of threads that were on the CPU, 20 Hz):", file=sys.stderr)
    for stack, count in result["stacks"].items():
        print(f"  {count:>4}  {stack}", file=sys.stderr)
    return figures


def plot(samples: list[Sample], raised: Sample | None) -> None:
    """RSS, CPU and threads against the runs waiting, at the default cap (and the raised one)."""
    plt = pyplot()
    xs = [s.waiting for s in samples]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    panels = [
        ("memory", "RSS (MB)", lambda s: s.rss_mb, 300.0, "target 300 MB"),
        ("CPU", "% of one core", lambda s: s.cpu_pct, 1.0, "target 1%"),
        ("threads", "threads", lambda s: s.threads, float(samples[0].threads), "no runs"),
    ]
    for ax, (title, unit, value, line, line_label) in zip(axes, panels, strict=True):
        ax.plot(xs, [value(s) for s in samples], "o-", label=f"baton serve (default cap {samples[0].cap})")
        if raised is not None:
            ax.plot([raised.waiting], [value(raised)], "s", label=f"cap raised to {raised.cap}")
        ax.axhline(line, color="red" if title != "threads" else "grey", linestyle="--", label=line_label)
        ax.set(xlabel="runs waiting for approval", ylabel=unit, title=title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("bench/idle.py: baton serve with runs waiting for approval (SQLite)")
    fig.tight_layout()
    save_figure(fig, "idle", "rss-cpu-threads")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="0/20/100 runs, 5 s windows")
    parser.add_argument("--setup", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--profiled-serve", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--pace-only", action="store_true", help="only the queue pace section (idle CPU, first step)")
    parser.add_argument("--bare-dbos", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--pace-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_dbos:
        bare_dbos_child(args.bare_dbos[0], float(args.bare_dbos[1]), Path(args.bare_dbos[2]))
        return 0
    if args.pace_child:
        in_process_child(Path(args.pace_child[0]), float(args.pace_child[1]), int(args.pace_child[2]))
        return 0
    if args.pace_only:  # printed, not published: bench/results/idle.json keeps the whole bench's figures
        with tempfile.TemporaryDirectory(prefix="baton-bench-idle-") as tmp, timed() as whole:
            figures = pace_figures(Path(tmp), args.quick)
        print(table(figures, title=f"bench/idle.py --pace-only: {whole.s:.0f}s"))
        return 0
    if args.setup:
        setup_child(int(args.setup[0]), int(args.setup[1]), Path(args.setup[2]))
        return 0
    if args.profiled_serve:
        port, out, go, seconds = args.profiled_serve
        profiled_serve_child(int(port), Path(out), Path(go), float(seconds))
        return 0

    mode = QUICK if args.quick else FULL
    cap = default_cap()
    samples: list[Sample] = []
    raised: Sample | None = None
    made: dict[int, dict[str, Any]] = {}
    figures: list[Figure] = []
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="baton-bench-idle-") as tmp, timed() as whole:
        root = Path(tmp)
        env = baton_env(root / ".baton", write_config(root))
        total, pr_left = 0, mode.pr_runs
        for n, level in enumerate(mode.levels):
            if level > total:
                pr = min(pr_left, level - total)
                result = fill(root, env, pr, level - total - pr)
                made[level] = {"seconds": result["seconds"], "pr": pr, "plan": level - total - pr}
                pr_left -= pr
                total = level
                check_runs(root, total)
            # The last serve carries the sampler: the raised-cap one when there is one.
            last = n == len(mode.levels) - 1 and total <= cap
            sample, found = measure(root, env, level, cap, mode.window_s, mode.probe_wait_s, profiled=last)
            samples.append(sample)
            check_runs(root, total)
        if total > cap:
            raised, found = measure(root, env, total, total + 100, mode.window_s, mode.probe_wait_s, profiled=True)
            check_runs(root, total)
        figures = figures_for(samples, cap, raised, made)
        figures += profile_figures(found, raised or samples[-1])
        figures += pace_figures(root / "pace-section", args.quick)
    plot(samples, raised)
    return conclude("idle", figures, whole.s, problems)


if __name__ == "__main__":
    run_benchmark(main)
