"""What an agent changed in its working tree, read from git (never from what the agent says).

Adapters call `head` before the agent starts and `changed_files` after it stops (read from `git
status`, which leaves the tree as the agent left it for the engine's own commit; new files are not
hashed, so a huge one costs nothing here — the engine's size limits refuse it). `exclude`
keeps a CLI's own bookkeeping files (aider's `.aider*`) out of every diff.
"""

from __future__ import annotations

from pathlib import Path

from bot.scm.git import GitError, add_excludes, changed_paths, git_result


def head(workdir: Path) -> str | None:
    """The commit checked out in `workdir`; None when it is not a git work tree with a commit."""
    proc = git_result(["rev-parse", "--verify", "--quiet", "HEAD"], workdir)
    return proc.stdout.strip() if proc.returncode == 0 else None


def parent(workdir: Path) -> str | None:
    proc = git_result(["rev-parse", "--verify", "--quiet", "HEAD^"], workdir)
    return proc.stdout.strip() if proc.returncode == 0 else None


def changed_files(workdir: Path) -> list[str]:
    """The paths that differ from HEAD in the working tree, untracked files included."""
    try:
        return changed_paths(workdir)
    except GitError:
        return []


def exclude(workdir: Path, patterns: list[str]) -> None:
    """Keep `patterns` out of every diff via the clone's own `.git/info/exclude` (not tracked)."""
    try:
        add_excludes(workdir, patterns)
    except GitError:
        return
