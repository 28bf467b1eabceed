"""The local forge: pull requests over plain bare git remotes, the embedded default and the demo's.

A pull request is a JSON record under `state_dir/<repo>/<number>.json` (title, body, branch,
head SHA, state, checks, merge SHA). Records are written to a temp file and renamed into place, and
every read-modify-write holds an `fcntl` lock on `state_dir/<repo>/.lock`, so two processes sharing
the directory never number two PRs alike, open two PRs for one branch, or merge one twice. Checks
run the repo's `checks` command in a fresh checkout of the head SHA, confined and with only its
`checks_env` (bot/agents/checks.py); merges are real `--no-ff` merges pushed to the remote's
default branch, guarded by the SHA the approval was given for.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, Field

from bot.config.models import RepoConfig
from bot.domain.diffs import ChangeDiff, DiffLimits
from bot.domain.models import ChangeSet, ChangeState, CheckOutcome, ChecksState, Readiness, utcnow
from bot.domain.ports import ChecksRunner, ForgeError, MergeRefused
from bot.scm.git import failure_tail, git_ok, git_result, merge_conflicts, remote_branch_sha, run_git
from bot.scm.local_diff import local_diff

OUTPUT_TAIL = 4000


class PullRecord(BaseModel):
    """What the local forge stores per pull request."""

    change: ChangeSet
    title: str
    body: str = ""
    checks_sha: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    ended_at: datetime | None = None
    """When it was merged or closed (the forge's own record of how many PRs were open at once)."""


class LocalForge:
    """`bot.domain.ports.Forge` over bare git remotes (`RepoConfig.url` is a path or `file://` URL)."""

    name = "local"

    def __init__(
        self,
        state_dir: Path,
        repos: Callable[[str], RepoConfig],
        workdir: Path,
        checks: ChecksRunner,
        checks_timeout_s: float = 1800.0,
    ) -> None:
        self.state_dir = state_dir
        self.workdir = workdir
        self.checks_timeout_s = checks_timeout_s
        self._repos = repos
        self._checks = checks

    # -- Forge -------------------------------------------------------------------------------

    def find_pr(self, repo: str, branch: str) -> ChangeSet | None:
        record = self._find(self._config(repo), branch)
        return self._view(record) if record else None

    def open_pr(self, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet:
        cfg = self._config(repo)
        with self._locked(cfg):
            existing = self._find(cfg, branch)
            if existing:
                return self._view(existing)
            if branch == cfg.default_branch:
                raise ForgeError(f"cannot open a pull request from {repo}'s default branch")
            head = self._remote_head(cfg, branch)
            if head is None:
                raise ForgeError(f"cannot open a pull request: {repo} has no branch {branch}")
            number = max((r.change.number for r in self._records(cfg)), default=0) + 1
            change = ChangeSet(
                run_id=run_id,
                repo=cfg.name,
                branch=branch,
                base=cfg.default_branch,
                number=number,
                url=f"local://{cfg.name}/pull/{number}",
                head_sha=head,
                order=order,
            )
            record = PullRecord(change=change, title=title, body=body)
            self._save(cfg, record)
            return self._view(record)

    def refresh(self, change: ChangeSet) -> ChangeSet:
        return self._view(self._load(self._config(change.repo), change.number))

    def run_checks(self, change: ChangeSet, known: CheckOutcome | None = None) -> CheckOutcome:
        cfg = self._config(change.repo)
        current = self.refresh(change)
        sha = current.head_sha
        if cfg.checks and known is not None and known.passed and known.sha == sha:
            # The same command already passed on this very commit (the run's workspace checks, on
            # a clean tree at `sha`): once per head, not again in a fresh checkout.
            self._record_checks(cfg, change.number, sha, ChecksState.passed, known.output_tail)
            return known
        self._record_checks(cfg, change.number, sha, ChecksState.pending, "")
        if not cfg.checks:
            outcome = CheckOutcome(passed=True, output_tail="no checks configured", sha=sha)
        else:
            try:
                with self._checkout(cfg, sha, f"checks-{cfg.name}-{change.number}-") as tree:
                    outcome = self._run_command(cfg, tree, sha, change)
            except ForgeError as err:  # no checkout: a failed check, never a stuck "pending"
                outcome = CheckOutcome(passed=False, output_tail=str(err), sha=sha)
        state = ChecksState.passed if outcome.passed else ChecksState.failed
        self._record_checks(cfg, change.number, sha, state, outcome.output_tail)
        return outcome

    def readiness(self, change: ChangeSet) -> Readiness:
        """Open, and its head merges into the default branch cleanly (`git merge-tree` in a throwaway clone)."""
        cfg, state = self._config(change.repo), self._load(self._config(change.repo), change.number).change.state
        head = self._remote_head(cfg, change.branch) if state is ChangeState.open else None
        if state is not ChangeState.open or head is None:
            gone = f"is {state.value}" if state is ChangeState.closed else f"has no branch {change.branch}"
            return Readiness() if state is ChangeState.merged else Readiness(problem=f"#{change.number} {gone}")
        with self._checkout(cfg, head, prefix=f"ready-{cfg.name}-{change.number}-") as tree:
            files = merge_conflicts(tree, f"refs/remotes/origin/{cfg.default_branch}", head)
        problem = f"merge conflict with {cfg.default_branch} in {', '.join(files)}" if files else None
        return Readiness(problem=problem, conflict=bool(files))

    def merge(self, change: ChangeSet, expected_sha: str) -> ChangeSet:
        cfg = self._config(change.repo)
        with self._locked(cfg):
            record = self._load(cfg, change.number)
            if record.change.state is ChangeState.merged:
                return self._view(record)
            try:
                merge_sha = self._merge(cfg, record, expected_sha)
            except MergeRefused as err:
                record.change = record.change.model_copy(update={"merge_error": str(err)})
                self._save(cfg, record)
                raise
            record.change = record.change.model_copy(
                update={
                    "state": ChangeState.merged,
                    "head_sha": expected_sha,
                    "merge_sha": merge_sha,
                    "merge_error": None,
                }
            )
            record.ended_at = utcnow()
            self._save(cfg, record)
            return self._view(record)

    def close(self, change: ChangeSet) -> ChangeSet:
        cfg = self._config(change.repo)
        with self._locked(cfg):
            record = self._load(cfg, change.number)
            if record.change.state is ChangeState.open:
                record.change = record.change.model_copy(update={"state": ChangeState.closed})
                record.ended_at = utcnow()
                self._save(cfg, record)
            return self._view(record)

    def diff(self, change: ChangeSet, limits: DiffLimits) -> ChangeDiff:
        return local_diff(self._config(change.repo), change, self.workdir, limits)

    # -- extras for the demo and the dashboard -------------------------------------------------

    def record(self, repo: str, number: int) -> PullRecord:
        """The stored pull request, title and body included."""
        return self._load(self._config(repo), number)

    # -- merging and checks ----------------------------------------------------------------------

    def _merge(self, cfg: RepoConfig, record: PullRecord, expected_sha: str) -> str:
        change = record.change
        if change.state is ChangeState.closed:
            raise MergeRefused(f"{change.url} is closed")
        if change.base != cfg.default_branch:
            raise MergeRefused(f"{change.url} targets {change.base}, not {cfg.default_branch}; nothing was merged")
        found = self._remote_head(cfg, change.branch)
        if found != expected_sha:
            raise MergeRefused(
                f"{change.url}: head moved since approval: expected {expected_sha}, "
                f"found {found or 'no branch ' + change.branch}"
            )
        with self._checkout(cfg, expected_sha, prefix=f"merge-{cfg.name}-{change.number}-") as tree:
            base = f"refs/remotes/origin/{cfg.default_branch}"
            run_git(["checkout", "--quiet", "-B", cfg.default_branch, base, "--"], tree)
            title = " ".join(record.title.split())
            message = f"Merge {change.url}: {title}"
            merge = ["-c", "commit.gpgsign=false", "merge", "--no-ff", "--no-edit", "-m", message]
            merged = git_result([*merge, expected_sha], tree)
            if merged.returncode != 0:
                conflicted = run_git(["diff", "--name-only", "--diff-filter=U"], tree).split()
                what = f"merge conflict in {', '.join(conflicted)}" if conflicted else "merge failed"
                raise MergeRefused(
                    f"{change.url}: {what} with {cfg.default_branch}; nothing was pushed. {failure_tail(merged)}"
                )
            ref = f"refs/heads/{cfg.default_branch}"
            pushed = git_result(["push", "--porcelain", "--no-verify", "origin", f"HEAD:{ref}"], tree)
            if pushed.returncode != 0:
                raise MergeRefused(
                    f"{change.url}: the remote rejected the merge into {cfg.default_branch}; "
                    f"it is unchanged. {failure_tail(pushed)}"
                )
            return run_git(["rev-parse", "HEAD"], tree)

    @contextmanager
    def _checkout(self, cfg: RepoConfig, sha: str, prefix: str) -> Iterator[Path]:
        """A throwaway clone of the remote under `workdir`, detached at `sha`."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        tree = Path(tempfile.mkdtemp(prefix=prefix, dir=self.workdir))
        try:
            run_git(["clone", "--quiet", "--no-checkout", "--", cfg.url, str(tree)], self.workdir)
            if not git_ok(["cat-file", "-e", f"{sha}^{{commit}}"], tree):
                run_git(["fetch", "--quiet", "origin", sha], tree)
            run_git(["-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", sha], tree)
            yield tree
        finally:
            shutil.rmtree(tree, ignore_errors=True)

    def _run_command(self, cfg: RepoConfig, cwd: Path, sha: str, change: ChangeSet) -> CheckOutcome:
        key = f"{change.run_id or 'forge'}/checks-{cfg.name}-{change.number}"
        outcome = self._checks.run(cfg, cwd, sha, key=key, timeout_s=self.checks_timeout_s)
        return outcome.model_copy(update={"output_tail": outcome.output_tail[-OUTPUT_TAIL:]})

    def _record_checks(self, cfg: RepoConfig, number: int, sha: str, state: ChecksState, output: str) -> None:
        with self._locked(cfg):
            record = self._load(cfg, number)
            if state is ChecksState.pending and record.checks_sha == sha:
                return  # keep a finished result for this SHA visible while re-running
            record.checks_sha = sha
            record.change = record.change.model_copy(update={"checks": state, "checks_output": output})
            self._save(cfg, record)

    # -- records ---------------------------------------------------------------------------------

    def _config(self, repo: str) -> RepoConfig:
        try:
            return self._repos(repo)
        except (KeyError, StopIteration, LookupError):
            raise ForgeError(f"unknown repo '{repo}'") from None

    def _remote_head(self, cfg: RepoConfig, branch: str) -> str | None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        return remote_branch_sha(cfg.url, branch, self.workdir)

    def _view(self, record: PullRecord) -> ChangeSet:
        """The record as people should see it now: live head for open PRs, checks only for it."""
        change = record.change
        if change.state is ChangeState.open:
            head = self._remote_head(self._config(change.repo), change.branch)
            change = change.model_copy(update={"head_sha": head or change.head_sha})
        if record.checks_sha != change.head_sha:
            change = change.model_copy(update={"checks": ChecksState.unknown, "checks_output": ""})
        return change

    def _dir(self, cfg: RepoConfig) -> Path:
        path = self.state_dir / cfg.name
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextmanager
    def _locked(self, cfg: RepoConfig) -> Iterator[None]:
        with open(self._dir(cfg) / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _records(self, cfg: RepoConfig) -> list[PullRecord]:
        paths = self._dir(cfg).glob("*.json")
        records = [PullRecord.model_validate_json(p.read_text(encoding="utf-8")) for p in paths]
        return sorted(records, key=lambda r: r.change.number)

    def _find(self, cfg: RepoConfig, branch: str) -> PullRecord | None:
        live = (ChangeState.open, ChangeState.merged)
        matches = [r for r in self._records(cfg) if r.change.branch == branch and r.change.state in live]
        # An open PR wins over an older merged one for the same branch.
        matches.sort(key=lambda r: (r.change.state is ChangeState.open, r.change.number))
        return matches[-1] if matches else None

    def _load(self, cfg: RepoConfig, number: int) -> PullRecord:
        path = self._dir(cfg) / f"{number}.json"
        if not path.exists():
            raise ForgeError(f"no pull request local://{cfg.name}/pull/{number}")
        return PullRecord.model_validate_json(path.read_text(encoding="utf-8"))

    def _save(self, cfg: RepoConfig, record: PullRecord) -> None:
        folder = self._dir(cfg)
        fd, tmp = tempfile.mkstemp(prefix=".pr-", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(record.model_dump_json(indent=2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, folder / f"{record.change.number}.json")
