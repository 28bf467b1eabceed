"""The terminal surface of `baton run` / `baton demo`, and the text timeline of `baton runs show`.

`render_view` draws one RunView with rich. `TerminalSurface` is the Surface port for a console:
under a `LiveTerminal` on a real terminal the view is redrawn in place; anywhere else (CI logs,
pipes) it prints one line per milestone — state change, PR opened, PR merged, merge or step failed.
`timeline_text` is the same run as plain text, events numbered, for reading or pasting.
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

from bot.domain import ChangeState, RunEvent, RunState, RunView, StepState, utcnow
from bot.surfaces.render import (
    approval_lines,
    checks_icon,
    event_data_text,
    fmt_cost,
    fmt_duration,
    fmt_tokens,
    next_actions,
    one_line,
    requester,
    short_sha,
    state_label,
    step_icon,
    summary_line,
)

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
    table = Table(title="Steps", title_justify="left", box=box.SIMPLE, expand=False)
    for name in ("", "step", "repo", "agent", "duration"):
        table.add_column(name, no_wrap=True)
    table.add_column("tokens", justify="right", no_wrap=True)
    table.add_column("cost", justify="right", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for step in view.steps:
        style = _STEP_STYLE.get(step.state, "")
        table.add_row(
            Text(step_icon(step.state), style=style),
            step.name,
            step.repo or "-",
            step.agent or "-",
            fmt_duration(((step.finished_at or now) - step.started_at).total_seconds()),
            fmt_tokens(step.usage.tokens),
            fmt_cost(step.usage.cost_usd),
            Text(one_line(step.detail, 60), style="red" if step.state is StepState.failed else ""),
        )
    return table


def _changes_table(view: RunView) -> Table:
    table = Table(title="Pull requests", title_justify="left", box=box.SIMPLE, expand=False)
    for name in ("order", "repo", "PR", "head", "checks", "state"):
        table.add_column(name, no_wrap=True)
    table.add_column("url", overflow="fold")
    for change in sorted(view.changes, key=lambda c: (c.order, c.repo)):
        state = change.state.value + (" (merge failed)" if change.merge_error else "")
        table.add_row(
            str(change.order),
            change.repo,
            f"#{change.number}",
            short_sha(change.head_sha),
            f"{checks_icon(change.checks)} {change.checks.value}",
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


def _columns(rows: list[list[str]], indent: str = "  ") -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))] if rows else []
    return [indent + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _failure_where(view: RunView) -> list[str]:
    """For a run that failed: the failed steps (repo, agent, what they said) and red checks."""
    if view.run.state is not RunState.failed:
        return []
    lines = [
        f"failed at: {s.name} in {s.repo or '-'}"
        + (f" ({s.agent})" if s.agent else "")
        + f": {one_line(s.detail, 160)}"
        for s in view.steps
        if s.state is StepState.failed
    ]
    lines += [
        f"checks failed: {c.repo}#{c.number}: {one_line(c.checks_output[-300:], 160)}"
        for c in view.changes
        if c.checks.value == "failed"
    ]
    return lines


def timeline_text(
    view: RunView, events: list[RunEvent], now: datetime | None = None, *, with_events: bool = True
) -> str:
    """`baton runs show`: what was asked and how it stands first (totals, actions, where it failed),
    then steps, PRs and approvals, and the numbered events last (`with_events`; else their count).

    Event times carry the date only when it differs from the run's first day.
    """
    run, trigger = view.run, view.run.spec.trigger
    out = [
        f"Run {run.run_id} — {state_label(run.state)}",
        f"requested by {requester(view)} via {trigger.source.value} at {run.created_at:%Y-%m-%d %H:%M:%S %Z}",
        f"request: {one_line(trigger.request, 200)}",
        f"repos: {', '.join(run.spec.repos) or '-'}   playbook: {run.spec.playbook}",
    ]
    if run.error:
        out.append(f"error: {one_line(run.error, 200)}")
    out += _failure_where(view)
    actions = next_actions(view)
    out += [f"totals: {summary_line(view, now)}", f"actions: {', '.join(actions) or 'none'}"]
    if run.state is RunState.awaiting_approval:
        out.append(f"  approve: baton approve {run.run_id}   reject: baton reject {run.run_id} --reason '...'")
    out += ["", f"Steps ({len(view.steps)})"]
    rows = [
        [
            step_icon(s.state),
            s.name,
            s.repo or "-",
            s.agent or "-",
            fmt_duration(s.duration_s),
            fmt_tokens(s.usage.tokens),
            fmt_cost(s.usage.cost_usd),
            one_line(s.detail, 80),
        ]
        for s in view.steps
    ]
    out += _columns(rows) or ["  none"]
    out += ["", f"Pull requests ({len(view.changes)})"]
    rows = [
        [
            str(c.order),
            f"{c.repo}#{c.number}",
            short_sha(c.head_sha),
            f"checks {c.checks.value}",
            c.state.value,
            c.url,
        ]
        for c in sorted(view.changes, key=lambda c: (c.order, c.repo))
    ]
    out += _columns(rows) or ["  none"]
    out += [
        f"  merge failed for {c.repo}#{c.number}: {one_line(c.merge_error, 200)}" for c in view.changes if c.merge_error
    ]
    out += ["", f"Approvals ({len(view.approvals)})"]
    out += [f"  {line}" for line in approval_lines(view)] or ["  none"]
    if not with_events:
        more = f" (`baton runs show {run.run_id} --events` lists them)" if events else ""
        return "\n".join([*out, "", f"Events: {len(events)}{more}"]) + "\n"
    out += ["", f"Events ({len(events)})"]
    day = run.created_at.date()
    stamp = "{:%H:%M:%S}", "{:%Y-%m-%d %H:%M:%S}"
    rows = [
        [f"{e.seq}.", stamp[e.at.date() != day].format(e.at), e.kind, event_data_text(e.data)]
        for e in sorted(events, key=lambda e: e.seq)
    ]
    out += _columns(rows) or ["  none"]
    return "\n".join(out) + "\n"
