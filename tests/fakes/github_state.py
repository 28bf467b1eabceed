"""What the fake GitHub knows: users and tokens, repos backed by real bare git repos, issues,
comments, reactions, pull requests, check runs and commit statuses.

Git is the truth for everything git decides: a PR's head SHA is its branch's tip in the bare repo
at the moment of the request, mergeability comes from `git merge-tree`, and a merge writes a real
commit onto the base branch with a compare-and-swap `update-ref` (so a racing push loses cleanly).
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.scm.git import git_result, run_git

ROLES = ("read", "triage", "write", "maintain", "admin")
_GITHUB_IDENTITY = {
    "GIT_AUTHOR_NAME": "GitHub",
    "GIT_AUTHOR_EMAIL": "noreply@github.com",
    "GIT_COMMITTER_NAME": "GitHub",
    "GIT_COMMITTER_EMAIL": "noreply@github.com",
}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MergeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Pull:
    number: int
    title: str
    body: str
    head: str
    base: str
    author: str
    draft: bool = False
    state: str = "open"
    merged: bool = False
    merged_at: str | None = None
    closed_at: str | None = None
    merge_commit_sha: str | None = None
    closed_head_sha: str | None = None
    created_at: str = field(default_factory=now_iso)
    unknown_reads_left: int = 0
    """GitHub computes mergeability in the background: this many reads answer `mergeable: null`."""
    seen_head: str | None = None
    merged_by: str | None = None
    merge_base: str | None = None
    """Where the PR forked from its base, kept when it merges (GitHub keeps a merged PR's files)."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """The PR's issue events GitHub keeps (`ready_for_review`, `convert_to_draft`, `base_ref_changed`)."""


@dataclass
class IssueEvent:
    """One entry of an issue's timeline of events (`labeled`, `unlabeled`), as GitHub lists them."""

    id: int
    event: str
    actor: str
    label: str
    created_at: str = field(default_factory=now_iso)


@dataclass
class Issue:
    number: int
    title: str
    body: str
    author: str
    labels: list[str] = field(default_factory=list)
    events: list[IssueEvent] = field(default_factory=list)


@dataclass
class Comment:
    id: int
    repo: str
    issue: int
    body: str
    author: str
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    reactions: list[tuple[int, str, str]] = field(default_factory=list)  # (id, content, login)


@dataclass
class Repo:
    full_name: str
    git_dir: Path
    id: int
    default_branch: str = "main"
    roles: dict[str, str] = field(default_factory=dict)
    required_checks: list[str] = field(default_factory=list)
    pulls: dict[int, Pull] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)
    check_runs: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[dict[str, Any]] = field(default_factory=list)
    issue_reactions: list[tuple[int, int, str, str]] = field(default_factory=list)  # (issue, id, content, login)

    def next_number(self) -> int:
        return max([0, *self.pulls, *self.issues]) + 1


