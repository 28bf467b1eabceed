"""`baton approve` / `baton reject` when no Baton process would carry the decision out.

A decision is a message to the run's workflow; some process executing runs on the same store
(`baton serve`, `baton worker`, a `baton run` still following it) takes it and merges or stops. When
none is alive (their heartbeats: bot/engine/recovery.py), the command becomes that process: it
launches the executor here (which also recovers the run from the process that died), records the
decision and follows the run until it ends or waits for people again — never "recorded" and then
nothing. `--no-wait` records it and says exactly what to start instead. A campaign's `skip` and
`close` (`act_and_follow`) are carried out the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console

from bot.app import Runtime
from bot.domain.models import Actor, Decision, RunState
from bot.domain.records import RunView
from bot.engine.approvals import DecisionResult
from bot.engine.recovery import live_executors
from bot.surfaces.render import one_line, short_sha, state_label

WAITING_AGAIN = frozenset({"approval_not_enough", "approval_requested"})
"""Events after which the run waits for people again: this command's part is over."""
QUIET_LIMIT_S = 600.0
"""Give up following after this long without a single event (the decision stays recorded)."""


def acting_process(runtime: Runtime) -> str | None:
    """A process that will act on a decision for this store ("pid 123 on host"), or None."""
    alive = live_executors(runtime.store)
    if not alive:
        return None
    _executor, host, pid = alive[0]
    return f"pid {pid} on {host}"


def nothing_running(where: str, start: str, command: str) -> str:
    """What to do when nobody will act on what was recorded; `command` the one that does it here."""
    return (
        f"No Baton process is running for {where} to carry this out. Start `{start}` (or `baton worker`) "
        f"and it will, or run `{command}` to do it here."
    )


def _line(run_id: str, kind: str, data: dict[str, object]) -> str | None:
    """One line for a milestone after the decision; None for the rest."""
    if kind == "state":
        to = str(data.get("to", ""))
        error = f": {one_line(str(data['error']), 200)}" if data.get("error") else ""
        label = state_label(RunState(to)) if to in RunState._value2member_map_ else to
        return f"[{run_id}] {label}{error}"
    if kind == "merged":
        return (
            f"[{run_id}] PR merged: {data.get('repo')}#{data.get('number')} ({short_sha(str(data.get('sha') or ''))})"
        )
    if kind == "merge_failed":
        return f"[{run_id}] merge failed: {data.get('repo')}: {one_line(str(data.get('error', '')), 200)}"
    if kind == "approval_not_enough":
        return f"[{run_id}] still waiting: {data.get('reason')}"
    if kind == "approval_requested":
        return f"[{run_id}] waiting for approval again"
    return None


def _waits_again(kind: str, data: dict[str, object]) -> bool:
    """The run waits for people again: asked for an approval, or back in its wait (a campaign that
    took a command and wants the next one asks for nothing new, it only waits)."""
    return kind in WAITING_AGAIN or (kind == "state" and data.get("to") == RunState.awaiting_approval.value)


def follow_decision(
    runtime: Runtime, run_id: str, after_seq: int, say: Callable[[str], None], poll_s: float = 0.1
) -> RunView:
    """Print the run's milestones from `after_seq` until it ends or waits for people again."""
    seen = after_seq
    quiet_since = time.monotonic()
    while True:
        events = runtime.store.events(run_id, after_seq=seen)
        for event in events:
            line = _line(run_id, event.kind, event.data)
            if line:
                say(line)
        if events:
            seen = events[-1].seq
            quiet_since = time.monotonic()
        view = runtime.store.view(run_id)
        assert view is not None
        if view.run.state.terminal or any(_waits_again(e.kind, e.data) for e in events):
            return view
        if time.monotonic() - quiet_since > QUIET_LIMIT_S:
            say(f"[{run_id}] nothing happened for {QUIET_LIMIT_S / 60:.0f} min; the decision stays recorded")
            return view
        time.sleep(poll_s)


def decide_and_follow(
    runtime: Runtime, run_id: str, actor: Actor, decision: Decision, reason: str, console: Console
) -> tuple[DecisionResult, RunView | None]:
    """Record the decision in this (launched) runtime and follow the run to its next stop."""
    return act_and_follow(runtime, run_id, lambda: runtime.runs.decide(run_id, actor, decision, reason), console)


def act_and_follow(
    runtime: Runtime, run_id: str, act: Callable[[], DecisionResult], console: Console
) -> tuple[DecisionResult, RunView | None]:
    """Do `act` (a decision, a campaign's skip or close) in this (launched) runtime and follow the
    run to its next stop; no view when it was refused."""
    mark = runtime.store.last_seq(run_id)
    result = act()
    console.print(result.message, highlight=False, soft_wrap=True)
    if not result.accepted:
        return result, None

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    return result, follow_decision(runtime, run_id, mark, say)
