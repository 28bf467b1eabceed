"""The terminal surface of `baton run` / `baton demo`.

`render_view` draws one RunView with rich: steps grouped by repo in merge order, PRs numbered in
the merge train from 1, their checks "pending" (not "unknown") while the run runs them.
`TerminalSurface` is the Surface port for a console: under a `LiveTerminal` on a real terminal the
view is redrawn in place; anywhere else (CI logs, pipes) it prints one line per milestone — state
change, PR opened, checks passed or failed, PR merged, merge or step failed. `timeline_text` (the
same run as plain text, for `baton runs show`) lives in timeline.py and is re-exported here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bot.domain.models import ChangeState, ChecksState, RunState, utcnow
from bot.domain.records import RunEvent, RunView, StepState
from bot.surfaces.render import (
    approval_lines,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    next_actions,
    one_line,
    plan_lines,
    requester,
    short_sha,
    state_label,
    step_icon,
    summary_line,
)
from bot.surfaces.timeline import by_repo, merge_position, pr_checks
from bot.surfaces.timeline import timeline_text as timeline_text

_STATE_STYLE = {
    RunState.merged: "bold green",
    RunState.failed: "bold red",
    RunState.rejected: "bold red",
    RunState.expired: "bold yellow",
    RunState.cancelled: "bold yellow",
    RunState.awaiting_approval: "bold magenta",
}
_STEP_STYLE = {StepState.succeeded: "green", StepState.failed: "red", StepState.skipped: "dim"}


def _header(view: RunView) -> RenderableType:
    run = view.run
    head = Text.assemble(
        ("Run ", "bold"),
        (run.run_id, "bold cyan"),
        "  ",
        (state_label(run.state), _STATE_STYLE.get(run.state, "bold blue")),
    )
    lines = [
        head,
        Text(f"requested by {requester(view)} via {run.spec.trigger.source.value}"),
        Text(f"request: {one_line(run.spec.trigger.request, 100)}"),
        Text(f"repos: {', '.join(run.spec.repos) or '-'}   playbook: {run.spec.playbook}"),
    ]
    if run.waiting_for:
        lines.append(Text(f"waiting for: {run.waiting_for}", style="magenta"))
    if run.error:
        lines.append(Text(f"error: {one_line(run.error, 200)}", style="red"))
    return Group(*lines)


def _steps_table(view: RunView, now: datetime) -> Table:
    table = Table(title="Steps by repo", title_justify="left", box=box.SIMPLE, expand=False)
    for name in ("repo", "", "step", "agent", "duration"):
        table.add_column(name, no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for repo, steps in by_repo(view):
        for i, step in enumerate(steps):
            style = _STEP_STYLE.get(step.state, "")
            table.add_row(
                Text(repo or "plan", style="bold") if i == 0 else "",
                Text(step_icon(step.state), style=style),
                step.name,
                step.agent or "-",
                fmt_duration(((step.finished_at or now) - step.started_at).total_seconds()),
                fmt_tokens(step.usage.tokens),
                fmt_cost(step.usage.cost_usd),
                Text(one_line(step.detail, 60), style="red" if step.state is StepState.failed else ""),
                end_section=i == len(steps) - 1,
            )
    return table


def _changes_table(view: RunView) -> Table:
    table = Table(title="Pull requests, in merge order", title_justify="left", box=box.SIMPLE, expand=False)
    for name in ("merge", "repo", "PR", "head", "checks", "state"):
        table.add_column(name, no_wrap=True)
    table.add_column("url", overflow="fold")
    for change in sorted(view.changes, key=lambda c: (c.order, c.repo)):
        state = change.state.value + (" (merge failed)" if change.merge_error else "")
        table.add_row(
            merge_position(change),
            change.repo,
            f"#{change.number}",
            short_sha(change.head_sha),
            pr_checks(change, view),
            Text(state, style="red" if change.merge_error else ""),
            change.url,
        )
    return table


def render_view(view: RunView, now: datetime | None = None) -> RenderableType:
    """The whole run as one rich renderable: header, steps, PRs, approvals, totals, actions."""
    now = now or utcnow()
    parts: list[RenderableType] = [_header(view)]
    parts.append(_steps_table(view, now) if view.steps else Text("no steps yet", style="dim"))
    if view.changes:
        parts.append(_changes_table(view))
        for change in view.changes:
            if change.merge_error:
                msg = f"merge failed for {change.repo}#{change.number}: {change.merge_error}"
                parts.append(Text(one_line(msg, 200), style="red"))
    if view.approvals:
        parts.append(Text("Approvals", style="bold"))
        parts.extend(Text(f"  {line}") for line in approval_lines(view))
    parts.append(Text(f"totals: {summary_line(view, now)}", style="bold"))
    actions = next_actions(view)
    parts.append(Text(f"actions: {' · '.join(actions) if actions else 'none'}"))
    return Group(*parts)


@dataclass
class _Seen:
    """What the line log already said about one run, so each milestone prints once."""

    state: RunState | None = None
    changes: dict[tuple[str, int], ChangeState] = field(default_factory=dict)
    merge_errors: set[tuple[str, int]] = field(default_factory=set)
    checks: set[tuple[str, int, str, str]] = field(default_factory=set)
    failed_steps: set[str] = field(default_factory=set)


def _milestone_lines(view: RunView, seen: _Seen) -> list[str]:
    """The lines a log should get for what changed in `view` since `seen`; updates `seen`."""
    rid = view.run.run_id
    lines: list[str] = []
    for step in view.steps:
        if step.state is StepState.failed and step.key not in seen.failed_steps:
            seen.failed_steps.add(step.key)
            where = f" ({step.repo})" if step.repo else ""
            lines.append(f"[{rid}] step failed: {step.name}{where}: {one_line(step.detail, 120)}")
    for c in sorted(view.changes, key=lambda c: (c.order, c.repo)):
        key, pr = (c.repo, c.number), f"{c.repo}#{c.number}"
        before = seen.changes.get(key)
        if before is None:
            lines.append(f"[{rid}] PR opened: {pr} {c.url} (head {short_sha(c.head_sha)})")
        finished = (c.repo, c.number, c.head_sha, c.checks.value)
        if c.checks in (ChecksState.passed, ChecksState.failed) and finished not in seen.checks:
            seen.checks.add(finished)
            lines.append(f"[{rid}] checks {c.checks.value}: {pr} (head {short_sha(c.head_sha)})")
        if c.state is not before and c.state is ChangeState.merged:
            lines.append(f"[{rid}] PR merged: {pr} ({short_sha(c.merge_sha)})")
        seen.changes[key] = c.state
        if c.merge_error and key not in seen.merge_errors:
            seen.merge_errors.add(key)
            lines.append(f"[{rid}] merge failed: {pr}: {one_line(c.merge_error, 120)}")
    if view.run.state is not seen.state:
        seen.state = view.run.state
        actions = next_actions(view)
        tail = f" — actions: {', '.join(actions)}" if actions else ""
        lines.append(f"[{rid}] {summary_line(view)}{tail}")
    return lines


class TerminalSurface:
    """The Surface port for a rich console.

    Attached to a running `LiveTerminal` it only keeps the newest view (the live display redraws
    it); otherwise each publish prints the milestone lines the event brought, nothing else.
    """

    def __init__(self, console: Console) -> None:
        self.console = console
        self.live = False
        self._views: dict[str, RunView] = {}
        self._seen: dict[str, _Seen] = {}
        self._lock = threading.Lock()

    @property
    def views(self) -> list[RunView]:
        with self._lock:
            return list(self._views.values())

    def publish(self, view: RunView, event: RunEvent) -> None:
        with self._lock:
            self._views[view.run.run_id] = view
            if self.live:
                return
            lines = _milestone_lines(view, self._seen.setdefault(view.run.run_id, _Seen()))
            if event.kind == "plan_ready":  # the plan and, when discovered, why each repo is in it
                lines = [f"[{view.run.run_id}] {line.strip()}" for line in plan_lines(event.data)] + lines
        for line in lines:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def renderable(self) -> RenderableType:
        """What a live display shows now: every run published so far, newest data."""
        views = self.views
        if not views:
            return Text("waiting for the run to start…", style="dim")
        return Group(*(render_view(v) for v in views))


class LiveTerminal:
    """`with LiveTerminal(console) as surface:` — a redrawn-in-place view on a terminal.

    On a console that is not a terminal no live display starts: the surface prints milestone
    lines instead, so CI logs stay readable.
    """

    def __init__(
        self,
        console: Console,
        *,
        refresh_per_second: float = 8.0,
        surface: TerminalSurface | None = None,
    ) -> None:
        self.console = console
        self.surface = surface or TerminalSurface(console)
        self._live: Live | None = None
        self._refresh_per_second = refresh_per_second

    def __enter__(self) -> TerminalSurface:
        if self.console.is_terminal:
            # The live display pulls the newest view at its own pace, so a burst of events costs
            # at most `refresh_per_second` redraws.
            self._live = Live(
                console=self.console,
                get_renderable=self.surface.renderable,
                refresh_per_second=self._refresh_per_second,
                auto_refresh=True,
                transient=False,
            )
            self.surface.live = True
            self._live.start()
        return self.surface

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
            self.surface.live = False
