"""Gathering what a reviewer needs about each PR of a run: its diff (read from the forge now, within
the page's bounds), its checks, and the agent's summary, transcript and cost (from the store), all
passed through the store's redactor. Also the diffstat the engine records when checks run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from pydantic import BaseModel, Field

from bot.domain.diffs import PAGE_LIMITS, PAGE_TOTAL, PATCH_LIMITS, ChangeDiff, DiffLimits
from bot.domain.models import ChangeSet, Usage
from bot.domain.ports import Forge, ForgeError
from bot.domain.records import RunEvent, RunView, StepState

log = structlog.get_logger(__name__)
TRANSCRIPT_LINES = 300
"""The newest lines of a repo's transcript shown on the page."""
Redact = Callable[[Any], Any]


class RepoDiff(BaseModel):
    """One PR's diff as read now, or why it could not be read."""

    change: ChangeSet
    diff: ChangeDiff | None = None
    problem: str = ""


def read_diffs(
    forge: Forge, changes: list[ChangeSet], redact: Redact, limits: DiffLimits = PAGE_LIMITS, total: int = PAGE_TOTAL
) -> list[RepoDiff]:
    """Each PR's diff in merge order, within `limits` each; together they share `total` bytes of
    patch text in that order."""
    left = total
    found: list[RepoDiff] = []
    for change in sorted(changes, key=lambda c: (c.order, c.repo)):
        try:
            diff = forge.diff(change, limits.shared(left))
        except ForgeError as err:
            found.append(RepoDiff(change=change, problem=str(redact(str(err)))))
            continue
        left -= sum(len(f.patch.encode()) for f in diff.files)
        found.append(RepoDiff(change=change, diff=ChangeDiff.model_validate(redact(diff.model_dump()))))
    return found


def read_patch_diffs(forge: Forge, changes: list[ChangeSet], redact: Redact) -> list[RepoDiff]:
    """Each PR's diff for a patch: a file whole or not at all (a cut hunk would not apply)."""
    return read_diffs(forge, changes, redact, PATCH_LIMITS, total=len(changes) * PATCH_LIMITS.total)


class AgentNotes(BaseModel):
    """What the agents said and spent on one repo."""

    agents: list[str] = Field(default_factory=list)
    summary: str = ""
    usage: Usage = Field(default_factory=Usage)
    transcript: list[str] = Field(default_factory=list)
    transcript_total: int = 0


def agent_notes(view: RunView, events: list[RunEvent], repo: str, redact: Redact) -> AgentNotes:
    """The repo's agent steps: who worked, their last successful summary, their cost, and the
    transcript the run recorded (steps, progress lines, group-chat turns), newest last."""
    steps = [s for s in view.steps if s.repo == repo and s.agent]
    usage = Usage()
    for step in steps:
        usage = usage + step.usage
    done = [s for s in steps if s.state is StepState.succeeded and s.detail]
    lines = [line for e in events if (line := _transcript_line(e, repo)) is not None]
    return AgentNotes(
        agents=sorted({s.agent for s in steps if s.agent}),
        summary=str(redact(done[-1].detail)) if done else "",
        usage=usage,
        transcript=[str(redact(line)) for line in lines[-TRANSCRIPT_LINES:]],
        transcript_total=len(lines),
    )


def _step_repo(key: object) -> str:
    return str(key or "").split("/", 1)[0]


def _transcript_line(event: RunEvent, repo: str) -> str | None:
    data = event.data
    at = event.at.strftime("%H:%M:%S")
    if event.kind == "chat" and data.get("repo") == repo:
        return f"{at} {data.get('speaker')}: {data.get('text')}"
    if event.kind not in ("agent_progress", "step_started", "step_finished") or _step_repo(data.get("step")) != repo:
        return None
    step = str(data.get("step", "")).split("/", 1)[-1]
    if event.kind == "step_started":
        return f"{at} [{step}] started ({data.get('agent')})"
    if event.kind == "step_finished":
        return f"{at} [{step}] {data.get('state')}: {data.get('summary', '')}"
    kind = data.get("kind")
    shown = {
        "tool": f"{data.get('tool')} {data.get('detail', '')}",
        "text": data.get("text"),
        "output": data.get("line"),
        "files": ", ".join(str(f) for f in data.get("files", []) or []),
        "permission_denied": f"denied: {data.get('what')}",
        "api_retry": f"retry {data.get('attempt')}: {data.get('error')}",
    }.get(str(kind))
    return f"{at} [{step}] {kind}: {shown}".rstrip() if shown is not None else None
