"""Chat economy: how many Slack, GitHub and Linear API calls one run costs as its agent reports more
progress, against the naive "one message per event".

    .venv/bin/python bench/chat_economy.py [--quick]

Each source is driven through its real surface: Baton served over HTTP (`baton serve`'s app and
surface hub) with its API pointed at the stand-in from tests/fakes/, which records every call.
A run is asked for as people ask (a Slack mention, a GitHub issue comment, a Linear agent session),
its agent is a script that prints N progress lines evenly over D seconds (each line becomes an
`output` progress report, as a coding agent's stream does), the checks pass, it is approved the
way people approve there (the card's button, a `/baton approve` comment), it merges, and the
surface writes its last word (the card says Merged, the status comment says merged, the session's
closing response). Every call the stand-in received from the request to that last word (plus a
quiet second) counts for the run, by service and method. Runs go one after another; a first,
uncounted run per source pays the one-time lookups (auth.test, the bot's own user, and so on).

Naive = one message per event (the N progress lines plus every other event in the run's log) plus
the calls that are not messages (PRs, checks, merges, lookups, state moves), which a naive bot
makes too. Messages are posts, edits, replies, reactions and session activities. Target:
calls grow with milestones and time, not with events — the same D at N = 10, 100, 1000 should cost
about the same, and a longer run a little more (edits are at most one a second per card).

Runs with 5 and 20 sequential steps show the other axis: each step is a milestone (the Slack card
and GitHub comment list steps; a Linear session shows each as an action), so those calls may grow.

Pictures: `chat_economy-calls.png` (calls per run against the naive count, by N, log scale) and
`chat_economy-growth.png` (calls per run by the agent's duration at fixed N, and by steps).

A missed target never fails the benchmark; lost work does (exit 1): a run that did not merge, or a
card, status comment or closing activity that never arrived.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bot/ and tests/ (the stand-ins)

from _chat_sources import DRIVERS, SOURCES, STEPS, Run, problems
from _common import Figure, conclude, pyplot, run_benchmark, save_figure, timed

LINES = (10, 100, 1000)
SECONDS = 2.0
DURATIONS = (2.0, 4.0, 8.0)
"""Agent durations (at DURATION_LINES lines) for the growth picture."""
DURATION_LINES = 100
STEP_LINES, STEP_SECONDS = 10, 0.1
"""What each step of the step runs (STEPS sequential steps, from _chat_sources) prints, and how fast."""


# -- figures and pictures ----------------------------------------------------------------------------------
@dataclass
class Plan:
    """Which runs to make: N lines in `seconds`, N=100 lines over `durations`, and `steps` runs."""

    seconds: float
    durations: tuple[float, ...]
    steps: tuple[int, ...]

    def grid(self) -> list[tuple[int, float, int]]:
        runs = [(n, self.seconds, 1) for n in LINES]
        runs += [(DURATION_LINES, d, 1) for d in self.durations if d != self.seconds]
        return runs + [(STEP_LINES, STEP_SECONDS, k) for k in self.steps]

    def by_lines(self, runs: list[Run], source: str) -> list[Run]:
        mine = [r for r in runs if r.source == source and r.total and r.steps == 1 and r.seconds == self.seconds]
        return sorted(mine, key=lambda r: r.lines)

    def by_duration(self, runs: list[Run], source: str) -> list[Run]:
        mine = [r for r in runs if r.source == source and r.total and r.steps == 1 and r.lines == DURATION_LINES]
        return sorted((r for r in mine if r.seconds in self.durations), key=lambda r: r.seconds)

    def by_steps(self, runs: list[Run], source: str) -> list[Run]:
        mine = [r for r in runs if r.source == source and r.total and r.steps > 1]
        return sorted(mine, key=lambda r: r.steps)


def methods(run: Run) -> str:
    said = f"{run.messages} messages (naive {run.events_naive}), {run.total - run.messages} other calls"
    return said + ": " + ", ".join(f"{m.split(' ', 1)[1]} {n}" for m, n in run.calls.most_common())


def figures_for(runs: list[Run], plan: Plan) -> list[Figure]:
    figures: list[Figure] = []
    for source in SOURCES:
        for r in plan.by_lines(runs, source):
            figures.append(
                Figure(
                    f"{source}: calls per run, {r.lines:>4} progress lines in {r.seconds:g} s",
                    r.total,
                    "calls",
                    r.naive,
                    "flat in N (grows with time, not events)",
                    f"{r.progress_events} progress events recorded, {r.events} events in all; {methods(r)}",
                )
            )
        for r in plan.by_duration(runs, source):
            if r.seconds != plan.seconds:  # that one is in the rows above
                figures.append(
                    Figure(
                        f"{source}: calls per run, {r.lines:>4} progress lines in {r.seconds:g} s",
                        r.total,
                        "calls",
                        r.naive,
                        note=f"{r.progress_events} progress events recorded; {r.wall_s:.1f} s request to last "
                        f"word; {methods(r)}",
                    )
                )
        for r in plan.by_steps(runs, source):
            figures.append(
                Figure(
                    f"{source}: calls per run, {r.steps:>2} steps x {r.lines} lines",
                    r.total,
                    "calls",
                    r.naive,
                    note=f"{r.events} events in all, {r.wall_s:.1f} s request to last word; {methods(r)}",
                )
            )
    return figures


COLORS = dict(zip(SOURCES, ("tab:purple", "tab:gray", "tab:blue"), strict=True))


def plot_calls(runs: list[Run], plan: Plan) -> None:
    """chat_economy-calls.png: calls per run against the naive count, by progress lines (log-log)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    naive: dict[int, int] = {}
    for source in SOURCES:
        mine = plan.by_lines(runs, source)
        if mine:
            xs = [r.lines for r in mine]
            ax.plot(xs, [r.total for r in mine], "o-", color=COLORS[source], label=f"{source}: API calls per run")
            naive.update({r.lines: max(naive.get(r.lines, 0), r.naive) for r in mine})
    if naive:
        xs = sorted(naive)
        ax.plot(xs, [naive[x] for x in xs], "k--", label="naive: one call per event")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"progress lines the agent printed (over {plan.seconds:g} s)")
    ax.set_ylabel("API calls per run (request to merged)")
    ax.set_title("Chat economy: API calls per run against one call per event")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, "chat_economy", "calls")


