"""The `baton` command: the global `--config`, `--home` and `--version`; runs list/show, audit and
doctor here; approve, reject, cancel, retry, revert, skip, close and budget in decisions.py; run and demo in
run.py; migrate, worker and serve in serve.py; what they share in support.py.

Only typer and the standard library load at import: `baton --help` starts no runtime and imports no
DBOS (every command imports what it needs when it runs).
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from bot.cli import decisions, support
from bot.cli import plan as cli_plan
from bot.cli import run as cli_run
from bot.cli import serve as cli_serve

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


# Commands defined beside this module (run.py, serve.py), in the order `--help` lists them.
app.command()(cli_run.run)
app.command()(cli_run.demo)


@runs_app.command("list")
def runs_list(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array for scripts.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many runs.")] = 50,
) -> None:
    """Recent runs, newest first: state, age, source, repos, cost, the request, and why a run failed."""
    import json

    from bot.config.home import has_store
    from bot.surfaces.jsonview import run_json

    settings = support.load_settings()
    support.config_or_exit(settings)
    if not has_store(settings.home, settings.database_url):  # nothing to read: create nothing either
        typer.echo("[]" if as_json else f"no runs in {support.where_runs_are(settings)}")
        return
    store = support.read_store(settings)  # no runtime: `runs list` imports no DBOS and starts fast
    try:
        views = [v for v in (store.view(r.run_id) for r in store.list_runs(limit)) if v is not None]
    finally:
        store.engine.dispose()
    if as_json:
        typer.echo(json.dumps([run_json(v) for v in views], indent=2))
        return
    if not views:
        typer.echo(f"no runs in {support.where_runs_are(settings)}")
        return
    from bot.surfaces.runs_table import runs_table

    console = support.console()
    if not console.is_terminal:  # a pipe or a file: one line per run, however wide, for grep and less
        from rich.console import Console

        console = Console(width=250)
    console.print(runs_table(views))


@runs_app.command("show")
def runs_show(
    run_id: str,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for scripts.")] = False,
    events: Annotated[bool, typer.Option("--events", help="Also list every event, numbered.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Print every PR's diff instead (paths a/<repo>/...).")] = False,
) -> None:
    """One run: what was asked and how it ended, steps, PRs, approvals, cost (--events: the timeline)."""
    import json

    from bot.surfaces.jsonview import run_json
    from bot.surfaces.terminal import timeline_text

    settings = support.load_settings()
    runtime = support.build_runtime(settings)
    try:
        view = runtime.store.view(run_id)
        history = runtime.store.events(run_id)
        if diff and view is not None:
            from bot.surfaces.review.terminal import coloured, patch_text

            patch = patch_text(runtime.forges, view, runtime.store.redact)
            typer.echo(coloured(patch) if sys.stdout.isatty() else patch, nl=False)
            return
    finally:
        runtime.shutdown()
    if view is None:
        typer.echo(f"no run {run_id} in {support.where_runs_are(settings)}", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(run_json(view, history), indent=2))
        return
    typer.echo(timeline_text(view, history, with_events=events))


# Acting on one run (decisions.py), in the order `--help` lists them.
app.command()(decisions.approve)
app.command()(decisions.reject)
app.command()(decisions.cancel)
app.command()(decisions.retry)
app.command()(decisions.revert)
runs_app.command("revert")(decisions.revert)
app.command()(decisions.skip)
app.command()(decisions.close)


@app.command()
def audit(
    run: Annotated[str | None, typer.Option("--run", help="Only this run's records.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON array for scripts.")] = False,
) -> None:
    """The audit trail, oldest first: triggers, approvals, rejections, refused clicks and commands,
    merges, cancellations and retries, with who, from where, why, and the SHAs involved."""
    import json

    from bot.store.audit import audit_table

    runtime = support.build_runtime()
    try:
        records = runtime.store.audit.records(run_id=run)
    finally:
        runtime.shutdown()
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
        return
    typer.echo(audit_table(records))


app.command()(decisions.budget)


@app.command()
def doctor() -> None:
    """What is configured, what is missing, and whether git, each agent, each repo's URL and its
    checks program are there."""
    from bot.doctor import doctor_report

    report, ok = doctor_report(support.load_settings())
    typer.echo(report)
    raise typer.Exit(0 if ok else 1)


app.command()(cli_serve.migrate)
app.command()(cli_serve.worker)
app.command()(cli_serve.serve)
app.add_typer(runs_app, name="runs")
app.add_typer(cli_plan.app, name="plan")


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
        settings = support.load_settings()
        home = settings.home
        home.mkdir(parents=True, exist_ok=True)
        with (home / "baton.log").open("a", encoding="utf-8") as log_file:
            traceback.print_exc(file=log_file)
        text = " ".join(str(err).split())[:300]
        secrets = support.secrets_of(settings) + ([settings.database_url] if settings.database_url else [])
        for secret in secrets:
            text = text.replace(secret, "[REDACTED]")
        line = f"baton: {type(err).__name__}: {text} (details in {home / 'baton.log'})"
        support.console().print(line, markup=False, highlight=False, soft_wrap=True)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
