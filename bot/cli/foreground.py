"""Following a run in the terminal: render it live and ask for approval at the prompt
(or approve non-interactively with `--yes`) until it ends.
"""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Console

from bot.app import Runtime
from bot.domain.models import Actor, Decision, RunState
from bot.domain.records import RunEvent, RunView
from bot.surfaces.render import plan_lines
from bot.surfaces.review.terminal import ask_to_merge
from bot.surfaces.terminal import LiveTerminal, TerminalSurface
from handlers.commands import dropped_repo


def _pump(runtime: Runtime, run_id: str, publish: object, seen: int) -> tuple[RunView, int]:
    view = runtime.store.view(run_id)
    assert view is not None
    events = runtime.store.events(run_id, after_seq=seen)
    for event in events:
        publish(view, event)  # type: ignore[operator]
    if events:
        seen = events[-1].seq
    elif seen == 0:
        publish(view, RunEvent(run_id=run_id, seq=0, kind="view"))  # type: ignore[operator]
    return view, seen


def latest_plan(runtime: Runtime, run_id: str) -> list[str]:
    """The run's plan as its last `plan_ready` event states it, in lines."""
    plans = [e for e in runtime.store.events(run_id) if e.kind == "plan_ready"]
    return plan_lines(plans[-1].data) if plans else []


def _until_dropped(runtime: Runtime, run_id: str, after_seq: int, poll_s: float, limit_s: float = 60.0) -> None:
    """Wait until the run took the drop (its plan shown again) or ended."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        kinds = {e.kind for e in runtime.store.events(run_id, after_seq=after_seq)}
        if kinds & {"repo_dropped", "drop_ignored"} or "state" in kinds:
            return
        time.sleep(poll_s)


def _waiting(view: RunView) -> bool:
    return view.run.state is RunState.awaiting_approval


def follow(
    runtime: Runtime,
    run_id: str,
    console: Console,
    approver: Actor,
    auto_approve: bool,
    interactive: bool,
    poll_s: float = 0.1,
) -> RunView:
    """Block until the run ends; returns its final view."""
    seen = 0
    surface = TerminalSurface(console)
    answered: set[datetime] = set()
    told = False
    while True:
        with LiveTerminal(console, surface=surface):
            while True:
                view, seen = _pump(runtime, run_id, surface.publish, seen)
                if view.run.state.terminal:
                    return view
                if _waiting(view) and view.run.updated_at not in answered and (auto_approve or interactive):
                    break
                if _waiting(view) and not told and not (auto_approve or interactive):
                    console.print(f"awaiting approval: run `baton approve {run_id}` to merge")
                    told = True
                time.sleep(poll_s)
        answered.add(view.run.updated_at)
        if auto_approve:
            decision = Decision.approve
        elif view.run.waiting_for != "plan" and view.changes:
            # The live view above is left on screen as it was last drawn: it is what is approved,
            # with each PR's size under it and its diff a `d` away.
            decision = ask_to_merge(console, view, runtime.forges, runtime.store.redact)
        else:
            planning = view.run.waiting_for == "plan"
            if planning:  # the plan as the run sees it now: its waves and, when discovered, the evidence
                for line in latest_plan(runtime, run_id):
                    console.print(line, markup=False, highlight=False, soft_wrap=True)
            what = "the plan" if planning else "and merge these PRs"
            drop = "/d <repo> (drop it)" if planning else ""
            answer = console.input(f"Approve {what}? [y/N/c(ancel){drop}] ", markup=False).strip()
            dropped = dropped_repo("drop " + answer[2:]) if planning and answer.lower().startswith("d ") else None
            if dropped:
                mark = runtime.store.last_seq(run_id)
                result = runtime.runs.drop_repo(run_id, approver, dropped)
                console.print(result.message, markup=False, highlight=False)
                if result.accepted:
                    _until_dropped(runtime, run_id, mark, poll_s)
                answered.discard(view.run.updated_at)  # ask again, about the plan as it now is
                continue
            decision = {"y": Decision.approve, "yes": Decision.approve, "c": Decision.cancel}.get(
                answer.lower(), Decision.reject
            )
        if decision is Decision.cancel:
            result = runtime.runs.cancel(run_id, approver)
        else:
            result = runtime.runs.decide(run_id, approver, decision, reason="from the terminal")
        console.print(f"{decision.value}: {result.message}")
