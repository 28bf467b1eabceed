"""Ingress benchmark: how fast `baton serve` acknowledges signed webhooks, next to the least a webhook
receiver can do and to what a team writes by hand.

    .venv/bin/python bench/ingress.py [--quick] [--profile]

One `baton serve` process (temp BATON_HOME, SQLite, the secrets of Slack, GitHub and Linear set,
their API URLs on the stand-ins of tests/fakes, served from this process) receives, from a load
generator in another process, correctly signed Slack `app_mention` events, GitHub `issue_comment`
webhooks mentioning @baton and Linear `Issue` updates adding the Baton label, at 50, 200 and 1000
requests/s per source, open loop (sent on schedule, whether or not earlier ones were answered),
about 10% of them repeated deliveries of an earlier one. Figures per source and rate: requests
acknowledged per second (2xx) and ack latency p50/p99 from the scheduled send to the whole answer.

Baselines, measured in the same run, each in its own process under the same uvicorn: a bare
Starlette endpoint per source that only checks the signature (the floor), and a minimal slack-bolt
app with a no-op `app_mention` listener (Slack only). Targets: p99 <= 20 ms and within 3x the
floor's p99 at 200 requests/s; throughput >= 50% of the floor's.

GitHub and Linear deliveries are stored and answered at once; their parsing, claim, first reply and
run start happen after the answer, from the store (`bot/engine/drain.py`): the ack measured is the
answer, and "runs recorded per second" is how fast that processing keeps up.

The runs stay cheap: every run is recorded and its workflow started, but the process executes one
at a time (BATON_EXECUTOR_THREADS=1) and the first waits for plan approval, so no agent, clone or
push competes with the intake being measured. After each phase the benchmark waits until every
delivery's run is recorded; after the last it reads the store: every non-duplicate delivery must be
exactly one run and duplicates none, and each run's first reply (the Slack card, the GitHub status
comment, the Linear comment) must have been written once. Only that can fail the benchmark (exit 1).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import Figure, percentile, pyplot, run_benchmark, save_figure, timed
from _loadgen import PATHS, Delivery, LoadGenerator, Outcome

RATES = (50, 200, 1000)
SECONDS = {50: 2.0, 200: 1.5, 1000: 0.5}
QUICK_SECONDS = {50: 1.0, 200: 0.5, 1000: 0.2}
SOURCES = ("slack", "github", "linear")
DUPLICATE_EVERY = 10
"""Every 10th delivery repeats one sent a few requests before (Slack retries, GitHub and Linear redeliveries)."""
DRAIN_S = 120.0
TARGET_RATE = 200
WARM_UP_RATE = 20
"""Each server first gets a second of this, not counted: lazy imports, first lookups, caches."""
problems: list[str] = []
"""Lost or duplicated work found along the way; any makes the benchmark exit 1."""


@dataclass
class Cell:
    """One source at one rate against one server."""

    server: str
    source: str
    rate: int
    deliveries: list[Delivery]
    outcomes: list[Outcome]
    intake_s: float = float("nan")
    """Baton: from the phase's start until every delivery's run was recorded."""
    latencies_ms: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.latencies_ms = sorted(o.latency_s * 1000 for o in self.outcomes if o.acked)

    @property
    def acked(self) -> int:
        return len(self.latencies_ms)

    @property
    def errors(self) -> int:
        return len(self.outcomes) - self.acked

    @property
    def per_s(self) -> float:
        """Acknowledged requests per second, from the phase's start to the last answer."""
        ends = [o.due_s + o.latency_s for o in self.outcomes if o.acked]
        return self.acked / max(ends) if ends else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies_ms, q) if self.latencies_ms else float("nan")

    def describe_errors(self) -> str:
        kinds: dict[str, int] = {}
        for o in self.outcomes:
            if not o.acked:
                key = o.error or f"HTTP {o.status}"
                kinds[key] = kinds.get(key, 0) + 1
        return ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())) or "none"


