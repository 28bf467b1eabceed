"""The narrow interfaces the orchestration core depends on, in domain words.

The engine speaks only these Protocols; each service (git remotes, GitHub, Slack, Linear, an agent
CLI) is one adapter that implements them. Nothing here imports an adapter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot.domain.diffs import ChangeDiff, DiffLimits
from bot.domain.discovery import RepoHits

if TYPE_CHECKING:
    from bot.config.models import RepoConfig

from bot.domain.models import AgentResult, AgentTask, ChangeSet, CheckOutcome, DiffStats, Readiness
from bot.domain.records import RunEvent, RunView

StopCheck = Callable[[], bool]
"""Asked while an agent works; True means the run was cancelled and the agent must be killed."""

ProgressSink = Callable[[str, dict[str, object]], None]
"""Live progress from an agent (tool calls, files touched, tokens so far) as (kind, data)."""


class ForgeError(Exception):
    """A forge refused an operation; the message is safe to show to people."""


class PushRejected(ForgeError):
    pass


class MergeRefused(ForgeError):
    pass


class ChangeTooLarge(ForgeError):
    """A step's change is over one of `limits` (the message names the limit, and the file if one)."""


class Agent(Protocol):
    name: str

    def run(
        self,
        task: AgentTask,
        workdir: Path,
        should_stop: StopCheck,
        progress: ProgressSink,
    ) -> AgentResult: ...


class UnknownAgent(LookupError):
    """No such agent, or none could be chosen; the message is safe to show to people."""


class AgentPool(Protocol):
    """The configured agents, by name, and which one does a repo's work (routing and fallback)."""

    def get(self, name: str) -> Agent:
        """The agent called `name`; raises UnknownAgent naming the valid choices."""
        ...

    def route(self, repo: str, labels: list[str], channel: str | None, explicit: str | None) -> str:
        """The agent for `repo`: `explicit` if given, else the first routing rule that matches."""
        ...

    def chain(self, primary: str) -> list[str]:
        """`primary` and the fallback agents after it."""
        ...


class AgentProcesses(Protocol):
    """Agent processes alive on this host, by run and step (so they can be stopped)."""

    def started(self, run_id: str, step_key: str, pgid: int) -> None: ...

    def finished(self, run_id: str, step_key: str) -> None: ...

    def stop_leftover(self, run_id: str, step_key: str) -> None:
        """Kill what an earlier incarnation of this step left running (a step re-run after a crash)."""
        ...

    def stop_run(self, run_id: str) -> int:
        """Kill every agent of a run still running on this host; how many were stopped."""
        ...


class ChecksRunner(Protocol):
    """Runs a repo's checks command (code an agent just wrote) in a work tree, confined."""

    def run(
        self,
        repo: RepoConfig,
        workdir: Path,
        sha: str,
        *,
        key: str,
        timeout_s: float,
        should_stop: Callable[[], bool] = ...,
    ) -> CheckOutcome: ...

    def run_set(
        self,
        command: str,
        set_dir: Path,
        *,
        key: str,
        timeout_s: float,
        should_stop: Callable[[], bool] = ...,
    ) -> CheckOutcome:
        """A playbook's `integration_checks` over a change set laid out as `set_dir/<repo>`
        (`BATON_SET_DIR` in its environment), confined like a repo's checks, no secrets."""
        ...


