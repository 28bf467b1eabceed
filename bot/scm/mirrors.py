"""Cached bare mirrors of the configured repos, and the regex search over them (`RepoSearch`).

One bare mirror per repo at `<home>/mirrors/<name>.git`, of its branches: cloned once, then
fetched (`git fetch --prune`) before use unless it was fetched in the last `fresh_for_s` seconds. A
file lock per mirror (`<name>.git.lock`, flock) serialises clones and fetches between threads and
processes; readers need none (git adds objects before it moves a ref). Workspaces are cloned from
the mirror (bot/scm/workspace.py), so a run's clone costs a local copy plus an incremental fetch.

The search runs `git grep -E` on each mirror's default branch, many mirrors at once (one git
process each; the work is in git, so threads suffice). The pattern is the requester's data: it goes
after `-e`, the tree before `--`, never to a shell; a pattern git rejects is a DiscoveryError that
quotes git. Every git call is Baton's hardened one (bot/scm/git.py, bot/scm/gitguard.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import structlog

from bot.config.models import RepoConfig
from bot.domain.discovery import HITS_SHOWN, DiscoveryError, Hit, RepoHits
from bot.domain.naming import safe_component
from bot.scm.git import GitError, git_lines, run_git

log = structlog.get_logger(__name__)

FRESH_FOR_S = 60.0
"""A mirror fetched this recently is searched (or cloned from) as it is."""
LINES_READ = 400
"""Matching lines read per repo (`-m` keeps it to HITS_SHOWN per file): enough to count files."""
_MARKER = "baton.mirrorOf"
_STAMP = "baton-fetched"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
"""git's built-in empty tree: a pattern is tried on it once, so git's verdict on the pattern is
told apart from a repo's own trouble."""

RemoteAuth = Callable[[RepoConfig], Mapping[str, str]]


def default_workers() -> int:
    """Parallel git processes: a search waits on the disk as much as on a core."""
    return max(4, 4 * (os.cpu_count() or 1))


