"""`baton plan drop RUN REPO`: take a repo out of a plan awaiting approval (the run then proceeds
without it once the plan is approved)."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli import support

app = typer.Typer(help="A plan awaiting approval: drop repos from it.", no_args_is_help=True)


@app.command("drop")
def drop(
    run_id: Annotated[str, typer.Argument(help="The run whose plan waits for approval.")],
    repo: Annotated[str, typer.Argument(help="The repo to take out of the plan.")],
) -> None:
    """Take REPO out of RUN's plan before it is approved."""
    from bot.cli.decide_here import acting_process
    from handlers.cli import operator

    settings = support.load_settings()
    runtime = support.build_runtime(settings)
    try:
        result = runtime.runs.drop_repo(run_id, operator(), repo)
        typer.echo(result.message)
        if result.accepted and acting_process(runtime) is None:
            typer.echo(
                f"no Baton process is running for {support.where_runs_are(settings)}: the drop is queued for "
                "the next one (`baton serve` or `baton worker`)"
            )
    finally:
        runtime.shutdown()
    raise typer.Exit(0 if result.accepted else 1)
