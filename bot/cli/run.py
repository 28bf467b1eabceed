"""`baton run` and `baton demo`: a request checked before anything is recorded (bot/preflight.py),
then submitted and followed in the terminal to its end.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import support

if TYPE_CHECKING:
    from bot.app import Runtime
    from bot.config.settings import Settings
    from bot.domain.models import RunSpec


def _prepared(
    settings: Settings,
    request: str,
    repos: list[str],
    playbook: str | None,
    agent: str | None,
    budget: str | None,
    discover: str | None = None,
) -> RunSpec:
    """The run's spec, or exit before anything is recorded (or even a home created): 2 for a
    request that cannot be read or an invalid config, 1 for one preflight refuses."""
    from bot.config.base import ConfigError
    from bot.config.models import load_baton_file
    from bot.engine.budget import parse_usd
    from bot.engine.intake import RequestError, build_spec
    from bot.preflight import refusal
    from handlers.cli import cli_trigger

    try:
        config = load_baton_file(settings.config)
    except ConfigError as err:
        support.error("configuration error", str(err))
        raise typer.Exit(2) from None
    try:
        usd = parse_usd(budget) if budget else None
        spec = build_spec(
            cli_trigger(request), config, repos=repos, agent=agent, playbook=playbook, budget_usd=usd, discover=discover
        )
    except (RequestError, ValueError) as err:
        support.error("bad request", str(err))
        raise typer.Exit(2) from None
    problem = refusal(config, spec, name_repos="Name them with --repo NAME, or find them with --discover PATTERN.")
    if problem:
        support.error("not started", problem)
        raise typer.Exit(1)
    return spec


def _start_and_follow(runtime: Runtime, spec: RunSpec, yes: bool) -> int:
    """Record and start the run, follow it here; 0 when it merged."""
    from bot.cli.foreground import follow
    from handlers.cli import operator

    console = support.console()
    run_id = runtime.runs.submit(spec)
    repos = ", ".join(spec.repos) or ("repos to be discovered" if spec.discover else "no repos")
    found = f" (discovering {spec.discover!r})" if spec.discover and spec.repos else ""
    console.print(f"run {run_id} started: {repos}{found}", markup=False, highlight=False)
    view = follow(runtime, run_id, console, operator(), yes, sys.stdin.isatty() and not yes)
    if view.run.error:
        support.error(view.run.state.value, view.run.error)
    console.print(f"run {run_id} ended {view.run.state.value}", highlight=False)
    return 0 if view.run.state.value == "merged" else 1


def run(
    request: Annotated[str, typer.Argument(help="What to change, in words.")],
    repo: Annotated[list[str], typer.Option("--repo", help="A configured repo (repeat).")] = [],  # noqa: B006
    playbook: Annotated[str | None, typer.Option(help="A playbook from baton.yml.")] = None,
    agent: Annotated[str | None, typer.Option(help="Use this agent instead of routing.")] = None,
    budget: Annotated[str | None, typer.Option(help="Spending limit, e.g. $5.")] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Approve without asking.")] = False,
    discover: Annotated[
        str | None,
        typer.Option(
            "--discover",
            metavar="PATTERN",
            help="Also run on every configured repo whose default branch matches this regex (git grep -E), "
            "and their providers.",
        ),
    ] = None,
) -> None:
    """Start a run from the terminal and follow it to the end."""
    settings = support.load_settings()
    spec = _prepared(settings, request, repo, playbook, agent, budget, discover)
    runtime = support.build_runtime(settings, launch=True, log_to_file=True)
    try:
        code = _start_and_follow(runtime, spec, yes)
    finally:
        runtime.shutdown()
    raise typer.Exit(code)


def demo(
    yes: Annotated[bool, typer.Option("--yes", help="Approve without asking.")] = False,
    directory: Annotated[Path | None, typer.Option("--dir", help="Where to build the sandbox.")] = None,
    clients: Annotated[int | None, typer.Option(help="How many client services (default 6).")] = None,
) -> None:
    """Rename an API endpoint across an API and its clients, on local git remotes."""
    import tempfile

    from bot.config.settings import Settings
    from bot.demo import create_sandbox
    from bot.demo.next_steps import command_name, next_steps
    from bot.demo.sandbox import DEFAULT_CLIENTS

    console = support.console()
    root = (directory or Path(tempfile.mkdtemp(prefix="baton-demo-"))).resolve()
    started = time.monotonic()
    sandbox = create_sandbox(root, clients=DEFAULT_CLIENTS if clients is None else clients)
    console.print(f"sandbox: {root} (remotes: {', '.join(sandbox.remotes)})", markup=False, highlight=False)
    settings = Settings(config=sandbox.config_path, home=root / ".baton", database_url=None)
    spec = _prepared(settings, sandbox.request, list(sandbox.remotes), None, None, None)
    runtime = support.build_runtime(settings, launch=True, log_to_file=True)
    try:
        code = _start_and_follow(runtime, spec, yes)
    finally:
        runtime.shutdown()
    console.print(f"demo finished in {time.monotonic() - started:.1f}s", highlight=False)
    text = next_steps(spec.run_id, sandbox.config_path, settings.home, command_name(sys.argv[0]))
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)
