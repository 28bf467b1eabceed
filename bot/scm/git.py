"""Running the git CLI: one typed helper, the bot's commit identity, and errors safe to show people.

Every git call in Baton goes through `run_git`, so prompts are off (a missing credential fails
instead of hanging), commits are made as the bot with no global git config needed, and an error
message names the command and the tail of stderr with any `user:pass@` stripped from URLs.

Baton's git never runs code a repository (or an agent that wrote into one) controls: every call is
hardened and refused in a repository whose own config could run a program (bot/scm/gitguard.py),
and its environment is minimal (`git_env`): PATH, HOME and the few variables git's transports
need, never Baton's service secrets. Diffs are measured (`diff_stats`, `diff_size`) or read
bounded (`diff_text`), never held whole.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.domain.models import FILES_KEPT, DiffStats
from bot.domain.ports import ForgeError
from bot.observability.redaction import strip_url_credentials
from bot.scm.gitguard import HARDENING, check_repo_config

BOT_NAME = "Baton"
BOT_EMAIL = "baton@localhost"
DEFAULT_TIMEOUT_S = 600.0
_STDERR_TAIL = 1500


def _clean(text: str, limit: int) -> str:
    """Git's output for people: no `hint:` lines, no blank lines, no credentials, the tail only."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("hint:")]
    return strip_url_credentials("\n".join(ln for ln in lines if ln != "Done"))[-limit:]


class GitError(ForgeError):
    """A git command failed; the message names the command and stderr's tail, sans credentials."""

    def __init__(self, args: Sequence[str], returncode: int, stderr: str) -> None:
        self.command = strip_url_credentials(" ".join(["git", *args]))
        self.returncode = returncode
        self.stderr = _clean(stderr, _STDERR_TAIL)
        detail = f": {self.stderr}" if self.stderr else ""
        super().__init__(f"`{self.command}` failed (exit {returncode}){detail}")


_PASSED_THROUGH = re.compile(
    r"^(PATH|HOME|USER|LOGNAME|TMPDIR|TZ|SSH_AUTH_SOCK|GIT_SSH|GIT_SSH_COMMAND|GIT_SSL_CAINFO|GIT_SSL_CAPATH"
    r"|GIT_SSL_NO_VERIFY|GIT_CONFIG_GLOBAL|GIT_CONFIG_SYSTEM|GIT_CONFIG_NOSYSTEM|XDG_CONFIG_HOME|SSL_CERT_FILE"
    r"|SSL_CERT_DIR|(?i:https?_proxy|all_proxy|no_proxy))$"
)
"""What of Baton's environment its git sees: where programs and the operator's git/ssh config are,
and what the transports need (proxies, CA files, an ssh agent). No service secret matches."""


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every git call runs with: no prompts, the bot's identity, stable messages,
    and of Baton's own environment only what `_PASSED_THROUGH` names."""
    env = {k: v for k, v in os.environ.items() if _PASSED_THROUGH.match(k)}
    env.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": BOT_NAME,
            "GIT_AUTHOR_EMAIL": BOT_EMAIL,
            "GIT_COMMITTER_NAME": BOT_NAME,
            "GIT_COMMITTER_EMAIL": BOT_EMAIL,
            "GIT_MERGE_AUTOEDIT": "no",
            "GIT_EDITOR": "true",
            "GIT_SEQUENCE_EDITOR": "true",
            "GIT_PAGER": "cat",
            "LC_ALL": "C",
        }
    )
    if extra:
        env.update(extra)
    return env


def _prepared(args: Sequence[str], cwd: Path, env: Mapping[str, str] | None) -> tuple[list[str], dict[str, str]]:
    """The hardened argv and environment of one git call in `cwd` (refused in an unsafe repo)."""
    check_repo_config(cwd)
    # Never look for a repository above `cwd` (an operator's checkout that holds BATON_HOME).
    ceiling = {"GIT_CEILING_DIRECTORIES": str(Path(cwd).absolute().parent)}
    return ["git", *HARDENING, *args], git_env({**ceiling, **(env or {})})