class Mirrors:
    """`bot.domain.ports.RepoSearch` over bare mirrors under `root`."""

    def __init__(
        self,
        root: Path,
        remote_auth: RemoteAuth | None = None,
        *,
        fresh_for_s: float = FRESH_FOR_S,
        workers: int | None = None,
    ) -> None:
        self.root = root
        self._remote_auth = remote_auth
        self.fresh_for_s = fresh_for_s
        self.workers = workers or default_workers()

    def path(self, repo: str) -> Path:
        return self.root / f"{safe_component(repo, 'repo')}.git"

    # -- keeping mirrors current ----------------------------------------------------------------------
    def ensure(self, cfg: RepoConfig, *, max_age_s: float | None = None) -> Path:
        """The repo's mirror, cloned if missing and fetched if older than `max_age_s` (default
        `fresh_for_s`; 0 fetches now). Safe to call from many threads and processes at once."""
        age = self.fresh_for_s if max_age_s is None else max_age_s
        path = self.path(cfg.name)
        if self._fresh(path, cfg, age):
            return path
        with self._locked(path):
            if self._fresh(path, cfg, age):  # another process fetched while we waited
                return path
            if self._is_mirror(path, cfg):
                run_git(["fetch", "--prune", "--quiet", "origin"], path, self._auth(cfg))
            else:
                self._clone(path, cfg)
            (path / _STAMP).write_text(_stamp(cfg), encoding="utf-8")
        return path

    def refresh(self, repos: list[RepoConfig], *, max_age_s: float | None = None) -> None:
        """Every repo's mirror current (in parallel); the first failure is a DiscoveryError."""
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            futures = [pool.submit(self.ensure, cfg, max_age_s=max_age_s) for cfg in repos]
            for cfg, future in zip(repos, futures, strict=True):
                try:
                    future.result()
                except GitError as err:
                    raise DiscoveryError(f"the mirror of {cfg.name} could not be fetched: {err}") from None

    def _fresh(self, path: Path, cfg: RepoConfig, age: float) -> bool:
        """Fetched less than `age` ago from the URL configured now (read from a file: no git call)."""
        stamp = path / _STAMP
        try:
            fetched = stamp.stat().st_mtime
            return time.time() - fetched < age and stamp.read_text(encoding="utf-8") == _stamp(cfg)
        except OSError:
            return False

    def _is_mirror(self, path: Path, cfg: RepoConfig) -> bool:
        if not (path / "HEAD").is_file():
            return False
        try:
            marker = run_git(["config", "--get", _MARKER], path)
            url = run_git(["config", "--get", "remote.origin.url"], path)
        except GitError:
            return False
        if url != cfg.url:  # the repo moved in baton.yml: follow it
            run_git(["remote", "set-url", "origin", cfg.url], path)
        return marker == cfg.name

    def _clone(self, path: Path, cfg: RepoConfig) -> None:
        """A new mirror, made beside its place and renamed in: a crash leaves nothing half-made."""
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}-", dir=path.parent))
        try:
            run_git(["clone", "--quiet", "--bare", "--", cfg.url, str(tmp)], path.parent, self._auth(cfg))
            # Branches only (not a forge's refs/pull/*): what a search and a workspace need.
            run_git(["config", "remote.origin.fetch", "+refs/heads/*:refs/heads/*"], tmp)
            run_git(["config", _MARKER, cfg.name], tmp)
            os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @contextlib.contextmanager
    def _locked(self, path: Path) -> Iterator[None]:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _auth(self, cfg: RepoConfig) -> Mapping[str, str] | None:
        return self._remote_auth(cfg) if self._remote_auth is not None else None

    # -- searching --------------------------------------------------------------------------------------
    def search(self, pattern: str, repos: list[RepoConfig]) -> list[RepoHits]:
        """Every repo of `repos` whose default branch matches `pattern` (a POSIX extended regex),
        with its first HITS_SHOWN matching lines, in the order given."""
        if not pattern:
            raise DiscoveryError("the discovery pattern is empty")
        if "\n" in pattern or "\0" in pattern:
            raise DiscoveryError("the discovery pattern must be one line")
        started = time.monotonic()
        self.refresh(repos)
        if repos:
            self._check_pattern(pattern, self.path(repos[0].name))
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            found = list(pool.map(lambda cfg: self.grep(pattern, cfg), repos))
        matched = [hits for hits in found if hits is not None]
        log.info(
            "discovery.searched",
            repos=len(repos),
            matched=len(matched),
            seconds=round(time.monotonic() - started, 3),
        )
        return matched

    @staticmethod
    def _check_pattern(pattern: str, path: Path) -> None:
        """DiscoveryError quoting git when it cannot read `pattern` (tried on the empty tree)."""
        _lines, _more, code, err = git_lines(_grep_args(pattern, EMPTY_TREE), path, 1)
        if code not in (0, 1):
            raise DiscoveryError(f"git grep rejected the pattern {pattern!r}: {err or f'exit {code}'}")

    def grep(self, pattern: str, cfg: RepoConfig) -> RepoHits | None:
        """One mirror's matches on its default branch; None when nothing matches."""
        tree = f"refs/heads/{cfg.default_branch}"
        lines, more, code, err = git_lines(_grep_args(pattern, tree), self.path(cfg.name), LINES_READ)
        if code == 1 and not lines:
            return None
        if code != 0:
            raise DiscoveryError(f"{cfg.name} could not be searched on {cfg.default_branch}: {err or f'exit {code}'}")
        hits: list[Hit] = []
        files: set[str] = set()
        for line in lines:
            name, _, rest = line.partition("\0")
            number, _, text = rest.partition("\0")
            name = name.removeprefix(f"{tree}:")
            files.add(name)
            if len(hits) < HITS_SHOWN:
                hits.append(Hit(path=name, line=int(number) if number.isdigit() else 0, text=text.strip()[:200]))
        return RepoHits(repo=cfg.name, hits=hits, files=len(files), truncated=more)


def _grep_args(pattern: str, tree: str) -> list[str]:
    """`git grep` of `tree` for `pattern`: the pattern only ever after `-e`, the tree before `--`."""
    return ["grep", "-I", "-n", "-z", "-E", "--no-color", "-m", str(HITS_SHOWN), "-e", pattern, tree, "--"]


def _stamp(cfg: RepoConfig) -> str:
    return f"{cfg.name}\n{cfg.url}\n"
