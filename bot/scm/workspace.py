"""Per-run git checkouts: deterministic branch names, clone or reuse, commit, diff, push, cleanup.

`GitWorkspace` implements `bot.domain.ports.Workspace` over the git CLI. Each run gets its own clone at
`root/<run_id>/<repo>`, made in a temporary sibling directory and renamed into place, so a crash
mid-clone leaves nothing that looks finished; `prepare` is safe to call again after a restart.
Given `mirrors` (bot/scm/mirrors.py), a clone is made from the repo's mirror, fetched first unless
it was fetched in the last `fresh_for_s` seconds (a discovery just did): git hardlinks its objects (a
copy across filesystems); then `origin` is set to the real remote and fetched, so a run pays an
incremental fetch, not a full clone, and never starts from a stale base. Hardlinks, not
alternates: a confined agent sees only its workspace, and an alternates file pointing into Baton's
home would be a hidden path to it.

A change is measured, never held: `commit_all` refuses a changed file over `limits.max_file_bytes`
before git reads it, `diff_stats` counts the diff's bytes as git streams it (over
`limits.max_diff_bytes` is refused) and keeps only numbers. A remote that needs a credential gets
it from `remote_auth` for the one git call that talks to it (clone, fetch, push), never in a file.
Step refs and best-of work trees are the `StepRefs` mixin (bot/scm/step_refs.py).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from bot.config.models import Limits, RepoConfig
from bot.domain.models import DiffStats
from bot.domain.naming import safe_component as _safe_component
from bot.domain.ports import ChangeTooLarge, PushRejected
from bot.scm.git import (
    GitError,
    add_excludes,
    changed_paths,
    diff_size,
    diff_stats,
    diff_text,
    failure_tail,
    git_ok,
    git_result,
    run_git,
    worktree_diff,
)
from bot.scm.mirrors import Mirrors
from bot.scm.step_refs import MARKER_KEY, RUN_KEY, RemoteAuth, StepRefs

# What tools leave behind when an agent runs a repo's tests: never part of a change. Goes in the
# clone's own `.git/info/exclude`, so a repo's `.gitignore` (and anything it tracks) is untouched.
# The agent CLIs' own bookkeeping files (aider's) too: written at clone time, so no step later
# writes `.git/info/` while another step's snapshot of it is open (concurrent best-of).
BUILD_LITTER = (
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".tox/",
    ".venv/",
    ".aider*",
)


class GitWorkspace(StepRefs):
    """`bot.domain.ports.Workspace` over real git: one clone per run and repo under `root`."""

    def __init__(
        self,
        root: Path,
        repos: Callable[[str], RepoConfig],
        limits: Limits | None = None,
        remote_auth: RemoteAuth | None = None,
        mirrors: Mirrors | None = None,
    ) -> None:
        self.root = root
        self._repos = repos
        self.limits = limits or Limits()
        self._remote_auth = remote_auth
        self.mirrors = mirrors

    def path_for(self, run_id: str, repo: str) -> Path:
        return self.root / _safe_component(run_id, "run") / _safe_component(repo, "repo")

    def prepare(self, run_id: str, repo: str, branch: str) -> Path:
        cfg = self._repos(repo)
        path = self.path_for(run_id, repo)
        if not self._is_clone(path, cfg):
            self._clone(path, cfg)
        else:
            if run_git(["remote", "get-url", "origin"], path) != cfg.url:
                run_git(["remote", "set-url", "origin", cfg.url], path)
            run_git(["fetch", "--prune", "--quiet", "origin"], path, self._auth(cfg))
        run_git(["config", RUN_KEY, run_id], path)
        self._switch_to(path, cfg, branch)
        return path

    def locate(self, run_id: str, repo: str, branch: str) -> Path:
        """The run's checkout as the previous step left it; prepared only if it is missing
        (a step resumed on another machine), so steps do not pay ~10 git calls each."""
        path = self.path_for(run_id, repo)
        if (path / ".git").is_dir():
            return path
        return self.prepare(run_id, repo, branch)

    def head(self, path: Path) -> str:
        return run_git(["rev-parse", "HEAD"], path)

    def base_sha(self, path: Path) -> str:
        default = run_git(["config", "--get", "baton.defaultBranch"], path)
        return run_git(["merge-base", "HEAD", f"refs/remotes/origin/{default}"], path)

    def reset_to(self, path: Path, sha: str) -> None:
        """The checkout at `sha` with nothing else in it (no change, untracked or ignored file).
        Usually it already is (the previous step committed or was reset): one `git status` says
        so, instead of the two processes a reset and a clean cost on every step. A commit made by
        an earlier step on another machine is fetched from the run's step refs first (only when
        missing: no extra git call otherwise)."""
        if self._is_exactly(path, sha):
            return
        try:
            run_git(["reset", "--hard", "--quiet", sha], path)
        except GitError:
            if git_ok(["cat-file", "-e", f"{sha}^{{commit}}"], path):
                raise
            self._fetch_saved(path)
            run_git(["reset", "--hard", "--quiet", sha], path)
        run_git(["clean", "-fdxq"], path)

    @staticmethod
    def _is_exactly(path: Path, sha: str) -> bool:
        # `--ignored`: `clean -x` removes ignored files too, so their presence means work to do.
        out = run_git(["status", "--porcelain=v2", "-z", "--branch", "--ignored"], path, strip=False)
        entries = [e for e in out.split("\0") if e]
        return f"# branch.oid {sha}" in entries and all(e.startswith("# ") for e in entries)

    def commit_all(self, path: Path, message: str) -> str | None:
        """Commit every change in the checkout; None when there is none (one `git status` then,
        the common case of a step that only looked)."""
        if not self._refuse_large_files(path):
            return None
        run_git(["add", "-A"], path)
        commit = ["-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "-m", message]
        made = git_result(commit, path)
        if made.returncode != 0:
            if git_ok(["diff", "--cached", "--quiet"], path):
                return None  # nothing staged: the agent changed nothing
            raise GitError(["commit"], made.returncode, failure_tail(made))
        return self.head(path)

    def merge_base(self, path: Path, head: str) -> tuple[str, list[str]]:
        """Merge the fetched default branch into the branch at `head` as a merge commit (nothing of
        the branch is rewritten); conflicted files are committed with their markers for an agent to
        resolve. Returns (the merge commit, or `head` when already up to date; the conflicted files)."""
        self.reset_to(path, head)
        base = "refs/remotes/origin/" + run_git(["config", "--get", "baton.defaultBranch"], path)
        message = f"Merge {base.removeprefix('refs/remotes/')} into this branch (the base moved)"
        merge = ["-c", "commit.gpgsign=false", "merge", "--no-ff", "--no-verify", "--quiet", "-m", message, base]
        if git_result(merge, path).returncode == 0:
            return self.head(path), []
        conflicted = run_git(["diff", "--name-only", "--diff-filter=U"], path).splitlines()
        if not conflicted:
            git_result(["merge", "--abort"], path)
            raise GitError(["merge", base], 1, "the merge failed without a conflict")
        run_git(["add", "-A", "--", *conflicted], path)
        run_git(["-c", "commit.gpgsign=false", "commit", "--quiet", "--no-verify", "--no-edit"], path)
        return self.head(path), conflicted

    def revert(self, path: Path, sha: str) -> str:
        """Add a commit undoing `sha` (a merge is reverted against its first parent, the base it
        merged into); a branch already past its base holds that revert (a re-run step) and is kept."""
        if self.head(path) != self.base_sha(path):
            return self.head(path)
        parents = run_git(["rev-list", "--parents", "-n", "1", sha], path).split()[1:]
        mainline = ["-m", "1"] if len(parents) > 1 else []
        run_git(["-c", "commit.gpgsign=false", "revert", "--no-edit", *mainline, sha], path)
        return self.head(path)

    def diff_stats(self, path: Path, base_sha: str, head_sha: str) -> tuple[DiffStats, list[str]]:
        limit = self.limits.max_diff_bytes
        size = diff_size(path, base_sha, head_sha, stop_after=limit)
        if size > limit:
            raise ChangeTooLarge(f"the change's diff is over limits.max_diff_bytes ({limit} bytes)")
        return diff_stats(path, base_sha, head_sha)

    def diff_text(self, path: Path, base_sha: str, head_sha: str, max_bytes: int) -> str:
        return diff_text(path, base_sha, head_sha, max_bytes)

    def diff(self, path: Path, base_sha: str) -> tuple[str, list[str]]:
        """Base vs working tree: committed, uncommitted and untracked; the index is left alone."""
        self._refuse_large_files(path)
        return worktree_diff(path, base_sha, self.limits.max_diff_bytes)

    def _refuse_large_files(self, path: Path) -> list[str]:
        """ChangeTooLarge naming the first changed file over `limits.max_file_bytes` (by its size on
        disk: git has not read it yet, and never will); else the changed paths."""
        limit = self.limits.max_file_bytes
        changed = changed_paths(path)
        for name in changed:
            try:
                info = (path / name).lstat()
            except OSError:
                continue  # deleted
            if stat.S_ISREG(info.st_mode) and info.st_size > limit:
                raise ChangeTooLarge(
                    f"{name} is {info.st_size} bytes, over limits.max_file_bytes ({limit} bytes); nothing was committed"
                )
        return changed

    def push(self, path: Path, repo: str, branch: str) -> str:
        """Force-push the bot's branch, but never over a commit we have not built on.

        A retried step rewrites the branch, so a fast-forward-only push is too strict. The lease
        plus `--force-if-includes` still refuses when the remote has a commit that is not in our
        branch's history (someone else pushed, whether or not we fetched it since).
        """
        cfg = self._repos(repo)
        ref = f"refs/heads/{branch}"
        sha = run_git(["rev-parse", "--verify", f"{ref}^{{commit}}"], path)
        if git_ok(["rev-parse", "--verify", "--quiet", f"refs/remotes/origin/{branch}"], path):
            lease = [f"--force-with-lease={ref}", "--force-if-includes"]
        else:
            lease = [f"--force-with-lease={ref}:"]  # the branch must not exist there yet
        push = ["push", "--porcelain", "--no-verify", *lease, "origin", f"{ref}:{ref}"]
        proc = git_result(push, path, self._auth(cfg))
        if proc.returncode != 0:
            tail = failure_tail(proc)
            rejected = re.search(r"rejected|declined|stale info", tail)
            why = "rejected by the remote" if rejected else "failed"
            raise PushRejected(f"push of {branch} to {cfg.name} was {why}: {tail}")
        return sha

    def cleanup(self, run_id: str) -> None:
        shutil.rmtree(self.root / _safe_component(run_id, "run"), ignore_errors=True)

    def run_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def _is_clone(self, path: Path, cfg: RepoConfig) -> bool:
        if not (path / ".git").exists():
            return False
        # `rev-parse` walks up; a run dir nested in another repo must not be mistaken for a clone.
        top = git_result(["rev-parse", "--show-toplevel"], path)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != path.resolve():
            return False
        marker = git_result(["config", "--get", MARKER_KEY], path)
        return marker.returncode == 0 and marker.stdout.strip() == cfg.name and self._has_head(path)

    @staticmethod
    def _has_head(path: Path) -> bool:
        return git_ok(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"], path)

    def _clone(self, path: Path, cfg: RepoConfig) -> None:
        if path.exists():
            shutil.rmtree(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        try:
            if self.mirrors is not None:
                # The mirror holds the objects (fetched in the last `fresh_for_s`, or now); the fetch
                # from the real remote then brings only what moved since, so a run never starts from a
                # base (or reverts a merge) older than the remote's.
                mirror = self.mirrors.ensure(cfg)
                run_git(["clone", "--quiet", "--origin", "origin", "--", str(mirror), str(tmp)], path.parent)
                run_git(["remote", "set-url", "origin", cfg.url], tmp)
                run_git(["fetch", "--quiet", "--prune", "origin"], tmp, self._auth(cfg))
            else:
                clone = ["clone", "--quiet", "--origin", "origin", "--", cfg.url, str(tmp)]
                run_git(clone, path.parent, self._auth(cfg))
            default_ref = f"refs/remotes/origin/{cfg.default_branch}"
            if not git_ok(["rev-parse", "--verify", "--quiet", default_ref], tmp):
                raise GitError(
                    ["clone", cfg.url],
                    1,
                    f"the remote has no default branch '{cfg.default_branch}'",
                )
            run_git(["config", "baton.defaultBranch", cfg.default_branch], tmp)
            run_git(["config", MARKER_KEY, cfg.name], tmp)
            add_excludes(tmp, BUILD_LITTER)
            os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _switch_to(self, path: Path, cfg: RepoConfig, branch: str) -> None:
        run_git(["check-ref-format", "--branch", branch], path)
        remote = f"refs/remotes/origin/{branch}"
        on_remote = git_ok(["rev-parse", "--verify", "--quiet", remote], path)
        if git_ok(["rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], path):
            current = git_result(["symbolic-ref", "--quiet", "--short", "HEAD"], path)
            if current.stdout.strip() != branch:
                run_git(["checkout", "--quiet", "--force", branch, "--"], path)
            if on_remote and git_ok(["merge-base", "--is-ancestor", "HEAD", remote], path):
                # Someone pushed on top of our work: build on it. A dirty tree that conflicts
                # keeps the old tip; the push lease then refuses rather than losing their commit.
                git_result(["merge", "--ff-only", "--quiet", remote], path)
            return
        start = remote if on_remote else f"refs/remotes/origin/{cfg.default_branch}"
        run_git(["checkout", "--quiet", "--force", "--no-track", "-B", branch, start, "--"], path)
