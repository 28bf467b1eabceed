"""What a workspace keeps outside its clones' branches, as a mixin of `GitWorkspace`: a finished
step's commit pushed to a hidden ref on the repo's remote (bot/scm/hidden_refs.py), fetched back
when a later step runs on another machine and dropped when the run ends; and the detached work
trees of concurrent best-of candidates, with the refs that keep a candidate's commit reachable.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.config.models import RepoConfig
from bot.scm import hidden_refs
from bot.scm.git import GitError, git_ok, run_git

MARKER_KEY = "baton.repo"
RUN_KEY = "baton.run"  # which run's step refs (bot/scm/hidden_refs.py) a missing commit is among
RemoteAuth = Callable[[RepoConfig], Mapping[str, str]]
"""The git environment a repo's remote needs (e.g. `remote_auth_env`), for the calls that reach it."""


class StepRefs:
    """Step refs and candidate work trees over the clones a `GitWorkspace` lays out under `root`."""

    root: Path
    _repos: Callable[[str], RepoConfig]
    _remote_auth: RemoteAuth | None

    def path_for(self, run_id: str, repo: str) -> Path:
        raise NotImplementedError  # GitWorkspace's layout of its clones

    def save_step(self, path: Path, run_id: str, repo: str, step_key: str, sha: str) -> str:
        """Push a finished step's commit to its hidden ref on the repo's remote; the ref."""
        ref = hidden_refs.step_ref(run_id, repo, step_key)
        hidden_refs.save(path, sha, ref, self._auth(self._repos(repo)))
        return ref

    def drop_saved(self, run_id: str, repos: list[str]) -> int:
        """Delete a run's step refs from its repos' remotes (the run ended); how many went."""
        dropped = 0
        for repo in repos:
            cfg = self._repos(repo)
            here = self.path_for(run_id, repo)
            where = here if (here / ".git").is_dir() else self._scratch_repo()
            dropped += hidden_refs.drop(where, cfg.url, run_id, repo, self._auth(cfg))
        return dropped

    def _fetch_saved(self, path: Path) -> None:
        run_id = run_git(["config", "--get", RUN_KEY], path)
        cfg = self._repos(run_git(["config", "--get", MARKER_KEY], path))
        hidden_refs.fetch(path, run_id, cfg.name, self._auth(cfg))

    def _scratch_repo(self) -> Path:
        """An empty repository to run remote-only git commands from (git wants one to push)."""
        path = self.root / ".scratch-git"
        if not (path / "HEAD").exists():
            path.mkdir(parents=True, exist_ok=True)
            run_git(["init", "--quiet", "--bare", str(path)], path)
        return path

    def _auth(self, cfg: RepoConfig) -> Mapping[str, str] | None:
        return self._remote_auth(cfg) if self._remote_auth is not None else None

    # -- worktrees (concurrent best-of candidates) ---------------------------------------------------
    def add_worktree(self, main: Path, tree: Path, head: str) -> Path:
        """A detached work tree of `main`'s repository at `head` (a leftover from a crashed race goes first)."""
        self.remove_worktree(main, tree)
        tree.parent.mkdir(parents=True, exist_ok=True)
        if not git_ok(["cat-file", "-e", f"{head}^{{commit}}"], main):
            self._fetch_saved(main)  # an earlier step's commit, made on another machine
        run_git(["worktree", "add", "--detach", "--force", str(tree), head], main)
        return tree

    def remove_worktree(self, main: Path, tree: Path) -> None:
        with contextlib.suppress(GitError):
            run_git(["worktree", "remove", "--force", str(tree)], main)
        shutil.rmtree(tree, ignore_errors=True)
        with contextlib.suppress(GitError):
            run_git(["worktree", "prune"], main)

    def keep(self, main: Path, ref: str, sha: str) -> None:
        """Keep `sha` reachable under `refs/baton/<ref>` (a candidate's commit once its tree is gone)."""
        run_git(["update-ref", f"refs/baton/{ref}", sha], main)
