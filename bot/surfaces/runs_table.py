"""`baton runs list` for people: one row per run under a header — id, state in its colour, age,
source, repos, cost, the request, and for a run that ended without merging, why."""

from __future__ import annotations

from datetime import datetime

from rich import box
from rich.table import Table
from rich.text import Text

from bot.domain.models import RunState, utcnow
from bot.domain.records import RunView
from bot.surfaces.render import ago, ended_why, fmt_cost_rounded, one_line, state_label, total_usage

STATE_STYLE = {
    RunState.queued: "cyan",
    RunState.planning: "cyan",
    RunState.working: "blue",
    RunState.awaiting_approval: "bold magenta",
    RunState.merging: "blue",
    RunState.merged: "green",
    RunState.failed: "bold red",
    RunState.rejected: "red",
    RunState.cancelled: "yellow",
    RunState.expired: "yellow",
}
"""The colour of each state on the terminal (the dashboard uses the same families)."""


def runs_table(views: list[RunView], now: datetime | None = None) -> Table:
    now = now or utcnow()
    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, show_edge=False)
    for name in ("run", "state", "age", "source"):
        table.add_column(name, no_wrap=True)
    table.add_column("repos", overflow="ellipsis", no_wrap=True, max_width=40)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("request / why it ended", overflow="fold", min_width=30)
    for view in views:
        run = view.run
        what = Text(one_line(run.spec.trigger.request, 70))
        why = ended_why(view)
        if why:
            what.append("\n" + one_line(why, 140), style=STATE_STYLE.get(run.state, ""))
        table.add_row(
            run.run_id,
            Text(state_label(run.state), style=STATE_STYLE.get(run.state, "")),
            ago((now - run.created_at).total_seconds()).removesuffix(" ago"),
            run.spec.trigger.source.value,
            ", ".join(run.spec.repos) or "-",
            fmt_cost_rounded(total_usage(view).cost_usd),
            what,
        )
    return table
