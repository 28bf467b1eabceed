"""Reading people's words in comments: `/baton <command>` lines and `@baton <request>` mentions.

A command counts only when it stands alone on its line, outside quotes (`>`) and code (fenced or
indented blocks, inline backticks): quoting someone's `/baton approve` must never approve anything.
Shared by every source whose people write comments (GitHub, Linear).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel

CommandName = Literal["approve", "reject", "cancel", "retry", "revert", "status", "run", "drop", "skip", "close"]
_COMMAND = re.compile(
    r"^/baton\s+(approve|reject|cancel|retry|revert|status|run|drop|skip|close)\b[ \t]*(.*)$", re.IGNORECASE
)
_DROP = re.compile(r"^drop\s+`?([A-Za-z0-9._/-]+)`?\s*$", re.IGNORECASE)
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


class Command(BaseModel):
    name: CommandName
    args: str = ""


def prose_lines(text: str) -> list[str]:
    """The lines of a Markdown comment that are the author's own words: no quotes, no code blocks."""
    lines: list[str] = []
    fence: str | None = None
    previous_blank = True
    for raw in text.replace("\r\n", "\n").split("\n"):
        match = _FENCE.match(raw)
        if fence is not None:
            if match and match.group(1) == fence:
                fence = None
            continue
        if match:
            fence = match.group(1)
            continue
        indented_code = previous_blank and (raw.startswith("    ") or raw.startswith("\t")) and raw.strip()
        previous_blank = not raw.strip()
        if indented_code or raw.lstrip().startswith(">"):
            continue
        lines.append(raw)
    return lines


def parse_commands(text: str) -> list[Command]:
    """Every `/baton <command> [args]` line of a comment, in order."""
    commands: list[Command] = []
    for line in prose_lines(text):
        match = _COMMAND.match(line.strip())
        if match:
            name = match.group(1).lower()
            commands.append(Command.model_validate({"name": name, "args": match.group(2).strip()}))
    return commands


def dropped_repo(text: str) -> str | None:
    """The repo of a `drop <repo>` request (`/baton drop <repo>`'s argument, or a chat reply in a
    run's thread that says only that); None for anything else."""
    match = _DROP.match(text.strip())
    return match.group(1) if match else None


def mention_text(text: str, handle: str) -> str | None:
    """The request addressed to `handle` (e.g. `@baton`): the comment's own words with the first
    mention removed; None when the handle is not mentioned outside quotes and code."""
    pattern = re.compile(rf"(?<![\w@./-]){re.escape(handle)}(?![\w-])[,:]?", re.IGNORECASE)
    lines = prose_lines(text)
    for i, line in enumerate(lines):
        # Inline code spans are quoted words, not a mention: search a copy with them blanked out.
        masked = re.sub(r"`[^`]*`", lambda m: " " * len(m.group(0)), line)
        match = pattern.search(masked)
        if match:
            first = " ".join((line[: match.start()] + " " + line[match.end() :]).split())
            rest = [first, *lines[i + 1 :]] if first else lines[i + 1 :]
            return "\n".join(rest).strip()
    return None