def plot_growth(runs: list[Run], plan: Plan) -> None:
    """chat_economy-growth.png: calls per run by agent duration, and by number of steps."""
    plt = pyplot()
    fig, (by_time, by_steps) = plt.subplots(1, 2, figsize=(10, 4.2))
    for source in SOURCES:
        mine = plan.by_duration(runs, source)
        if mine:
            by_time.plot([r.seconds for r in mine], [r.total for r in mine], "o-", color=COLORS[source], label=source)
        stepped = [r for r in plan.by_lines(runs, source) if r.lines == STEP_LINES] + plan.by_steps(runs, source)
        if stepped:
            xs = [r.steps for r in stepped]
            by_steps.plot(xs, [r.total for r in stepped], "o-", color=COLORS[source], label=source)
    by_time.set_xlabel(f"agent duration (s), {DURATION_LINES} progress lines, one step")
    by_time.set_title("by run time")
    by_steps.set_xlabel(f"sequential agent steps ({STEP_LINES} lines each)")
    by_steps.set_title("by steps (each a milestone)")
    for ax in (by_time, by_steps):
        ax.set_ylabel("API calls per run (request to merged)")
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Chat economy: what API calls per run grow with")
    save_figure(fig, "chat_economy", "growth")


# -- main ------------------------------------------------------------------------------------------------------
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 s agents and durations 1 and 3 s (about a minute)")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated: slack, github, linear")
    args = parser.parse_args()
    plan = Plan(1.0, (1.0, 3.0), (5,)) if args.quick else Plan(SECONDS, DURATIONS, STEPS)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    if not set(sources) <= set(SOURCES):
        parser.error(f"--sources: unknown source in {args.sources!r}")
    grid = plan.grid()
    from bot.observability.logging import configure

    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="baton-bench-chat-") as tmp, timed() as whole:
        root = Path(tmp)
        configure("json", level=logging.INFO, log_file=root / "baton.log")
        for source in sources:
            with timed() as took, DRIVERS[source](root / source) as one:
                one(10, 0.2)  # warm-up, not counted: the first run also pays one-time lookups
                for lines, seconds, steps in grid:
                    runs.append(one(lines, seconds, steps))
            print(f"{source}: {len(grid) + 1} runs in {took.s:.1f}s", file=sys.stderr)
    figures = figures_for(runs, plan)
    plot_calls(runs, plan)
    plot_growth(runs, plan)
    return conclude("chat_economy", figures, whole.s, problems)


if __name__ == "__main__":
    run_benchmark(main)
