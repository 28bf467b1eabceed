"""A local-forge PR's diff, read from git in its bare remote (`Forge.diff` of the local forge).

The PR is compared with where it forked: the merge base of its head and its base branch, or for a
merged PR the base as it was just before the merge (the merge commit's first parent), so a merged
PR still shows what it changed. Line counts come from `git diff --numstat`, which is cheap; the patch
text is read as git writes it and git is stopped once the budget is spent, so a huge diff costs
neither memory nor time. A remote that is not a directory here is read through a bare mirror kept
under the forge's work directory.
"""

from __future__ import annotations

import fcntl
import re
import subprocess
import threading
from pathlib import Path

from bot.config.models import RepoConfig
from bot.domain.diffs import LIMIT_NOTE, ChangeDiff, DiffLimits, FileDiff, FileStatus, PatchBudget
from bot.domain.models import ChangeSet, ChangeState
from bot.domain.ports import ForgeError
from bot.scm.git import DEFAULT_TIMEOUT_S, GitError, git_env, git_ok, run_git

_STATUS = {"A": FileStatus.added, "D": FileStatus.deleted, "M": FileStatus.modified, "T": FileStatus.changed}
_NO_MODE = "000000"
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
# Plain output whatever the user's git config says (colour, prefixes, external diff tools).
_DIFF = ["-c", "core.quotePath=false", "diff", "--no-renames", "--no-color", "--no-ext-diff", "--no-textconv"]


def git_dir_of(cfg: RepoConfig, workdir: Path) -> Path:
    """The git directory to read: the remote's own when it is a directory here (bare, or a work
    tree's `.git`), else a bare mirror of it fetched now, so a branch pushed a moment ago is there."""
    local = Path(cfg.url.removeprefix("file://"))
    if local.is_dir():
        return local / ".git" if (local / ".git").is_dir() else local
    mirror = workdir / "diff-mirrors" / f"{cfg.name}.git"
    mirror.parent.mkdir(parents=True, exist_ok=True)
    with open(mirror.parent / f"{cfg.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one fetch into a mirror at a time, across processes
        if not mirror.exists():
            run_git(["init", "--quiet", "--bare", str(mirror)], mirror.parent)
        refs = "+refs/heads/*:refs/heads/*"
        run_git(["--git-dir", str(mirror), "fetch", "--quiet", "--no-tags", "--prune", "--", cfg.url, refs], mirror)
    return mirror


def local_diff(cfg: RepoConfig, change: ChangeSet, workdir: Path, limits: DiffLimits) -> ChangeDiff:
    git = git_dir_of(cfg, workdir)
    base = _base(git, change)
    files = _files(git, base, change.head_sha)
    if limits.total > 0:
        _read_patches(git, base, change.head_sha, files, PatchBudget(limits))
    else:
        for file in files:
            if file.additions or file.deletions:
                file.truncated, file.note = True, LIMIT_NOTE
    return ChangeDiff(
        repo=change.repo,
        number=change.number,
        url=change.url,
        base=base,
        head_sha=change.head_sha,
        files=files,
        truncated=any(f.note == LIMIT_NOTE for f in files),
    )


def _git(git: Path, args: list[str]) -> str:
    return run_git(["--git-dir", str(git), *args], git, strip=False)


def _base(git: Path, change: ChangeSet) -> str:
    """The commit the PR is compared with (see the module's docstring)."""
    head = change.head_sha
    for sha in (head, change.merge_sha or head):
        if not _SHA.fullmatch(sha):  # a SHA from a record, never an option or a revision expression
            raise ForgeError(f"{change.url}: {sha[:80]!r} is not a commit SHA")
    if not git_ok(["--git-dir", str(git), "cat-file", "-e", f"{head}^{{commit}}"], git):
        raise ForgeError(f"{change.url}: its head {head[:7]} is no longer in {change.repo}'s remote")
    if change.state is ChangeState.merged and change.merge_sha:
        against = f"{change.merge_sha}^1"
    else:
        against = f"refs/heads/{change.base}"
    try:
        return _git(git, ["merge-base", against, head]).strip()
    except GitError:
        raise ForgeError(f"{change.url}: cannot find where it forked from {change.base}") from None


def _files(git: Path, base: str, head: str) -> list[FileDiff]:
    """Every changed file with its status, modes and line counts (no patch text yet)."""
    raw = _git(git, [*_DIFF, "--raw", "-z", "--no-abbrev", base, head, "--"]).split("\0")
    counts = _git(git, [*_DIFF, "--numstat", "-z", base, head, "--"]).split("\0")
    files: list[FileDiff] = []
    for meta, path in zip(raw[0::2], raw[1::2], strict=False):
        if not meta.startswith(":"):
            continue
        old_mode, new_mode, _old, _new, status = meta[1:].split(" ")[:5]
        files.append(
            FileDiff(
                path=path,
                status=_STATUS.get(status[:1], FileStatus.modified),
                old_mode=None if old_mode == _NO_MODE else old_mode,
                new_mode=None if new_mode == _NO_MODE else new_mode,
            )
        )
    by_path = {f.path: f for f in files}
    for entry in counts:
        added, _, rest = entry.partition("\t")
        deleted, _, path = rest.partition("\t")
        file = by_path.get(path)
        if file is None:
            continue
        if added == "-":
            file.binary = True
        else:
            file.additions, file.deletions = int(added), int(deleted)
    return files


def _read_patches(git: Path, base: str, head: str, files: list[FileDiff], budget: PatchBudget) -> None:
    """Fill in each file's hunks as git writes them, within `budget`; once it is spent git is
    stopped and the files not read say so. Files come in `--raw`'s order."""
    args = ["--git-dir", str(git), *_DIFF, "--src-prefix=a/", "--dst-prefix=b/", base, head, "--"]
    proc = subprocess.Popen(
        ["git", *args],
        cwd=git,
        env=git_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    timer = threading.Timer(DEFAULT_TIMEOUT_S, proc.kill)  # as run_git's timeout
    timer.start()
    index, in_hunks, spent = -1, False, False
    kept: list[str] = []
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8", errors="replace")
            if line.startswith("diff --git "):
                _finish(files, index, kept, budget)
                index, kept, in_hunks = index + 1, [], False
                budget.start_file()
                continue
            in_hunks = in_hunks or line.startswith("@@")
            if not in_hunks:
                continue
            if budget.add(line):
                kept.append(line)
            elif budget.spent:
                spent = True
                break
        _finish(files, index, kept, budget)
    finally:
        timer.cancel()
        if spent:
            proc.kill()
        proc.stdout.close()
        code = proc.wait()
    if not spent and code != 0:
        raise GitError(args, code, "git diff stopped early")
    unread = files[index + 1 :] if spent else []
    for file in unread:
        if file.additions or file.deletions:
            file.truncated, file.note = True, LIMIT_NOTE


def _finish(files: list[FileDiff], index: int, kept: list[str], budget: PatchBudget) -> None:
    if 0 <= index < len(files):
        file = files[index]
        file.patch = budget.kept_text(kept)
        file.truncated, file.note = budget.cut, budget.reason
