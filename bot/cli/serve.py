"""The long-running commands: `baton serve` (saying where it listens once it does), `baton worker`
and `baton migrate`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli import support

if TYPE_CHECKING:
    from bot.app import Runtime


def migrate() -> None:
    """Apply the database migrations: DBOS's system tables, then the store's (Alembic)."""
    support.build_runtime().shutdown()
    typer.echo("migrations applied")


def _await_schema(runtime: Runtime, timeout_s: float) -> None:
    """Wait until the schema is current (another process migrates it); exit 2 if it never is."""
    deadline = time.monotonic() + timeout_s
    while (problem := runtime.schema_problem()) is not None:
        if time.monotonic() >= deadline:
            runtime.shutdown()
            support.console().print(
                f"[red]not starting:[/red] {problem}; apply them with `baton migrate` or start `baton serve`",
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(2)
        time.sleep(0.5)


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
    runtime = support.build_runtime(support.parking_settings(), migrate=False)
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

    from bot.cli.banner import announce, facts
    from bot.web import create_web_app

    if socket_mode:
        from bot.web import socket_mode_app, socket_mode_problem

        problem = socket_mode_problem(support.load_settings())
        if problem:
            support.console().print(problem, markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(2)
    runtime = support.build_runtime(support.parking_settings(), migrate=not no_migrate)
    executes = execute or runtime.settings.store_url.startswith("sqlite")
    if executes:
        runtime.launch()
    try:
        web = socket_mode_app(runtime) if socket_mode else create_web_app(runtime)
        # log_config=None: uvicorn's records go through our JSON, redacting pipeline (bot/observability/logging.py).
        server = uvicorn.Server(uvicorn.Config(web, host=host, port=port, log_level="warning", log_config=None))
        where = support.where_runs_are(runtime.settings)
        settings = runtime.settings
        _when_listening(server, lambda bound: announce(facts(host, bound, settings, where, executes), settings))
        server.run()
    finally:
        runtime.shutdown()


def _when_listening(server: Any, then: Callable[[int], None]) -> None:
    """Call `then(port)` once uvicorn has bound its socket (not before: a port in use would make
    the announcement a lie; `--port 0` learns its port only then)."""
    import threading

    def wait() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        sockets = [sock for listener in server.servers for sock in listener.sockets]
        then(int(sockets[0].getsockname()[1] if sockets else server.config.port))

    threading.Thread(target=wait, name="baton-serve-banner", daemon=True).start()
