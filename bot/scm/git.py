"""Running the git CLI: one typed helper, the bot's commit identity, and errors safe to show people.

Every git call in Baton goes through `run_git`, so prompts are off (a missing credential fails
instead of hanging), commits are made as the bot with no global git config needed, and an error
message names the command and the tail of stderr with any `user:pass@` stripped from URLs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.ports import ForgeError

BOT_NAME = "Baton"
BOT_EMAIL = "baton@localhost"
DEFAULT_TIMEOUT_S = 600.0
_STDERR_TAIL = 1500

# scheme://user[:password]@host  ->  scheme://host
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s'\"]+@")


def redact(text: str) -> str:
    """`text` with credentials removed from any URL in it."""
    return _URL_CREDENTIALS.sub(r"\1", text)


def _clean(text: str, limit: int) -> str:
    """Git's output for people: no `hint:` lines, no blank lines, no credentials, the tail only."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("hint:")]
    return redact("\n".join(ln for ln in lines if ln != "Done"))[-limit:]


class GitError(ForgeError):
    """A git command failed; the message names the command and stderr's tail, sans credentials."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str) -> None:
        self.command = redact(" ".join(["git", *args]))
        self.returncode = returncode
        self.stderr = _clean(stderr, _STDERR_TAIL)
        detail = f": {self.stderr}" if self.stderr else ""
        super().__init__(f"`{self.command}` failed (exit {returncode}){detail}")


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every git call runs with: no prompts, the bot's identity, stable messages."""
    env = dict(os.environ)
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": BOT_NAME,
            "GIT_AUTHOR_EMAIL": BOT_EMAIL,
            "GIT_COMMITTER_NAME": BOT_NAME,
            "GIT_COMMITTER_EMAIL": BOT_EMAIL,
            "GIT_MERGE_AUTOEDIT": "no",
            "GIT_EDITOR": "true",
            "LC_ALL": "C",
        }
    )
    if extra:
        env.update(extra)
    return env


def git_result(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run git; return the finished process whatever its exit code (for probes like `--verify`)."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=cwd,
            env=git_env(env),
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise GitError(args, -1, f"timed out after {timeout:.0f}s") from None


def run_git(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    *,
    strip: bool = True,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Run `git <args>` in `cwd`; return stdout (trailing whitespace stripped unless `strip=False`).

    Raises GitError when git exits non-zero.
    """
    proc = git_result(args, cwd, env, timeout)
    if proc.returncode != 0:
        raise GitError(args, proc.returncode, proc.stderr)
    return proc.stdout.rstrip() if strip else proc.stdout


def failure_tail(proc: subprocess.CompletedProcess[str], limit: int = 800) -> str:
    """What a failed git process said (stderr, then stdout), minus hints and credentials."""
    return _clean(proc.stderr + "\n" + proc.stdout, limit)


def git_ok(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> bool:
    """True when `git <args>` exits 0."""
    return git_result(args, cwd, env).returncode == 0


def remote_branch_sha(url: str, branch: str, cwd: Path) -> str | None:
    """The SHA `branch` points at on the remote `url`; None when the remote has no such branch."""
    out = run_git(["ls-remote", "--heads", "--", url, f"refs/heads/{branch}"], cwd)
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref == f"refs/heads/{branch}":
            return sha
    return None


def worktree_diff(path: Path, base_sha: str) -> tuple[str, list[str]]:
    """(unified diff, files changed) from `base_sha` to the working tree — committed, uncommitted
    and untracked — through a scratch index, so the real index is left as it was."""
    index = Path(run_git(["rev-parse", "--path-format=absolute", "--git-path", "index"], path))
    with tempfile.TemporaryDirectory(prefix="baton-index-") as tmp:
        scratch = Path(tmp) / "index"
        if index.exists():
            shutil.copyfile(index, scratch)
        env = {"GIT_INDEX_FILE": str(scratch)}
        run_git(["add", "-A"], path, env)
        common = ["-c", "core.quotePath=false", "diff", "--cached", "--no-renames"]
        text = run_git([*common, base_sha, "--"], path, env, strip=False)
        names = run_git([*common, "--name-only", "-z", base_sha, "--"], path, env, strip=False)
    return text, sorted(n for n in names.split("\0") if n)


def add_excludes(path: Path, patterns: Sequence[str]) -> None:
    """Add `patterns` (those not there yet) to the clone's own `.git/info/exclude`: ignored
    untracked files, without touching a tracked `.gitignore`."""
    if not patterns:
        return
    exclude = Path(run_git(["rev-parse", "--path-format=absolute", "--git-path", "info/exclude"], path))
    present = exclude.read_text(encoding="utf-8").splitlines() if exclude.exists() else []
    missing = [p for p in patterns if p not in present]
    if missing:
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a", encoding="utf-8") as out:
            out.write("".join(f"{p}\n" for p in missing))


def merge_conflicts(tree: Path, base_ref: str, head: str) -> list[str]:
    """The files merging `head` into `base_ref` would conflict on (empty: it merges cleanly), found
    with `git merge-tree` without touching any ref or the work tree. Raises GitError if git cannot say."""
    proc = git_result(["merge-tree", "--write-tree", "--name-only", "--no-messages", base_ref, head], tree)
    if proc.returncode == 0:
        return []
    files = [line for line in proc.stdout.splitlines()[1:] if line.strip()]
    if proc.returncode == 1 and files:
        return files
    raise GitError(["merge-tree", base_ref, head], proc.returncode, failure_tail(proc))
