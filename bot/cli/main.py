"""The `baton` command: run, demo, runs list/show, approve, reject, cancel, retry, audit, budget,
doctor, migrate, serve and worker.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from bot.app import Runtime
from bot.config.base import ConfigError
from bot.config.settings import Settings
from bot.demo.sandbox import DEFAULT_CLIENTS
from bot.doctor import doctor_report
from bot.domain.models import Budget, Decision
from bot.engine.intake import RequestError, build_spec
from bot.observability.logging import configure, process_secrets
from bot.surfaces.jsonview import run_json
from bot.surfaces.terminal import timeline_text
from handlers.cli import cli_trigger, operator

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)
runs_app = typer.Typer(no_args_is_help=True, help="Read runs.")
app.add_typer(runs_app, name="runs")
console = Console()


def _runtime(
    settings: Settings | None = None, launch: bool = False, log_to_file: bool = False, migrate: bool = True
) -> Runtime:
    """`log_to_file`: the terminal shows a live view, so logs go to `<home>/baton.log`."""
    settings = settings or Settings()
    log_file = settings.home / "baton.log" if log_to_file else None
    configure(settings.log_format, _secrets(settings), log_file=log_file)
    try:
        runtime = Runtime(settings, migrate=migrate)
    except ConfigError as err:
        console.print(f"[red]configuration error:[/red] {err}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    if launch:
        runtime.launch()
    return runtime


def _parking() -> Settings:
    """`serve` and `worker`: a run waiting for a person parks (unless BATON_PARK_WAITS=0); their
    scheduler (serve's) expires parked runs."""
    settings = Settings()
    return settings if settings.park_waits is not None else settings.model_copy(update={"park_waits": True})


def _secrets(settings: Settings) -> list[str]:
    return process_secrets(settings)


def _start_and_follow(
    runtime: Runtime,
    request: str,
    repos: list[str],
    playbook: str | None,
    agent: str | None,
    budget: str | None,
    yes: bool,
) -> int:
    from bot.cli.foreground import follow
    from bot.engine.budget import parse_usd

    try:
        usd = parse_usd(budget) if budget else None
        spec = build_spec(
            cli_trigger(request),
            runtime.config,
            repos=repos,
            agent=agent,
            playbook=playbook,
            budget_usd=usd,
        )
    except (RequestError, ValueError) as err:
        console.print(f"[red]bad request:[/red] {err}")
        return 2
    run_id = runtime.runs.submit(spec)
    console.print(f"run {run_id} started: {', '.join(spec.repos) or 'no repos'}", highlight=False)
    view = follow(runtime, run_id, console, operator(), yes, sys.stdin.isatty() and not yes)
    if view.run.error:
        console.print(f"[red]{view.run.state.value}:[/red] {view.run.error}", highlight=False)
    console.print(f"run {run_id} ended {view.run.state.value}", highlight=False)
    return 0 if view.run.state.value == "merged" else 1


@app.command()
def run(
    request: Annotated[str, typer.Argument(help="What to change, in words.")],
    repo: Annotated[list[str], typer.Option("--repo", help="A configured repo (repeat).")] = [],  # noqa: B006
    playbook: Annotated[str | None, typer.Option(help="A playbook from baton.yml.")] = None,
    agent: Annotated[str | None, typer.Option(help="Use this agent instead of routing.")] = None,
    budget: Annotated[str | None, typer.Option(help="Spending limit, e.g. $5.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Approve without asking.")] = False,
) -> None:
    """Start a run from the terminal and follow it to the end."""
    runtime = _runtime(launch=True, log_to_file=True)
    try:
        code = _start_and_follow(runtime, request, repo, playbook, agent, budget, yes)
    finally:
        runtime.shutdown()
    raise typer.Exit(code)


@app.command()
def demo(
    yes: Annotated[bool, typer.Option("--yes", help="Approve without asking.")] = False,
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to build the sandbox.")] = None,
    clients: Annotated[int, typer.Option(help="How many client services.")] = DEFAULT_CLIENTS,
) -> None:
    """Rename an API endpoint across an API and its clients, on local git remotes."""
    from bot.demo import create_sandbox

    root = directory or Path(tempfile.mkdtemp(prefix="baton-demo-"))
    started = time.monotonic()
    sandbox = create_sandbox(root, clients=clients)
    console.print(f"sandbox: {root} (remotes: {', '.join(sandbox.remotes)})", highlight=False)
    settings = Settings(config=sandbox.config_path, home=root / ".baton", database_url=None)
    runtime = _runtime(settings, launch=True, log_to_file=True)
    try:
        code = _start_and_follow(runtime, sandbox.request, list(sandbox.remotes), None, None, None, yes)
    finally:
        runtime.shutdown()
    console.print(f"demo finished in {time.monotonic() - started:.1f}s", highlight=False)
    raise typer.Exit(code)


@runs_app.command("list")
def runs_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """Recent runs, newest first."""
    runtime = _runtime()
    try:
        views = [runtime.store.view(r.run_id) for r in runtime.store.list_runs(limit)]
        rows = [run_json(v) for v in views if v is not None]
    finally:
        runtime.shutdown()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        typer.echo(
            f"{row['run_id']}  {row['state']:<18} {row['source']:<8} {','.join(row['repos']):<30} "
            f"${row['cost_usd']:.4f}  {row['request'][:60]}"
        )


@runs_app.command("show")
def runs_show(
    run_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print every PR's diff instead (paths a/<repo>/...).")] = False,
) -> None:
    """One run: timeline of events, steps, PRs, approvals, cost."""
    runtime = _runtime()
    try:
        view = runtime.store.view(run_id)
        events = runtime.store.events(run_id)
        if diff and view is not None:
            from bot.surfaces.review.terminal import coloured, patch_text

            patch = patch_text(runtime.forges, view, runtime.store.redact)
            typer.echo(coloured(patch) if sys.stdout.isatty() else patch, nl=False)
            return
    finally:
        runtime.shutdown()
    if view is None:
        typer.echo(f"no run {run_id}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(run_json(view, events), indent=2) if as_json else timeline_text(view, events))


def _decide(run_id: str, decision: Decision, reason: str = "") -> None:
    runtime = _runtime()
    try:
        result = runtime.runs.decide(run_id, operator(), decision, reason)
    finally:
        runtime.shutdown()
    typer.echo(result.message)
    raise typer.Exit(0 if result.accepted else 1)


@app.command()
def approve(run_id: str) -> None:
    """Approve a run's PRs at their current heads; they merge if checks are green."""
    _decide(run_id, Decision.approve)


@app.command()
def reject(run_id: str, reason: Annotated[str, typer.Option()] = "") -> None:
    """Reject a run waiting for approval."""
    _decide(run_id, Decision.reject, reason)


@app.command()
def cancel(run_id: str) -> None:
    """Cancel a run and kill its agents."""
    runtime = _runtime()
    try:
        result = runtime.runs.cancel(run_id, operator())
    finally:
        runtime.shutdown()
    typer.echo(result.message)
    raise typer.Exit(0 if result.accepted else 1)


@app.command()
def retry(run_id: str, wait: Annotated[bool, typer.Option("--wait/--no-wait")] = True) -> None:
    """Retry a failed run: finished repos are kept, the rest (or the merge train) runs again."""
    from bot.cli.foreground import follow

    runtime = _runtime(launch=True)
    try:
        result = runtime.runs.retry(run_id, operator())
        typer.echo(result.message)
        if result.accepted and wait:
            follow(runtime, run_id, console, operator(), False, sys.stdin.isatty())
    finally:
        runtime.shutdown()
    raise typer.Exit(0 if result.accepted else 1)


@app.command()
def audit(
    run: Annotated[str | None, typer.Option("--run", help="Only this run's records.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array for scripts.")] = False,
) -> None:
    """The audit trail, oldest first: triggers, approvals, rejections, refused clicks and commands,
    merges, cancellations and retries, with who, from where, why, and the SHAs involved."""
    from bot.store.audit import audit_table

    runtime = _runtime()
    try:
        records = runtime.store.audit.records(run_id=run)
    finally:
        runtime.shutdown()
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    typer.echo(audit_table(records))


@app.command()
def budget(run_id: str, usd: Annotated[float, typer.Option(help="New USD limit.")]) -> None:
    """Raise the budget of a run that paused because it ran out."""
    runtime = _runtime()
    try:
        result = runtime.runs.extend_budget(run_id, operator(), Budget(max_usd=usd))
    finally:
        runtime.shutdown()
    typer.echo(result.message)
    raise typer.Exit(0 if result.accepted else 1)


@app.command()
def doctor() -> None:
    """What is configured, what is missing, and whether git and each agent are present."""
    settings = Settings()
    report, ok = doctor_report(settings)
    typer.echo(report)
    raise typer.Exit(0 if ok else 1)


@app.command()
def migrate() -> None:
    """Apply the database migrations: DBOS's system tables, then the store's (Alembic)."""
    _runtime().shutdown()
    typer.echo("migrations applied")


def _await_schema(runtime: Runtime, timeout_s: float) -> None:
    """Wait until the schema is current (another process migrates it); exit 2 if it never is."""
    deadline = time.monotonic() + timeout_s
    while (problem := runtime.schema_problem()) is not None:
        if time.monotonic() >= deadline:
            runtime.shutdown()
            console.print(
                f"[red]not starting:[/red] {problem}; apply them with `baton migrate` or start `baton serve`",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2)
        time.sleep(0.5)


@app.command()
def worker(
    drain: Annotated[bool, typer.Option("--drain", help="Exit once no run is in progress.")] = False,
    schema_wait: Annotated[
        float, typer.Option(help="Seconds to wait for `baton migrate` or `baton serve` to migrate the database.")
    ] = 120,
    metrics_port: Annotated[int, typer.Option(help="Serve this worker's GET /metrics on this port (0: off).")] = 0,
    metrics_host: Annotated[str, typer.Option(help="The address --metrics-port listens on.")] = "127.0.0.1",
) -> None:
    """Execute runs from the queues (and recover runs of processes that died). A worker never
    migrates the database: it waits until `baton migrate` or `baton serve` has."""
    runtime = _runtime(_parking(), migrate=False)
    _await_schema(runtime, schema_wait)
    runtime.launch()
    # The errors this worker's API clients see are counted in this process: let Prometheus read them.
    stop_metrics = runtime.metrics.serve(metrics_port, metrics_host) if metrics_port else None
    try:
        while True:
            time.sleep(0.5)
            if drain and not runtime.runs.has_active_runs():
                break
    except KeyboardInterrupt:
        pass
    finally:
        if stop_metrics is not None:
            stop_metrics()
        runtime.shutdown()


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    socket_mode: Annotated[bool, typer.Option("--socket-mode")] = False,
    execute: Annotated[
        bool, typer.Option("--execute", help="On PostgreSQL, execute runs here too (on SQLite serve always does).")
    ] = False,
    no_migrate: Annotated[
        bool, typer.Option("--no-migrate", help="Do not migrate the database on start (`baton migrate` does).")
    ] = False,
) -> None:
    """Serve webhooks, health, metrics and the dashboard. On SQLite it executes runs too; on
    PostgreSQL it only enqueues them for `baton worker` processes, unless --execute. With
    --socket-mode, Slack is reached over a Socket Mode connection (SLACK_APP_TOKEN) instead of a
    public URL."""
    import uvicorn

    from bot.web import create_web_app

    if socket_mode:
        from bot.web import socket_mode_app, socket_mode_problem

        problem = socket_mode_problem(Settings())
        if problem:
            console.print(problem, highlight=False, soft_wrap=True)
            raise typer.Exit(2)
    runtime = _runtime(_parking(), migrate=not no_migrate)
    if execute or runtime.settings.store_url.startswith("sqlite"):
        runtime.launch()
    try:
        web = socket_mode_app(runtime) if socket_mode else create_web_app(runtime)
        # log_config=None: uvicorn's records go through our JSON, redacting pipeline (bot/observability/logging.py).
        uvicorn.run(web, host=host, port=port, log_level="warning", log_config=None)
    finally:
        runtime.shutdown()


def main() -> None:
    """Run the command, then leave at once: DBOS is already shut down by then, and a run waiting
    for approval keeps a DBOS executor thread blocked in `recv` that would otherwise hold the
    interpreter's exit for as long as the wait (the run itself stays durable for the next process)."""
    try:
        app()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    except Exception as err:  # people get one line; the traceback goes to the log file
        settings = Settings()
        home = settings.home
        home.mkdir(parents=True, exist_ok=True)
        with (home / "baton.log").open("a", encoding="utf-8") as log_file:
            traceback.print_exc(file=log_file)
        text = " ".join(str(err).split())[:300]
        secrets = _secrets(settings) + ([settings.database_url] if settings.database_url else [])
        for secret in secrets:
            text = text.replace(secret, "[REDACTED]")
        console.print(f"baton: {type(err).__name__}: {text} (details in {home / 'baton.log'})", highlight=False)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
