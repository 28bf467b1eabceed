"""The change set in the terminal: the diffstat under the approval prompt, `d` at the prompt to page
every PR's diff (through `$PAGER`, `less -R` by default, as git does), and the same diff for
`baton runs show RUN --diff`. The diff is read from the forges, like the review page's patch.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping

from rich.console import Console
from rich.text import Text

from bot.domain.models import Decision
from bot.domain.ports import Forge
from bot.domain.records import RunView
from bot.surfaces.links import diffstat_text
from bot.surfaces.review.collect import Redact, read_patch_diffs
from bot.surfaces.review.patch import NOTE, run_patch

DEFAULT_PAGER = "less -R"
_ANSWERS = {"y": Decision.approve, "yes": Decision.approve, "c": Decision.cancel, "cancel": Decision.cancel}
_COLOURS = (("+++", "1"), ("---", "1"), ("diff --git", "1"), ("+", "32"), ("-", "31"), ("@@", "36"), (NOTE, "2"))


def diffstat_lines(view: RunView) -> list[str]:
    """One line per PR in merge order: its place, repo, number and size."""
    lines = ["Pull requests (merge order):"]
    for change in sorted(view.changes, key=lambda c: c.order):
        size = diffstat_text(change) or "size not measured yet"
        lines.append(f"  {change.order + 1}. {change.repo} #{change.number}  {size}")
    return lines


def patch_text(forge: Forge, view: RunView, redact: Redact) -> str:
    """Every PR's diff as one patch, paths prefixed by the repo (as `diff.patch` serves it)."""
    diffs = read_patch_diffs(forge, view.changes, redact)
    return run_patch([d.diff for d in diffs if d.diff], {d.change.repo: d.problem for d in diffs if d.problem})


def coloured(patch: str) -> str:
    """The patch with ANSI colours, as `git diff` shows it on a terminal."""
    out = []
    for line in patch.splitlines(keepends=True):
        code = next((c for prefix, c in _COLOURS if line.startswith(prefix)), None)
        out.append(f"\x1b[{code}m{line.rstrip(chr(10))}\x1b[0m\n" if code else line)
    return "".join(out)


def page(text: str, env: Mapping[str, str] | None = None) -> None:
    """Show `text` through `$PAGER` (its words split like a shell's, never run by one); printed
    as it is when the pager cannot be started."""
    command = shlex.split((env if env is not None else os.environ).get("PAGER") or DEFAULT_PAGER)
    try:
        subprocess.run(command, input=text.encode("utf-8"), check=False)
    except OSError:
        sys.stdout.write(text)
        sys.stdout.flush()


def ask_to_merge(console: Console, view: RunView, forge: Forge, redact: Redact) -> Decision:
    """Show the diffstat, then ask until answered: `y` approves, `c` cancels, `d` pages the diff
    and asks again, anything else rejects."""
    for line in diffstat_lines(view):
        console.print(line, markup=False, highlight=False)
    while True:
        # A Text, not a str: printed as written, without rich's highlighting of brackets.
        answer = console.input(Text("Approve and merge these PRs? [y/N/c(ancel)/d(iff)] ")).strip().lower()
        if answer not in ("d", "diff"):
            return _ANSWERS.get(answer, Decision.reject)
        page(coloured(patch_text(forge, view, redact)))
