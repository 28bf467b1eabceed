"""The `baton` command: run, demo, runs list/show, approve, reject, cancel, retry, audit, budget,
doctor, migrate, serve and worker, plus the global `--config`, `--home` and `--version`.

Only typer and the standard library load at import: `baton --help` starts no runtime and imports no
DBOS (every command imports what it needs when it runs).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from bot.app import Runtime
    from bot.config import Settings
    from bot.domain import Decision, RunSpec

ABOUT = """Baton: a self-hosted ChatOps control plane for coding agents.

A person asks for a change where they already talk (a Slack mention, a GitHub or Linear issue, or
`baton run` here); Baton plans it, drives coding agents (Claude Code, Codex, Cursor, Aider,
opencode, or any command) in each affected repository, opens linked pull requests, reports
progress, and merges them in order only after an authorised person approves, with every PR still
at the approved commit and green.

Start with `baton demo` (offline, a few seconds), then `baton doctor` for your own baton.yml.
Configuration: the nearest baton.yml from here up (--config, BATON_CONFIG); state: the .baton
directory beside it (--home, BATON_HOME).
"""

app = typer.Typer(no_args_is_help=True, add_completion=False, help=ABOUT, rich_markup_mode=None)
runs_app = typer.Typer(no_args_is_help=True, help="Read runs.", rich_markup_mode=None)
app.add_typer(runs_app, name="runs")


@cache
def _console() -> Console:
    from rich.console import Console

    return Console()


def _error(label: str, text: str) -> None:
    """`label: text` with the label in red; the text is printed as is (`repos[api]` is no markup)."""
    from rich.markup import escape

    _console().print(f"[red]{escape(label)}:[/red] {escape(text)}", highlight=False, soft_wrap=True)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"baton {version('baton')}")
        raise typer.Exit(0)


@app.callback()
def _options(
    config: Annotated[
        Path | None, typer.Option("--config", help="The baton.yml to use (default: the nearest one from here up).")
    ] = None,
    home: Annotated[
        Path | None, typer.Option("--home", help="Where state lives (default: .baton beside the baton.yml).")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", callback=_print_version, is_eager=True)
    ] = False,
) -> None:
    # Every command (and what it starts) reads these through Settings, as if set in the environment.
    if config is not None:
        os.environ["BATON_CONFIG"] = str(config)
    if home is not None:
        os.environ["BATON_HOME"] = str(home)


def _settings() -> Settings:
    from bot.config import Settings

    return Settings()


def _where(settings: Settings) -> str:
    from bot.home import where

    return where(settings.home, settings.database_url)


def _runtime(
    settings: Settings | None = None, launch: bool = False, log_to_file: bool = False, migrate: bool = True
) -> Runtime:
    """`log_to_file`: the terminal shows a live view, so logs go to `<home>/baton.log`."""
    from bot.app import Runtime
    from bot.config import ConfigError
    from bot.telemetry import configure

    settings = settings or _settings()
    log_file = settings.home / "baton.log" if log_to_file else None
    configure(settings.log_format, _secrets(settings), log_file=log_file)
    try:
        runtime = Runtime(settings, migrate=migrate)
    except ConfigError as err:
        _error("configuration error", str(err))
        raise typer.Exit(2) from None
    if launch:
        runtime.launch()
    return runtime


def _config_or_exit(settings: Settings) -> None:
    """Exit 2 with the reason when baton.yml is invalid (as every command that builds a runtime does)."""
    from bot.config import ConfigError, load_baton_file

    try:
        load_baton_file(settings.config)
    except ConfigError as err:
        _error("configuration error", str(err))
        raise typer.Exit(2) from None


def _parking() -> Settings:
    """`serve` and `worker`: a run waiting for a person parks (unless BATON_PARK_WAITS=0); their
    scheduler (serve's) expires parked runs."""
    settings = _settings()
    return settings if settings.park_waits is not None else settings.model_copy(update={"park_waits": True})


def _secrets(settings: Settings) -> list[str]:
    from bot.telemetry import process_secrets

    return process_secrets(settings)


def _prepared(
    settings: Settings,
    request: str,
    repos: list[str],
    playbook: str | None,
    agent: str | None,
    budget: str | None,
) -> RunSpec:
    """The run's spec, or exit before anything is recorded (or even a home created): 2 for a
    request that cannot be read or an invalid config, 1 for one preflight refuses."""
    from bot.config import ConfigError, load_baton_file
    from bot.engine.budget import parse_usd
    from bot.intake import RequestError, build_spec
    from bot.preflight import refusal
    from handlers.cli import cli_trigger

    try:
        config = load_baton_file(settings.config)
    except ConfigError as err:
        _error("configuration error", str(err))
        raise typer.Exit(2) from None
    try:
        usd = parse_usd(budget) if budget else None
        spec = build_spec(cli_trigger(request), config, repos=repos, agent=agent, playbook=playbook, budget_usd=usd)
    except (RequestError, ValueError) as err:
        _error("bad request", str(err))
        raise typer.Exit(2) from None
    problem = refusal(config, spec, name_repos="Name them with --repo NAME.")
    if problem:
        _error("not started", problem)
        raise typer.Exit(1)
    return spec


def _start_and_follow(runtime: Runtime, spec: RunSpec, yes: bool) -> int:
    """Record and start the run, follow it here; 0 when it merged."""
    from bot.foreground import follow
    from handlers.cli import operator

    console = _console()
    run_id = runtime.submit(spec)
    console.print(f"run {run_id} started: {', '.join(spec.repos) or 'no repos'}", markup=False, highlight=False)
    view = follow(runtime, run_id, console, operator(), yes, sys.stdin.isatty() and not yes)
    if view.run.error:
        _error(view.run.state.value, view.run.error)
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
    settings = _settings()
    spec = _prepared(settings, request, repo, playbook, agent, budget)
    runtime = _runtime(settings, launch=True, log_to_file=True)
    try:
        code = _start_and_follow(runtime, spec, yes)
    finally:
        runtime.shutdown()
    raise typer.Exit(code)


@app.command()
def demo(
    yes: Annotated[bool, typer.Option("--yes", help="Approve without asking.")] = False,
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to build the sandbox.")] = None,
    clients: Annotated[int | None, typer.Option(help="How many client services (default 6).")] = None,
) -> None:
    """Rename an API endpoint across an API and its clients, on local git remotes."""
    import tempfile

    from bot.config import Settings
    from bot.demo import create_sandbox
    from bot.demo.next_steps import command_name, next_steps
    from bot.demo.sandbox import DEFAULT_CLIENTS

    console = _console()
    root = (directory or Path(tempfile.mkdtemp(prefix="baton-demo-"))).resolve()
    started = time.monotonic()
    sandbox = create_sandbox(root, clients=DEFAULT_CLIENTS if clients is None else clients)
    console.print(f"sandbox: {root} (remotes: {', '.join(sandbox.remotes)})", markup=False, highlight=False)
    settings = Settings(config=sandbox.config_path, home=root / ".baton", database_url=None)
    spec = _prepared(settings, sandbox.request, list(sandbox.remotes), None, None, None)
    runtime = _runtime(settings, launch=True, log_to_file=True)
    try:
        code = _start_and_follow(runtime, spec, yes)
    finally:
        runtime.shutdown()
    console.print(f"demo finished in {time.monotonic() - started:.1f}s", highlight=False)
    text = next_steps(spec.run_id, sandbox.config_path, settings.home, command_name(sys.argv[0]))
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@runs_app.command("list")
def runs_list(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array for scripts.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
) -> None:
    """Recent runs, newest first: state, age, source, repos, cost, the request, and why a run failed."""
    import json

    from bot.home import has_store
    from bot.jsonview import run_json

    settings = _settings()
    _config_or_exit(settings)
    if not has_store(settings.home, settings.database_url):  # nothing to read: create nothing either
        typer.echo("[]" if as_json else f"no runs in {_where(settings)}")
        return
    runtime = _runtime(settings)
    try:
        views = [v for v in (runtime.store.view(r.run_id) for r in runtime.store.list_runs(limit)) if v is not None]
    finally:
        runtime.shutdown()
    if as_json:
        typer.echo(json.dumps([run_json(v) for v in views], indent=2))
        return
    if not views:
        typer.echo(f"no runs in {_where(settings)}")
        return
    from bot.surfaces.runs_table import runs_table

    console = _console()
    if not console.is_terminal:  # a pipe or a file: one line per run, however wide, for grep and less
        from rich.console import Console

        console = Console(width=250)
    console.print(runs_table(views))


@runs_app.command("show")
def runs_show(
    run_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
    events: Annotated[bool, typer.Option("--events", help="Also list every event, numbered.")] = False,
) -> None:
    """One run: what was asked and how it ended, steps, PRs, approvals, cost (--events: the timeline)."""
    import json

    from bot.jsonview import run_json
    from bot.surfaces.terminal import timeline_text

    settings = _settings()
    runtime = _runtime(settings)
    try:
        view = runtime.store.view(run_id)
        history = runtime.store.events(run_id)
    finally:
        runtime.shutdown()
    if view is None:
        typer.echo(f"no run {run_id} in {_where(settings)}", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(run_json(view, history), indent=2))
        return
    typer.echo(timeline_text(view, history, with_events=events))


def _decide(run_id: str, decision: Decision, reason: str = "", wait: bool = True) -> None:
    """Record a decision; when no Baton process will act on it, carry it out here (or, with
    `--no-wait`, say what to start)."""
    from bot.decide_here import acting_process, decide_and_follow, nothing_running
    from handlers.cli import operator

    settings = _settings()
    runtime = _runtime(settings)
    try:
        run = runtime.store.get_run(run_id)
        waiting = run is not None and run.state.value == "awaiting_approval"
        acting = acting_process(runtime) if waiting else None
        if not waiting or acting is not None or not wait:
            result = runtime.decide(run_id, operator(), decision, reason)
            typer.echo(result.message)
            if run is None:
                typer.echo(f"(looked in {_where(settings)})", err=True)
            elif result.accepted and acting is not None:
                typer.echo(f"the Baton process running for this home ({acting}) carries it out")
            elif result.accepted:
                start = f"baton --home {settings.home.resolve()} serve"
                typer.echo(nothing_running(_where(settings), start, run_id, decision.value))
            raise typer.Exit(0 if result.accepted else 1)
    finally:
        runtime.shutdown()
    here = f"no Baton process is running for {_where(settings)}: carrying the {decision.value} out here"
    _console().print(here, markup=False, highlight=False, soft_wrap=True)
    runtime = _runtime(_parking(), launch=True, log_to_file=True)
    try:
        result, view = decide_and_follow(runtime, run_id, operator(), decision, reason, _console())
    finally:
        runtime.shutdown()
    if view is not None:
        typer.echo(f"run {run_id} is {view.run.state.value}")
    wanted = "merged" if decision.value == "approve" else "rejected"
    raise typer.Exit(0 if view is not None and view.run.state.value == wanted else 1)


_WAIT = typer.Option("--wait/--no-wait", help="With no Baton process running, carry it out here (default).")


@app.command()
def approve(run_id: str, wait: Annotated[bool, _WAIT] = True) -> None:
    """Approve a run's PRs at their current heads; they merge if checks are green."""
    from bot.domain import Decision

    _decide(run_id, Decision.approve, wait=wait)


@app.command()
def reject(
    run_id: str,
    reason: Annotated[str, typer.Option(help="Why, for the requester.")] = "",
    wait: Annotated[bool, _WAIT] = True,
) -> None:
    """Reject a run waiting for approval."""
    from bot.domain import Decision

    _decide(run_id, Decision.reject, reason, wait=wait)


@app.command()
def cancel(run_id: str) -> None:
    """Cancel a run and kill its agents."""
    from handlers.cli import operator

    runtime = _runtime()
    try:
        result = runtime.cancel(run_id, operator())
    finally:
        runtime.shutdown()
    typer.echo(result.message)
    raise typer.Exit(0 if result.accepted else 1)


@app.command()
def retry(
    run_id: str,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run here (default).")] = True,
) -> None:
    """Retry a failed run: finished repos are kept, the rest (or the merge train) runs again."""
    from bot.foreground import follow
    from handlers.cli import operator

    runtime = _runtime(launch=True)
    try:
        result = runtime.retry(run_id, operator())
        typer.echo(result.message)
        if result.accepted and wait:
            follow(runtime, run_id, _console(), operator(), False, sys.stdin.isatty())
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
    import json

    from bot.audit import audit_table

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
    from bot.domain import Budget
    from handlers.cli import operator

    runtime = _runtime()
    try:
        result = runtime.extend_budget(run_id, operator(), Budget(max_usd=usd))
    finally:
        runtime.shutdown()
    typer.echo(result.message)
    raise typer.Exit(0 if result.accepted else 1)


@app.command()
def doctor() -> None:
    """What is configured, what is missing, and whether git, each agent, each repo's URL and its
    checks program are there."""
    from bot.doctor import doctor_report

    report, ok = doctor_report(_settings())
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
            _console().print(
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
            if drain and not runtime.has_active_runs():
                break
    except KeyboardInterrupt:
        pass
    finally:
        if stop_metrics is not None:
            stop_metrics()
        runtime.shutdown()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.")] = 8000,
    socket_mode: Annotated[bool, typer.Option("--socket-mode", help="Reach Slack over Socket Mode.")] = False,
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

    from bot.serve_banner import banner
    from bot.web import create_web_app

    if socket_mode:
        from handlers.slack_socket import socket_mode_app, socket_mode_problem

        problem = socket_mode_problem(_settings())
        if problem:
            _console().print(problem, markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2)
    runtime = _runtime(_parking(), migrate=not no_migrate)
    executes = execute or runtime.settings.store_url.startswith("sqlite")
    if executes:
        runtime.launch()
    try:
        web = socket_mode_app(runtime) if socket_mode else create_web_app(runtime)
        # log_config=None: uvicorn's records go through our JSON, redacting pipeline (bot/telemetry.py).
        server = uvicorn.Server(uvicorn.Config(web, host=host, port=port, log_level="warning", log_config=None))
        where = _where(runtime.settings)
        _announce_when_listening(server, lambda bound: banner(host, bound, runtime.settings, where, executes))
        server.run()
    finally:
        runtime.shutdown()


def _announce_when_listening(server: Any, text: Callable[[int], str]) -> None:
    """Print `text(port)` on stdout once uvicorn has bound its socket (not before: a port in use
    would make it a lie; `--port 0` learns its port only then)."""
    import threading

    def wait() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        sockets = [sock for listener in server.servers for sock in listener.sockets]
        port = sockets[0].getsockname()[1] if sockets else server.config.port
        sys.stdout.write(text(int(port)) + "\n")
        sys.stdout.flush()

    threading.Thread(target=wait, name="baton-serve-banner", daemon=True).start()


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
        settings = _settings()
        home = settings.home
        home.mkdir(parents=True, exist_ok=True)
        with (home / "baton.log").open("a", encoding="utf-8") as log_file:
            traceback.print_exc(file=log_file)
        text = " ".join(str(err).split())[:300]
        secrets = _secrets(settings) + ([settings.database_url] if settings.database_url else [])
        for secret in secrets:
            text = text.replace(secret, "[REDACTED]")
        line = f"baton: {type(err).__name__}: {text} (details in {home / 'baton.log'})"
        _console().print(line, markup=False, highlight=False, soft_wrap=True)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
