"""Following a run in the terminal: render it live and ask for approval at the prompt
(or approve non-interactively with `--yes`) until it ends.
"""

from __future__ import annotations

import time
from datetime import datetime

from rich.console import Console

from bot.app import Runtime
from bot.domain.models import Actor, Decision, RunEvent, RunState, RunView
from bot.surfaces.review.terminal import ask_to_merge
from bot.surfaces.terminal import LiveTerminal, TerminalSurface


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
            what = "the plan" if view.run.waiting_for == "plan" else "and merge these PRs"
            answer = console.input(f"Approve {what}? [y/N/c(ancel)] ", markup=False).strip().lower()
            decision = {"y": Decision.approve, "yes": Decision.approve, "c": Decision.cancel}.get(
                answer, Decision.reject
            )
        if decision is Decision.cancel:
            result = runtime.runs.cancel(run_id, approver)
        else:
            result = runtime.runs.decide(run_id, approver, decision, reason="from the terminal")
        console.print(f"{decision.value}: {result.message}")