def deliveries(world: Any, source: str, count: int) -> list[Delivery]:
    """`count` deliveries of `source`, every DUPLICATE_EVERY-th one a repeat of one sent 3 before."""
    out: list[Delivery] = []
    for i in range(count):
        if i % DUPLICATE_EVERY == DUPLICATE_EVERY - 1 and i >= 3 and not out[i - 3].duplicate:
            out.append(dataclasses.replace(out[i - 3], duplicate=True))
        else:
            out.append(world.delivery(source))
    return out


def measure(gen: LoadGenerator, world: Any, server: Any, name: str, source: str, rate: int, seconds: float) -> Cell:
    from _stands import SECRETS

    batch = deliveries(world, source, max(1, round(rate * seconds)))
    outcomes = gen.phase(server.url + PATHS[source], batch, SECRETS, rate)
    cell = Cell(name, source, rate, batch, outcomes)
    print(
        f"  {name:<6} {source:<6} {rate:>4}/s: {cell.acked}/{len(outcomes)} acked, {cell.per_s:6.0f}/s, "
        f"p50 {cell.p(50):7.1f} ms, p99 {cell.p(99):7.1f} ms, errors: {cell.describe_errors()}",
        file=sys.stderr,
    )
    return cell


# -- Baton ------------------------------------------------------------------------------------------------
def runs_recorded(server: Any) -> int:
    """Every run the server's store holds, from its /metrics (no second writer on the SQLite file)."""
    try:
        text = httpx.get(server.url + "/metrics", timeout=5).text
    except httpx.HTTPError:
        return -1
    return int(sum(float(n) for n in re.findall(r'^baton_runs\{state="[^"]+"\} ([0-9.e+]+)$', text, re.M)))


def measure_baton(
    gen: LoadGenerator, world: Any, root: Path, plan: dict[int, float], sources: list[str], profile: bool
) -> list[Cell]:
    from _stands import Server, free_port

    home = root / "baton"
    config = world.config("true", approval={"approve_plan": True})
    env = world.env(home, config, BATON_EXECUTOR_THREADS="1")
    port = free_port()
    argv = [sys.executable, "-m", "bot", "serve", "--port", str(port)]
    if profile:
        argv = [sys.executable, __file__, "--profiled-serve", str(root / "serve-profile.txt"), str(port)]
    server = Server("baton serve", argv, env, root / "baton-serve.log", port).start()
    cells: list[Cell] = []
    warm_ups: list[Cell] = []
    expected = 0
    try:
        for source in sources:
            warm_up = measure(gen, world, server, "warm", source, WARM_UP_RATE, 1.0)
            warm_ups.append(warm_up)
            expected += len({d.delivery_id for d in warm_up.deliveries})
            _wait_for_runs(server, expected)
            for rate, seconds in plan.items():
                started = time.monotonic()
                cell = measure(gen, world, server, "baton", source, rate, seconds)
                expected += len({d.delivery_id for d in cell.deliveries})
                drained = _wait_for_runs(server, expected)
                cell.intake_s = drained - started if drained else float("nan")
                cells.append(cell)
    finally:
        if profile:
            stop_profiled(server, root / "serve-profile.txt")
        server.stop()
        failures = [line for line in server.log.read_text().splitlines() if '"level": "error"' in line]
        for line in failures[:3]:
            print(f"  baton serve logged: {line[:1500]}", file=sys.stderr)
    if profile:
        print((root / "serve-profile.txt").read_text(), file=sys.stderr)
    check_work(world, home, warm_ups + cells)
    return cells


def _wait_for_runs(server: Any, expected: int) -> float | None:
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline:
        if runs_recorded(server) >= expected:
            return time.monotonic()
        time.sleep(0.1)
    print(f"  runs recorded: {runs_recorded(server)} of {expected} after {DRAIN_S:.0f}s", file=sys.stderr)
    return None


