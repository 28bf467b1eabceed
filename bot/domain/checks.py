"""A checks command that exits 127 is a configuration error, not a code error.

`sh -c` exits 127 when it finds no such program (`pytest` not installed, a typo in `checks:`).
No agent can fix that by changing the code, so a verify loop spends no further attempt and a
repair round is not started: the repo fails at once saying the checks program was not found.
"""

from __future__ import annotations

NOT_FOUND = 127
MISSING_CHECKS = (
    "the checks program was not found (exit 127), a configuration error: no retry or repair round is spent on it"
)


def program_missing(exit_code: int | None, interrupted: bool = False) -> bool:
    """Whether a finished (not timed out or cancelled) checks command found no program to run."""
    return exit_code == NOT_FOUND and not interrupted


def missing_report(output_tail: str, repo: str | None = None) -> str:
    """What the run says when a repo's checks program is missing: the fact, then the shell's words."""
    said = " ".join(output_tail.split())[-300:]
    return (f"{repo}: " if repo else "") + MISSING_CHECKS + (f" ({said})" if said else "")
