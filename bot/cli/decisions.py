"""The commands that act on one run as a person would from a chat surface: approve, reject, cancel,
retry, revert, a campaign's skip and close, and budget (registered on the `baton` app by
bot/cli/main.py, in `--help` order).

Like main.py, only typer and the standard library load at import; each command imports the
runtime when it runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import support

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.domain.models import Decision
    from bot.engine.approvals import DecisionResult
    from bot.engine.commands import RunCommands


def _decide(run_id: str, decision: Decision, reason: str = "", wait: bool = True) -> None:
    """Record a decision; when no Baton process will act on it, carry it out here (or, with
    `--no-wait`, say what to start)."""
    from bot.cli.decide_here import acting_process, decide_and_follow, nothing_running
    from handlers.cli import operator

    settings = support.load_settings()
    runtime = support.build_runtime(settings)
    try:
        run = runtime.store.get_run(run_id)
        waiting = run is not None and run.state.value == "awaiting_approval"
        acting = acting_process(runtime) if waiting else None
        if not waiting or acting is not None or not wait:
            result = runtime.runs.decide(run_id, operator(), decision, reason)
            typer.echo(result.message)
            if run is None:
                typer.echo(f"(looked in {support.where_runs_are(settings)})", err=True)
            elif result.accepted and acting is not None:
                typer.echo(f"the Baton process running for this home ({acting}) carries it out")
            elif result.accepted:
                start = f"baton --home {settings.home.resolve()} serve"
                typer.echo(nothing_running(support.where_runs_are(settings), start, f"baton {decision.value} {run_id}"))
            raise typer.Exit(0 if result.accepted else 1)
    finally:
        runtime.shutdown()
    here = f"no Baton process is running for {support.where_runs_are(settings)}: carrying the {decision.value} out here"
    support.console().print(here, markup=False, highlight=False, soft_wrap=True)
    runtime = support.build_runtime(support.parking_settings(), launch=True, log_to_file=True)
    try:
        result, view = decide_and_follow(runtime, run_id, operator(), decision, reason, support.console())
    finally:
        runtime.shutdown()
    if view is not None:
        typer.echo(f"run {run_id} is {view.run.state.value}")
    wanted = "merged" if decision.value == "approve" else "rejected"
    raise typer.Exit(0 if view is not None and view.run.state.value == wanted else 1)


_WAIT = typer.Option("--wait/--no-wait", help="With no Baton process running, carry it out here (default).")


def approve(run_id: str, wait: Annotated[bool, _WAIT] = True) -> None:
    """Approve a run's PRs at their current heads; they merge if checks are green."""
    from bot.domain.models import Decision

    _decide(run_id, Decision.approve, wait=wait)


def reject(
    run_id: str,
    reason: Annotated[str, typer.Option(help="Why, for the requester.")] = "",
    wait: Annotated[bool, _WAIT] = True,
) -> None:
    """Reject a run waiting for approval."""
    from bot.domain.models import Decision

    _decide(run_id, Decision.reject, reason, wait=wait)


def cancel(run_id: str) -> None:
    """Cancel a run and kill its agents."""
    from handlers.cli import operator

    runtime = support.build_runtime()
    try:
        result = runtime.runs.cancel(run_id, operator())
    finally:
        runtime.shutdown()
    typer.echo(result.message)
    raise typer.Exit(0 if result.accepted else 1)


def retry(
    run_id: str,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run here (default).")] = True,
) -> None:
    """Retry a failed run: finished repos are kept, the rest (or the merge train) runs again."""
    from bot.cli.foreground import follow
    from handlers.cli import operator

    runtime = support.build_runtime(launch=True)
    try:
        result = runtime.runs.retry(run_id, operator())
        typer.echo(result.message)
        if result.accepted and wait:
            follow(runtime, run_id, support.console(), operator(), False, sys.stdin.isatty())
    finally:
        runtime.shutdown()
    raise typer.Exit(0 if result.accepted else 1)


