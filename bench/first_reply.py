"""Time to first reply: from the moment a request is posted to the moment the service receives
Baton's first answer to it, while Baton is busy.

    .venv/bin/python bench/first_reply.py [--quick]

One `baton serve` process (temp BATON_HOME, SQLite, every source's API on the stand-ins of
tests/fakes, which record when each request arrived) first gets 50 runs in flight: mentions from
Slack, GitHub and Linear whose agents block (`sleep`), with global concurrency 50, so 50 agents
work for the whole measurement and each measured run queues behind them. Then, one request at a
time, it measures from the moment the request is posted to the moment the stand-in receives:
- Slack: an `app_mention` → the status card (`chat.postMessage` in the mention's thread);
- GitHub: `@baton …` in an issue comment → the status comment on the issue (the 👀 reaction,
  sent just before it, is in the notes);
- Linear: the Baton label added to an issue → Baton's comment on the issue.

Baseline, measured in the same run: a hand-written slack-bolt app (its own process, the same
uvicorn) whose `app_mention` listener answers in the thread with `chat.postMessage` to the same
stand-in. Targets: within 2x of the baseline, p50 <= 300 ms, p99 <= 1 s.

Lost or duplicated work fails the benchmark (exit 1): every request must be exactly one run with
one first reply; a missed target never does.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from _common import Figure, median, percentile, pyplot, run_benchmark, save_figure, timed
from _loadgen import PATHS, Delivery, signed

IN_FLIGHT = 50
SAMPLES = 30
QUICK_SAMPLES = 5
SOURCES = ("slack", "github", "linear")
GAP_S = 0.2
"""Between two measured requests: each is measured alone, not queued behind the previous one."""
WAIT_S = 30.0
problems: list[str] = []
"""Lost or duplicated work found along the way; any makes the benchmark exit 1."""


@dataclass
class Samples:
    name: str
    replies_ms: list[float] = field(default_factory=list)
    acks_ms: list[float] = field(default_factory=list)
    reactions_ms: list[float] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)

    def p(self, q: float) -> float:
        return percentile(self.replies_ms, q) if self.replies_ms else float("nan")


def post(client: httpx.Client, url: str, delivery: Delivery) -> httpx.Response:
    from _stands import SECRETS

    body, headers = signed(delivery, SECRETS)
    return client.post(url + PATHS[delivery.source], content=body, headers=headers)


def sample(world: Any, client: httpx.Client, url: str, source: str, count: int, name: str, card: bool) -> Samples:
    """`count` requests of `source`, one at a time: posted → the stand-in received the first reply."""
    from _stands import until

    out = Samples(name)
    for _ in range(count):
        delivery = world.delivery(source)
        posted = time.monotonic()
        answer = post(client, url, delivery)
        acked = time.monotonic()
        out.deliveries.append(delivery)
        if answer.status_code >= 300:
            problems.append(f"{name}: a {source} request was answered {answer.status_code}: {answer.text[:200]}")
            continue
        replied = until(
            f"the first reply to {delivery.delivery_id}", lambda d=delivery: world.first_reply(d, card), WAIT_S
        )
        if replied is None:
            problems.append(f"{name}: no first reply to {source} delivery {delivery.delivery_id} in {WAIT_S:.0f}s")
            continue
        out.acks_ms.append((acked - posted) * 1000)
        out.replies_ms.append((replied - posted) * 1000)
        if source == "github":
            reacted = world.github_reaction(delivery)
            if reacted is not None:
                out.reactions_ms.append((reacted - posted) * 1000)
        time.sleep(GAP_S)
    print(
        f"  {name:<8} {source:<6}: p50 {out.p(50):7.1f} ms, p99 {out.p(99):7.1f} ms over {len(out.replies_ms)}",
        file=sys.stderr,
    )
    return out


def measure_baseline(world: Any, root: Path, count: int) -> Samples:
    from _stands import Server, free_port

    port = free_port()
    argv = [sys.executable, str(Path(__file__).with_name("_baselines.py")), "bolt-reply", str(port)]
    server = Server("bolt", argv, world.baseline_env(), root / "bolt.log", port).start("/")
    try:
        with httpx.Client(timeout=WAIT_S) as client:
            sample(world, client, server.url, "slack", 3, "warm-up", card=False)
            return sample(world, client, server.url, "slack", count, "bolt", card=False)
    finally:
        server.stop()


def start_in_flight(world: Any, client: httpx.Client, url: str, started: Path) -> list[Delivery]:
    """IN_FLIGHT runs from the three sources, and wait until each one's agent is working."""
    from _stands import until

    sent = [world.delivery(SOURCES[i % len(SOURCES)]) for i in range(IN_FLIGHT)]
    for delivery in sent:
        answer = post(client, url, delivery)
        if answer.status_code >= 300:
            problems.append(f"in-flight {delivery.source} run refused: {answer.status_code} {answer.text[:200]}")

    def working() -> int:
        return len(started.read_text().splitlines()) if started.exists() else 0

    if not until(f"{IN_FLIGHT} agents to be working", lambda: working() >= IN_FLIGHT, 180, every=0.2):
        problems.append(f"only {working()} of {IN_FLIGHT} runs got their agent working")
    return sent


