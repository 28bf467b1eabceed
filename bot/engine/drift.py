"""Base drift: a PR's base branch moved and the PR no longer merges cleanly. The rebase round
brings the branch up to date without rewriting anyone's work: Baton merges the base into the PR's
branch as a merge commit (conflicted files with their markers), the agent resolves the markers on
top, checks run again, and the PRs wait for a fresh approval. A branch still holding markers is
never pushed.
"""

from __future__ import annotations

import structlog

from bot.engine.activities import Emitter
from bot.engine.deps import EngineDeps

log = structlog.get_logger(__name__)

MARKERS = ("<<<<<<< ", ">>>>>>> ")


def merge_base(deps: EngineDeps, run_id: str, repo: str, branch: str, head: str) -> tuple[str, list[str]]:
    """The body of the merge-base step: (the branch's new head, the files left conflicted)."""
    path = deps.workspace.locate(run_id, repo, branch)
    merged, conflicted = deps.workspace.merge_base(path, head)
    Emitter(deps, run_id)("base_merged", {"repo": repo, "sha": merged, "conflicts": conflicted})
    log.info("drift.base_merged", run_id=run_id, repo=repo, conflicts=len(conflicted))
    return merged, conflicted


def unresolved(deps: EngineDeps, run_id: str, repo: str, branch: str, head: str, files: list[str]) -> list[str]:
    """Which of `files` still carry a conflict marker at the start of a line at `head`."""
    path = deps.workspace.locate(run_id, repo, branch)
    deps.workspace.reset_to(path, head)
    left = []
    for name in files:
        target = path / name
        if not target.is_file():
            continue  # resolved by deleting it
        text = target.read_text(encoding="utf-8", errors="replace")
        if any(line.startswith(MARKERS) for line in text.splitlines()):
            left.append(name)
    return left