def check_work(world: Any, home: Path, cells: list[Cell]) -> None:
    """Every non-duplicate delivery is exactly one run, duplicates none; one first reply each."""
    from _stands import expected_run_id

    from bot.config.settings import Settings
    from bot.store.store import Store, make_engine

    engine = make_engine(Settings(home=home).store_url)
    stored = {r.run_id for r in Store(engine).list_runs(limit=1_000_000)}
    engine.dispose()
    originals = [d for c in cells for d in c.deliveries if not d.duplicate]
    expected = {expected_run_id(d) for d in originals}
    if len(expected) != len(originals):
        problems.append("two deliveries of the benchmark map to one run id (the benchmark's own bug)")
    lost, extra = expected - stored, stored - expected
    if lost:
        problems.append(f"{len(lost)} deliveries became no run (e.g. {sorted(lost)[:3]})")
    if extra:
        problems.append(f"{len(extra)} runs no delivery asked for (a duplicate started one?): {sorted(extra)[:3]}")
    for source in sorted({c.source for c in cells}):
        replies = world.replies(source)
        mine = [d for d in originals if d.source == source]
        counts = [len(replies.get(world.reply_key(d), [])) for d in mine]
        none, twice = counts.count(0), sum(1 for n in counts if n > 1)
        if none:
            problems.append(f"{source}: {none} of {len(mine)} runs got no first reply")
        if twice:
            problems.append(f"{source}: {twice} of {len(mine)} runs got their first reply more than once")


# -- figures ------------------------------------------------------------------------------------------------
def figures_for(cells: list[Cell]) -> list[Figure]:
    by = {(c.server, c.source, c.rate): c for c in cells}
    out: list[Figure] = []
    for source in SOURCES:
        for rate in sorted({c.rate for c in cells}):
            baton, floor = by.get(("baton", source, rate)), by.get(("floor", source, rate))
            if baton is None:
                continue
            at_target = rate == TARGET_RATE
            out += [
                Figure(
                    f"{source} @ {rate:>4}/s: ack p50",
                    baton.p(50),
                    "ms",
                    floor.p(50) if floor else None,
                ),
                Figure(
                    f"{source} @ {rate:>4}/s: ack p99",
                    baton.p(99),
                    "ms",
                    floor.p(99) if floor else None,
                    "<= 20 ms and <= 3x floor" if at_target else "",
                ),
                Figure(
                    f"{source} @ {rate:>4}/s: acknowledged",
                    baton.per_s,
                    "req/s",
                    floor.per_s if floor else None,
                    ">= 50% of floor",
                    f"{baton.acked} of {len(baton.outcomes)} sent ({_dups(baton)} repeats) answered 2xx; "
                    f"errors: {baton.describe_errors()}; every run recorded after {baton.intake_s:.1f} s",
                ),
            ]
            bolt = by.get(("bolt", source, rate))
            if bolt is not None:
                out += [
                    Figure(f"{source} @ {rate:>4}/s: ack p99 vs bolt", baton.p(99), "ms", bolt.p(99)),
                    Figure(f"{source} @ {rate:>4}/s: acknowledged vs bolt", baton.per_s, "req/s", bolt.per_s),
                ]
        top = by.get(("baton", source, max(c.rate for c in cells)))
        if top is not None:
            unique = len({d.delivery_id for d in top.deliveries})
            out.append(
                Figure(
                    f"{source} @ {top.rate:>4}/s: runs recorded per second",
                    unique / top.intake_s,
                    "runs/s",
                    note=f"{unique} new runs from the phase's start until the last was in the store "
                    f"({top.intake_s:.1f} s): the intake's own capacity, acks aside",
                )
            )
    return out


def _dups(cell: Cell) -> int:
    return sum(1 for d in cell.deliveries if d.duplicate)