def measure_baton(world: Any, root: Path, count: int) -> tuple[dict[str, Samples], int]:
    from _stands import Server, free_port

    home, started = root / "baton", root / "agents" / "started"
    started.parent.mkdir(parents=True, exist_ok=True)
    config = world.config(f"echo $$ >> {started}; exec sleep 300", concurrency={"global": IN_FLIGHT, "per_run": 1})
    config["agents"][0]["isolation_writable"] = [str(started.parent)]  # confined: only there besides its workspace
    port = free_port()
    argv = [sys.executable, "-m", "bot", "serve", "--port", str(port)]
    server = Server("baton serve", argv, world.env(home, config), root / "baton-serve.log", port).start()
    results: dict[str, Samples] = {}
    try:
        with httpx.Client(timeout=WAIT_S) as client:
            in_flight = start_in_flight(world, client, server.url, started)
            warm_ups = [sample(world, client, server.url, source, 2, "warm-up", card=True) for source in SOURCES]
            for source in SOURCES:
                results[source] = sample(world, client, server.url, source, count, "baton", card=True)
            working = len(started.read_text().splitlines()) if started.exists() else 0
    finally:
        server.stop()
    everything = in_flight + [d for s in [*warm_ups, *results.values()] for d in s.deliveries]
    check_work(world, home, everything)
    return results, working


def check_work(world: Any, home: Path, sent: list[Delivery]) -> None:
    """Every request became exactly one run, with its first reply written once."""
    from _stands import expected_run_id

    from bot.config.settings import Settings
    from bot.store.store import Store, make_engine

    engine = make_engine(Settings(home=home).store_url)
    stored = {r.run_id for r in Store(engine).list_runs(limit=100_000)}
    engine.dispose()
    expected = {expected_run_id(d) for d in sent}
    if expected - stored:
        problems.append(f"{len(expected - stored)} requests became no run")
    if stored - expected:
        problems.append(f"{len(stored - expected)} runs no request asked for")
    for source in SOURCES:
        replies = world.replies(source)
        counts = [len(replies.get(world.reply_key(d), [])) for d in sent if d.source == source]
        if any(n > 1 for n in counts):
            problems.append(f"{source}: {sum(n > 1 for n in counts)} runs got their first reply more than once")


def figures_for(baton: dict[str, Samples], bolt: Samples, working: int) -> list[Figure]:
    what = {
        "slack": "mention -> status card",
        "github": "comment -> status comment",
        "linear": "label -> comment",
    }
    out: list[Figure] = []
    for source, s in baton.items():
        note = f"ack p50 {median(s.acks_ms):.0f} ms" if s.acks_ms else ""
        if s.reactions_ms:
            note += f"; the 👀 reaction arrived at p50 {median(s.reactions_ms):.0f} ms"
        out += [
            Figure(f"{source}: {what[source]} p50", s.p(50), "ms", bolt.p(50), "<= 300 ms and <= 2x baseline", note),
            Figure(f"{source}: {what[source]} p99", s.p(99), "ms", bolt.p(99), "<= 1 s and <= 2x baseline"),
        ]
    out.append(
        Figure(
            "agents working while measured",
            working,
            "runs",
            note=f"{IN_FLIGHT} runs started first, their agents blocked in sleep; each measured run queues behind them",
        )
    )
    return out


def plot(baton: dict[str, Samples], bolt: Samples) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, s, style in [*((k, v, "-") for k, v in baton.items()), ("bolt (baseline)", bolt, "--")]:
        values = sorted(s.replies_ms)
        if values:
            ax.plot(values, [(i + 1) / len(values) for i in range(len(values))], style, marker=".", label=name)
    ax.axvline(300, color="grey", linewidth=0.8)
    ax.axvline(1000, color="grey", linewidth=0.8, linestyle=":")
    ax.set_xscale("log")
    ax.set_xlabel(f"ms from request posted to first reply received ({IN_FLIGHT} runs in flight)")
    ax.set_ylabel("fraction of requests")
    ax.set_title("Time to first reply")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure(fig, "first_reply", "latency")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SAMPLES} samples per source, for development")
    args = parser.parse_args()
    count = QUICK_SAMPLES if args.quick else SAMPLES
    from _stands import World, conclude

    with tempfile.TemporaryDirectory(prefix="baton-bench-first-reply-") as tmp, timed() as whole:
        root = Path(tmp)
        world = World(root)
        try:
            bolt = measure_baseline(world, root, count)
            baton, working = measure_baton(world, root, count)
        finally:
            world.stop()
    return conclude("first_reply", figures_for(baton, bolt, working), problems, whole.s, lambda: plot(baton, bolt))


if __name__ == "__main__":
    run_benchmark(main)