def git_result(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run git; return the finished process whatever its exit code (for probes like `--verify`)."""
    argv, full_env = _prepared(args, cwd, env)
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=full_env,
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


def git_output(
    args: Sequence[str], cwd: Path, max_bytes: int, env: Mapping[str, str] | None = None
) -> tuple[bytes, int]:
    """(the first `max_bytes` of `git <args>`'s stdout, how many bytes it wrote, counted up to
    `max_bytes` + 1): a diff of any size is read in chunks and never held whole."""
    argv, full_env = _prepared(args, cwd, env)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    kept, seen = bytearray(), 0
    try:
        while seen <= max_bytes:
            chunk = os.read(proc.stdout.fileno(), 1 << 16)
            if not chunk:
                break
            kept += chunk[: max(0, max_bytes - len(kept))]
            seen += len(chunk)
    finally:
        proc.kill()  # done reading (or over the limit): the rest is never needed
        proc.stdout.close()
        proc.wait()
    return bytes(kept), min(seen, max_bytes + 1)


def git_lines(
    args: Sequence[str], cwd: Path, max_lines: int, timeout: float = DEFAULT_TIMEOUT_S
) -> tuple[list[str], bool, int, str]:
    """(the first `max_lines` lines of `git <args>`'s stdout, whether it wrote more, its exit code,
    its stderr's tail): a search that matches everything is read only as far as it is shown."""
    argv, full_env = _prepared(args, cwd, None)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=full_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[str] = []
    more = False
    try:
        for raw in proc.stdout:
            if len(lines) >= max_lines:
                more = True
                break
            lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))
    finally:
        if more:
            proc.kill()  # the rest is never shown
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", errors="replace")
        proc.stderr.close()
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    return lines, more, (0 if more else code), _clean(err, _STDERR_TAIL)


_DIFF = ["diff", "--no-renames", "--no-ext-diff", "--no-textconv"]


def diff_stats(path: Path, base_sha: str, head_sha: str) -> tuple[DiffStats, list[str]]:
    """(size of the change, at most FILES_KEPT of its paths) between two commits, from numstat."""
    out = run_git([*_DIFF, "--numstat", "-z", base_sha, head_sha, "--"], path, strip=False)
    stats, names = DiffStats(), list[str]()
    for entry in out.split("\0"):
        added, _, rest = entry.partition("\t")
        removed, _, name = rest.partition("\t")
        if not name:
            continue
        stats.files += 1
        stats.insertions += int(added) if added.isdigit() else 0
        stats.deletions += int(removed) if removed.isdigit() else 0
        if len(names) < FILES_KEPT:
            names.append(name)
    return stats, sorted(names)


def diff_size(path: Path, base_sha: str, head_sha: str, stop_after: int) -> int:
    """The unified diff's size in bytes, counted up to `stop_after` + 1."""
    return git_output([*_DIFF, base_sha, head_sha, "--"], path, 0 if stop_after < 0 else stop_after)[1]


def diff_text(path: Path, base_sha: str, head_sha: str, max_bytes: int) -> str:
    """The unified diff between two commits, cut at `max_bytes` (saying so) — for people to read."""
    text, seen = git_output([*_DIFF, base_sha, head_sha, "--"], path, max_bytes)
    shown = text.decode("utf-8", errors="replace")
    return shown + (f"\n[diff cut at {max_bytes} bytes]\n" if seen > max_bytes else "")


def changed_paths(path: Path) -> list[str]:
    """Every path that differs from HEAD in the working tree (modified, added, deleted, untracked —
    each file of an untracked directory), read from `git status` without hashing new files."""
    out = run_git(["status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"], path, strip=False)
    return sorted({entry[3:] for entry in out.split("\0") if len(entry) > 3})


def worktree_diff(path: Path, base_sha: str, max_bytes: int = 10 * 1024 * 1024) -> tuple[str, list[str]]:
    """(unified diff cut at `max_bytes`, files changed) from `base_sha` to the working tree —
    committed, uncommitted and untracked — through a scratch index, so the real index is left as it was."""
    index = Path(run_git(["rev-parse", "--path-format=absolute", "--git-path", "index"], path))
    with tempfile.TemporaryDirectory(prefix="baton-index-") as tmp:
        scratch = Path(tmp) / "index"
        if index.exists():
            shutil.copyfile(index, scratch)
        env = {"GIT_INDEX_FILE": str(scratch)}
        run_git(["add", "-A"], path, env)
        common = [*_DIFF, "--cached"]
        raw, seen = git_output([*common, base_sha, "--"], path, max_bytes, env)
        names = run_git([*common, "--name-only", "-z", base_sha, "--"], path, env, strip=False)
    text = raw.decode("utf-8", errors="replace") + (f"\n[diff cut at {max_bytes} bytes]\n" if seen > max_bytes else "")
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