def plot(cells: list[Cell]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(SOURCES), figsize=(5 * len(SOURCES), 4), sharey=True)
    styles = {"baton": "-", "floor": "--", "bolt": ":"}
    colours = {50: "tab:blue", 200: "tab:orange", 1000: "tab:red"}
    for ax, source in zip(axes, SOURCES, strict=True):
        for cell in (c for c in cells if c.source == source and c.latencies_ms):
            n = len(cell.latencies_ms)
            fractions = [(i + 1) / n for i in range(n)]
            ax.plot(
                cell.latencies_ms,
                fractions,
                styles[cell.server],
                color=colours.get(cell.rate, "black"),
                label=f"{cell.server} {cell.rate}/s",
            )
        ax.axvline(20, color="grey", linewidth=0.8)
        ax.set_xscale("log")
        ax.set_title(f"{source}: ack latency")
        ax.set_xlabel("ms from scheduled send to answer (log)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fraction of acknowledged requests")
    save_figure(fig, "ingress", "latency")

    fig, ax = plt.subplots(figsize=(6, 4))
    for source, colour in zip(SOURCES, ("tab:purple", "tab:green", "tab:blue"), strict=True):
        for server in ("baton", "floor"):
            mine = sorted((c for c in cells if c.source == source and c.server == server), key=lambda c: c.rate)
            if mine:
                ax.plot(
                    [c.rate for c in mine],
                    [c.per_s for c in mine],
                    styles[server],
                    marker="o",
                    color=colour,
                    label=f"{server} {source}",
                )
    ax.plot([50, 1000], [50, 1000], color="grey", linewidth=0.8, label="offered")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered requests/s")
    ax.set_ylabel("acknowledged requests/s")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    save_figure(fig, "ingress", "throughput")


# -- main ---------------------------------------------------------------------------------------------------
def profiled_serve(out: Path, port: int) -> None:
    """`baton serve` with every thread under cProfile (the acks are written on the event loop, the
    GitHub and Linear work and Slack's post-ack work in worker threads); SIGUSR1 writes the merged
    profile to `out` and ends the process. (pyinstrument, the other profiler installed, follows one
    thread only.)"""
    import cProfile
    import io
    import pstats
    import signal
    import threading

    from bot.cli.main import app

    profiles: list[cProfile.Profile] = []

    def start_profiling(*_: object) -> None:
        profile = cProfile.Profile()
        profiles.append(profile)
        profile.enable()  # replaces this hook for the rest of the thread

    def dump(*_: object) -> None:
        for profile in profiles:
            profile.disable()
        text = io.StringIO()
        stats = pstats.Stats(*profiles, stream=text)
        stats.dump_stats(out.with_suffix(".prof"))
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(70)
        out.write_text(text.getvalue(), encoding="utf-8")
        os._exit(0)

    signal.signal(signal.SIGUSR1, dump)
    threading.setprofile(start_profiling)
    start_profiling()
    app(["serve", "--port", str(port)], standalone_mode=False)


def stop_profiled(server: Any, out: Path) -> None:
    import signal

    os.kill(server.pid, signal.SIGUSR1)
    from _stands import until

    until("the profile", out.exists, 60, every=0.2)
    time.sleep(1)  # written in one go; let it finish


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short phases, for development")
    parser.add_argument("--profile", action="store_true", help="run baton serve under pyinstrument and print it")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated subset of slack,github,linear")
    parser.add_argument("--profiled-serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profiled_serve:
        profiled_serve(Path(args.profiled_serve[0]), int(args.profiled_serve[1]))
        return 0
    plan = QUICK_SECONDS if args.quick else SECONDS
    sources = [s for s in args.sources.split(",") if s in SOURCES]
    gen = LoadGenerator().start()  # forked before this process starts any thread
    cells: list[Cell] = []
    try:
        from _stands import Server, World, conclude, free_port

        with tempfile.TemporaryDirectory(prefix="baton-bench-ingress-") as tmp, timed() as whole:
            root = Path(tmp)
            world = World(root)
            try:
                baselines = Path(__file__).with_name("_baselines.py")
                for name, some in (("floor", sources), ("bolt", [s for s in sources if s == "slack"])):
                    if not some:
                        continue
                    port = free_port()
                    argv = [sys.executable, str(baselines), name, str(port)]
                    server = Server(name, argv, world.baseline_env(), root / f"{name}.log", port).start("/")
                    try:
                        for source in some:
                            measure(gen, world, server, "warm", source, WARM_UP_RATE, 1.0)
                            cells += [measure(gen, world, server, name, source, r, s) for r, s in plan.items()]
                    finally:
                        server.stop()
                cells += measure_baton(gen, world, root, plan, sources, args.profile)
            finally:
                world.stop()
    finally:
        gen.stop()
    return conclude("ingress", figures_for(cells), problems, whole.s, lambda: plot(cells))


if __name__ == "__main__":
    run_benchmark(main)
