"""What an agent changed in its working tree, read from git (never from what the agent says).

Adapters call `head` before the agent starts and `changes` after it stops; the index is left alone
(a scratch index is used), so the engine's own commit afterwards sees the tree exactly as the agent
left it. `exclude` keeps a CLI's own bookkeeping files (aider's `.aider*`) out of every diff.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from bot.scm.git import GitError, git_result, run_git


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
        index = Path(run_git(["rev-parse", "--path-format=absolute", "--git-path", "index"], workdir))
        with tempfile.TemporaryDirectory(prefix="baton-agent-index-") as tmp:
            scratch = Path(tmp) / "index"
            if index.exists():
                shutil.copyfile(index, scratch)
            env = {"GIT_INDEX_FILE": str(scratch)}
            run_git(["add", "-A"], workdir, env)
            common = ["-c", "core.quotePath=false", "diff", "--cached", "--no-renames"]
            text = run_git([*common, base_sha, "--"], workdir, env, strip=False)
            names = run_git([*common, "--name-only", "-z", base_sha, "--"], workdir, env, strip=False)
    except GitError:
        return "", []
    return text, sorted(n for n in names.split("\0") if n)


def exclude(workdir: Path, patterns: list[str]) -> None:
    """Add `patterns` to the clone's own `.git/info/exclude` (not a tracked file, so no diff)."""
    if not patterns:
        return
    try:
        path = Path(run_git(["rev-parse", "--path-format=absolute", "--git-path", "info/exclude"], workdir))
    except GitError:
        return
    present = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    missing = [p for p in patterns if p not in present]
    if missing:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write("".join(f"{p}\n" for p in missing))
