"""The review page (`GET /runs/<id>/diff`), rendered from `templates/review.html` beside the
dashboard's: every PR of the run in merge order, each under an anchor named after its repo, with its
diffstat, checks and output tail, the agent's summary, cost and transcript, and its diff — one
collapsible block per file, lines classed for colour (`add`, `del`, `hunk`), cut files saying so.

Everything printed passes the store's redactor (the template's `finalize`) and HTML escaping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel

from bot.domain.diffs import DiffStat
from bot.domain.records import RunEvent, RunView
from bot.surfaces.links import is_web
from bot.surfaces.render import TEMPLATES, checks_icon, fmt_cost, fmt_tokens, requester, short_sha, state_label
from bot.surfaces.review.collect import AgentNotes, RepoDiff, agent_notes


class RepoSection(BaseModel):
    read: RepoDiff
    notes: AgentNotes

    @property
    def stat(self) -> DiffStat | None:
        return self.read.diff.stat if self.read.diff is not None else self.read.change.diffstat


def diff_lines(patch: str) -> list[tuple[str, str]]:
    """Each line of a patch with the class that colours it."""
    lines: list[tuple[str, str]] = []
    for line in patch.splitlines():
        if line.startswith("@@"):
            cls = "hunk"
        elif line.startswith("+"):
            cls = "add"
        elif line.startswith("-"):
            cls = "del"
        elif line.startswith("\\"):
            cls = "note"
        else:
            cls = "ctx"
        lines.append((cls, line))
    return lines


def total_stat(sections: list[RepoSection]) -> DiffStat:
    stats = [s.stat for s in sections if s.stat is not None]
    return DiffStat(
        files=sum(s.files for s in stats),
        additions=sum(s.additions for s in stats),
        deletions=sum(s.deletions for s in stats),
    )


def render_review_page(
    view: RunView, events: list[RunEvent], diffs: list[RepoDiff], redact: Callable[[Any], Any]
) -> str:
    sections = [RepoSection(read=d, notes=agent_notes(view, events, d.change.repo, redact)) for d in diffs]

    def finalize(value: Any) -> Any:
        # Every value the template prints passes here before escaping: no secret reaches the page.
        return redact(value) if isinstance(value, str) else value

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        finalize=finalize,
    )
    return env.get_template("review.html").render(
        v=view,
        sections=sections,
        total=total_stat(sections),
        who=requester(view),
        label=state_label,
        cost=fmt_cost,
        tokens=fmt_tokens,
        sha=short_sha,
        checks_icon=checks_icon,
        lines=diff_lines,
        is_web=is_web,
    )