class World:
    """All state of the fake, behind one lock (requests are served on several threads)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self.users: dict[str, tuple[int, str]] = {}  # login -> (id, type)
        self.tokens: dict[str, str] = {}  # token -> login
        self.comments: dict[int, Comment] = {}
        self._ids = 1000
        self.unknown_mergeable_reads = 1

    def new_id(self) -> int:
        with self.lock:
            self._ids += 1
            return self._ids

    def user(self, login: str, kind: str = "User") -> tuple[int, str]:
        with self.lock:
            if login not in self.users:
                self.users[login] = (self.new_id(), kind)
            return self.users[login]

    def repo(self, full_name: str) -> Repo | None:
        return next((r for name, r in self.repos.items() if name.lower() == full_name.lower()), None)

    # -- git ------------------------------------------------------------------------------------
    def branch_sha(self, repo: Repo, branch: str) -> str | None:
        found = git_result(
            ["--git-dir", str(repo.git_dir), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], repo.git_dir
        )
        return found.stdout.strip() if found.returncode == 0 else None

    def head_sha(self, repo: Repo, pull: Pull) -> str:
        if pull.state == "closed" and pull.closed_head_sha:
            return pull.closed_head_sha
        sha = self.branch_sha(repo, pull.head) or pull.closed_head_sha or ""
        if sha != pull.seen_head:  # a new head: GitHub recomputes mergeability in the background
            pull.seen_head = sha
            pull.unknown_reads_left = self.unknown_mergeable_reads
        return sha

    def commits_between(self, repo: Repo, base: str, head: str) -> int:
        out = run_git(["--git-dir", str(repo.git_dir), "rev-list", "--count", f"{base}..{head}"], repo.git_dir)
        return int(out)

    def merge_tree(self, repo: Repo, base_sha: str, head_sha: str) -> str | None:
        """The merged tree of base and head, or None when they conflict."""
        proc = git_result(
            ["--git-dir", str(repo.git_dir), "merge-tree", "--write-tree", base_sha, head_sha], repo.git_dir
        )
        return proc.stdout.split("\n", 1)[0].strip() if proc.returncode == 0 else None

    def mergeable(self, repo: Repo, pull: Pull) -> bool | None:
        head = self.head_sha(repo, pull)
        if pull.state != "open":
            return None if pull.merged else False
        if pull.unknown_reads_left > 0:
            pull.unknown_reads_left -= 1
            return None
        base = self.branch_sha(repo, pull.base)
        return bool(base and head and self.merge_tree(repo, base, head))

    def merge(self, repo: Repo, pull: Pull, method: str, title: str, message: str) -> str:
        """Merge `pull` into its base for real; returns the new base tip."""
        head = self.head_sha(repo, pull)
        base = self.branch_sha(repo, pull.base)
        assert base is not None
        tree = self.merge_tree(repo, base, head)
        if tree is None:
            raise MergeError(405, "Pull Request is not mergeable")
        git = ["--git-dir", str(repo.git_dir)]
        if method == "squash":
            new = run_git(
                [*git, "commit-tree", tree, "-p", base, "-m", f"{title}\n\n{message}".strip()],
                repo.git_dir,
                _GITHUB_IDENTITY,
            )
        elif method == "rebase":
            new = self._rebase(repo, base, head)
        else:
            text = f"Merge pull request #{pull.number} from {pull.head}\n\n{title}"
            new = run_git(
                [*git, "commit-tree", tree, "-p", base, "-p", head, "-m", text], repo.git_dir, _GITHUB_IDENTITY
            )
        swapped = git_result([*git, "update-ref", f"refs/heads/{pull.base}", new, base], repo.git_dir)
        if swapped.returncode != 0:
            raise MergeError(405, "Base branch was modified. Review and try the merge again.")
        return new

    def _rebase(self, repo: Repo, base: str, head: str) -> str:
        work = Path(tempfile.mkdtemp(prefix="fake-gh-rebase-"))
        try:
            run_git(["clone", "--quiet", "--shared", str(repo.git_dir), str(work)], work.parent)
            run_git(["checkout", "--quiet", "--detach", base], work)
            picked = git_result(
                ["-c", "commit.gpgsign=false", "cherry-pick", f"{base}..{head}"], work, _GITHUB_IDENTITY
            )
            if picked.returncode != 0:
                raise MergeError(405, "This branch can't be rebased")
            new = run_git(["rev-parse", "HEAD"], work)
            run_git(["push", "--quiet", "origin", f"{new}:refs/baton-fake/rebased"], work)
            run_git(["--git-dir", str(repo.git_dir), "update-ref", "-d", "refs/baton-fake/rebased"], repo.git_dir)
            return new
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def delete_branch(self, repo: Repo, branch: str) -> bool:
        return (
            git_result(
                ["--git-dir", str(repo.git_dir), "update-ref", "-d", f"refs/heads/{branch}"], repo.git_dir
            ).returncode
            == 0
        )

    # -- checks ---------------------------------------------------------------------------------
    def checks_green(self, repo: Repo, sha: str) -> tuple[bool, list[str]]:
        """Whether the required checks passed on `sha`, and which are missing or red."""
        passing = {
            r["name"]
            for r in repo.check_runs
            if r["head_sha"] == sha and r["conclusion"] in ("success", "neutral", "skipped")
        }
        passing |= {s["context"] for s in repo.statuses if s["sha"] == sha and s["state"] == "success"}
        missing = [name for name in repo.required_checks if name not in passing]
        return not missing, missing
