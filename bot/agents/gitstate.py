"""What an agent changed in its working tree, read from git (never from what the agent says).

Adapters call `head` before the agent starts and `changes` after it stops; the index is left alone
(a scratch index is used), so the engine's own commit afterwards sees the tree exactly as the agent
left it. `exclude` keeps a CLI's own bookkeeping files (aider's `.aider*`) out of every diff.
"""

from __future__ import annotations

from pathlib import Path

from bot.scm.git import GitError, add_excludes, git_result, worktree_diff


def head(workdir: Path) -> str | None:
    """The commit checked out in `workdir`; None when it is not a git work tree with a commit."""
    proc = git_result(["rev-parse", "--verify", "--quiet", "HEAD"], workdir)
    return proc.stdout.strip() if proc.returncode == 0 else None


def parent(workdir: Path) -> str | None:
    proc = git_result(["rev-parse", "--verify", "--quiet", "HEAD^"], workdir)
    return proc.stdout.strip() if proc.returncode == 0 else None


def changes(workdir: Path, base_sha: str) -> tuple[str, list[str]]:
    """(unified diff, files changed) from `base_sha` to the working tree, untracked files included."""
    try:
        return worktree_diff(workdir, base_sha)
    except GitError:
        return "", []


def exclude(workdir: Path, patterns: list[str]) -> None:
    """Keep `patterns` out of every diff via the clone's own `.git/info/exclude` (not tracked)."""
    try:
        add_excludes(workdir, patterns)
    except GitError:
        return