class Workspace(Protocol):
    def prepare(self, run_id: str, repo: str, branch: str) -> Path:
        """A checkout of `repo` on `branch` for this run; idempotent across restarts."""
        ...

    def locate(self, run_id: str, repo: str, branch: str) -> Path:
        """The checkout a previous step of this run prepared (prepared again if missing)."""
        ...

    def head(self, path: Path) -> str: ...

    def reset_to(self, path: Path, sha: str) -> None:
        """Discard anything not committed, back to `sha` (used before a retried agent step); a
        commit missing here is fetched from the run's hidden step refs."""
        ...

    def commit_all(self, path: Path, message: str) -> str | None:
        """Commit every change as the bot; None when there was nothing to commit. Raises
        ChangeTooLarge (committing nothing) when a changed file is over `limits.max_file_bytes`."""
        ...

    def diff_stats(self, path: Path, base_sha: str, head_sha: str) -> tuple[DiffStats, list[str]]:
        """(size of the change, some of its paths) between two commits. Raises ChangeTooLarge
        when its unified diff is over `limits.max_diff_bytes`."""
        ...

    def diff_text(self, path: Path, base_sha: str, head_sha: str, max_bytes: int) -> str:
        """The unified diff between two commits, for people: read from git, cut at `max_bytes`."""
        ...

    def diff(self, path: Path, base_sha: str) -> tuple[str, list[str]]:
        """(unified diff cut at `limits.max_diff_bytes`, files changed) between `base_sha` and the
        working tree."""
        ...

    def merge_base(self, path: Path, head: str) -> tuple[str, list[str]]:
        """Merge the repo's default branch (as last fetched) into the branch at `head`, as a merge
        commit; conflicted files go into it with their markers. (its SHA, the conflicted files)."""
        ...

    def revert(self, path: Path, sha: str) -> str:
        """A commit on the checked-out branch undoing the merged commit `sha`; its SHA (the branch's
        head as it is when it already holds the revert)."""
        ...

    def push(self, path: Path, repo: str, branch: str) -> str:
        """Push `branch`; returns the pushed SHA. Raises PushRejected."""
        ...

    def base_sha(self, path: Path) -> str:
        """The SHA of the default branch the run's branch started from."""
        ...

    def cleanup(self, run_id: str) -> None: ...

    def run_ids(self) -> list[str]:
        """The runs that have a workspace here."""
        ...

    def add_worktree(self, main: Path, tree: Path, head: str) -> Path:
        """Another work tree of `main`'s repository at `head` (concurrent best-of candidates)."""
        ...

    def remove_worktree(self, main: Path, tree: Path) -> None: ...

    def keep(self, main: Path, ref: str, sha: str) -> None:
        """Keep `sha` reachable under a ref of Baton's own after its work tree is gone."""
        ...

    def save_step(self, path: Path, run_id: str, repo: str, step_key: str, sha: str) -> str:
        """Push a finished agent step's commit to a hidden ref on the repo's remote, so a worker
        elsewhere can continue from it (`reset_to` fetches it when missing); returns the ref."""
        ...

    def drop_saved(self, run_id: str, repos: list[str]) -> int:
        """Delete the run's hidden step refs from its repos' remotes; how many there were."""
        ...


class RepoSearch(Protocol):
    """A regex search of repos' default branches (`git grep -E` over cached mirrors)."""

    def search(self, pattern: str, repos: list[RepoConfig]) -> list[RepoHits]:
        """Every repo of `repos` with at least one match, in the order given. Raises
        DiscoveryError for a pattern git rejects or a repo that cannot be read."""
        ...


class Forge(Protocol):
    name: str

    def find_pr(self, repo: str, branch: str) -> ChangeSet | None: ...

    def open_pr(self, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet:
        """Open a PR for `branch`, or return the one already open for it."""
        ...

    def refresh(self, change: ChangeSet) -> ChangeSet:
        """Current head SHA and state of a PR."""
        ...

    def run_checks(self, change: ChangeSet, known: CheckOutcome | None = None) -> CheckOutcome:
        """The PR's checks at its head. `known`: the outcome of the repo's checks command at a head
        (the run's workspace checks); a forge whose PR checks are that same command uses it when
        it is for the PR's current head instead of running them again."""
        ...

    def readiness(self, change: ChangeSet) -> Readiness:
        """Whether the PR could merge into its base now (conflicts, a draft a person made, …)."""
        ...

    def merge(self, change: ChangeSet, expected_sha: str) -> ChangeSet:
        """Merge into the repo's default branch if the head is still `expected_sha`; raises
        MergeRefused otherwise (or when the PR targets another branch)."""
        ...

    def close(self, change: ChangeSet) -> ChangeSet:
        """Close an open PR without merging (a merged or closed one is returned as it is)."""
        ...

    def diff(self, change: ChangeSet, limits: DiffLimits) -> ChangeDiff:
        """What the PR changes at `change.head_sha`, read from the forge (never from run facts):
        every file with its line counts, and patch text within `limits` (`STAT_ONLY`: counts
        only). A merged PR shows what it merged."""
        ...


class Surface(Protocol):
    """A place people look at a run. Receives events one way, never calls back into the engine."""

    def publish(self, view: RunView, event: RunEvent) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