def revert(
    run_id: str,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the revert run here (default).")] = True,
) -> None:
    """Revert a merged run: a revert run opens revert PRs for the whole set in reverse merge order,
    which merge after an authorised approval (also `baton runs revert`)."""
    from bot.cli.foreground import follow
    from bot.engine.revert_spec import revert_run_id
    from handlers.cli import operator

    runtime = support.build_runtime(launch=True)
    try:
        result = runtime.runs.revert(run_id, operator())
        typer.echo(result.message)
        if result.accepted and wait:
            follow(runtime, revert_run_id(run_id), support.console(), operator(), False, sys.stdin.isatty())
    finally:
        runtime.shutdown()
    raise typer.Exit(0 if result.accepted else 1)


def _tell_campaign(run_id: str, command: str, act: Callable[[RunCommands], DecisionResult], wait: bool) -> str:
    """Give a campaign a command (`command`: how to type it); when no Baton process will act on it,
    carry it out here and follow the campaign until it ends or waits for people again (or, with
    `--no-wait`, say what to start). Ends the command unless it followed the campaign here: then
    the state the campaign stopped in."""
    from bot.cli.decide_here import act_and_follow, acting_process, nothing_running

    settings = support.load_settings()
    runtime = support.build_runtime(settings)
    try:
        run = runtime.store.get_run(run_id)
        # Only a campaign still going is carried out here: anything else is refused without
        # starting an executor (which would also take over other runs of processes that died).
        live = run is not None and not run.state.terminal and _is_campaign(runtime.runs, run.spec.playbook)
        acting = acting_process(runtime) if live else None
        if not live or acting is not None or not wait:
            result = act(runtime.runs)
            typer.echo(result.message)
            if run is None:
                typer.echo(f"(looked in {support.where_runs_are(settings)})", err=True)
            elif result.accepted and acting is not None:
                typer.echo(f"the Baton process running for this home ({acting}) carries it out")
            elif result.accepted:
                start = f"baton --home {settings.home.resolve()} serve"
                typer.echo(nothing_running(support.where_runs_are(settings), start, command))
            raise typer.Exit(0 if result.accepted else 1)
    finally:
        runtime.shutdown()
    here = f"no Baton process is running for {support.where_runs_are(settings)}: carrying out `{command}` here"
    support.console().print(here, markup=False, highlight=False, soft_wrap=True)
    runtime = support.build_runtime(support.parking_settings(), launch=True, log_to_file=True)
    try:
        result, view = act_and_follow(runtime, run_id, lambda: act(runtime.runs), support.console())
    finally:
        runtime.shutdown()
    if view is None:
        raise typer.Exit(1)
    waiting = f", waiting for {view.run.waiting_for}" if view.run.state.value == "awaiting_approval" else ""
    typer.echo(f"run {run_id} is {view.run.state.value}{waiting}")
    return view.run.state.value


def _is_campaign(runs: RunCommands, playbook: str) -> bool:
    try:
        return runs.config.playbook(playbook).campaign is not None
    except KeyError:
        return False


def skip(run_id: str, repo: str, wait: Annotated[bool, _WAIT] = True) -> None:
    """Drop one repo from a campaign: nothing more starts in it and its open PR is closed or left
    per `campaign.on_close`; the rest of the campaign goes on."""
    from handlers.cli import operator

    state = _tell_campaign(
        run_id, f"baton skip {run_id} {repo}", lambda runs: runs.skip(run_id, operator(), repo), wait
    )
    raise typer.Exit(1 if state == "failed" else 0)


def close(run_id: str, wait: Annotated[bool, _WAIT] = True) -> None:
    """End a campaign: nothing more starts or merges; its open PRs are closed or left per
    `campaign.on_close`."""
    from handlers.cli import operator

    state = _tell_campaign(run_id, f"baton close {run_id}", lambda runs: runs.close(run_id, operator()), wait)
    raise typer.Exit(0 if state == "cancelled" else 1)


def budget(run_id: str, usd: Annotated[float, typer.Option(help="New USD limit.")]) -> None:
    """Raise the budget of a run that paused because it ran out."""
    from bot.domain.models import Budget
    from handlers.cli import operator

    runtime = support.build_runtime()
    try:
        result = runtime.runs.extend_budget(run_id, operator(), Budget(max_usd=usd))
    finally:
        runtime.shutdown()
    typer.echo(result.message)
    raise typer.Exit(0 if result.accepted else 1)
