"""The GitHub forge: `bot.ports.Forge` on PyGithub, with the local forge's semantics.

A PR is looked up by its head branch before one is created (idempotent after a crash or a lost
answer), opened as a draft until its checks pass (configurable), and merged with the `sha` guard so
a head that moved after approval is refused by GitHub itself (409). `run_checks` reads the head's
check runs and commit statuses as they are now and never waits for CI: unfinished checks are
`pending`, and the webhook handler or the poller reports them when they finish. A merge that
answers 405/409 raises `MergeRefused` saying what happened and what to do next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from github import GithubException
from github.PullRequest import PullRequest
from github.Repository import Repository

from bot.config import BatonFile, RepoConfig
from bot.domain import ChangeSet, ChangeState, CheckOutcome
from bot.ports import ForgeError, MergeRefused
from bot.review.model import ChangeDiff, DiffLimits
from bot.scm.github_client import GitHubApi, describe, loaded, refusals
from bot.scm.github_diff import github_diff

log = structlog.get_logger(__name__)
OUTPUT_TAIL = 4000
_PASSING = {"success", "neutral", "skipped"}


class GitHubForge:
    name = "github"

    def __init__(self, api: GitHubApi, config: BatonFile, sleep: Callable[[float], None] = time.sleep) -> None:
        self.api = api
        self.config = config
        self._sleep = sleep

    # -- helpers ----------------------------------------------------------------------------------
    def target(self, repo: str) -> tuple[RepoConfig, str]:
        """The repo's config and its GitHub `owner/name`."""
        cfg = next((r for r in self.config.repos if r.name == repo), None)
        if cfg is None or not cfg.github:
            raise ForgeError(f"repo '{repo}' is not a GitHub repo in baton.yml")
        return cfg, cfg.github

    def _pull(self, full: str, number: int) -> PullRequest:
        repo = self.api.repo(full)
        return self.api.call(f"read {full}#{number}", lambda: loaded(repo.get_pull(number)))

    @staticmethod
    def _state(pr: PullRequest) -> ChangeState:
        if pr.merged_at is not None:
            return ChangeState.merged
        return ChangeState.closed if pr.state == "closed" else ChangeState.open

    def _change(self, cfg: RepoConfig, pr: PullRequest, run_id: str = "", order: int = 0) -> ChangeSet:
        state = self._state(pr)
        return ChangeSet(
            run_id=run_id,
            repo=cfg.name,
            branch=pr.head.ref,
            base=pr.base.ref,
            number=pr.number,
            url=pr.html_url,
            head_sha=pr.head.sha,
            order=order,
            state=state,
            merge_sha=pr.merge_commit_sha if state is ChangeState.merged else None,
        )

    def _find(self, full: str, branch: str, live_only: bool) -> PullRequest | None:
        """The PR whose head is `branch`: an open one first, else (unless `live_only`) a merged one."""
        owner = full.split("/", 1)[0]
        repo = self.api.repo(full)
        pulls = self.api.call(
            f"look up the pull request for {branch} in {full}",
            lambda: list(repo.get_pulls(state="all", head=f"{owner}:{branch}")),
        )
        pulls = [p for p in pulls if p.head.ref == branch]
        open_ = [p for p in pulls if p.state == "open"]
        merged = [p for p in pulls if p.merged_at is not None]
        if open_:
            return max(open_, key=lambda p: p.number)
        if merged and not live_only:
            return max(merged, key=lambda p: p.number)
        return None

    # -- Forge ------------------------------------------------------------------------------------
    def find_pr(self, repo: str, branch: str) -> ChangeSet | None:
        cfg, full = self.target(repo)
        with refusals(f"look up the pull request for {branch} in {full}"):
            found = self._find(full, branch, live_only=False)
        return self._change(cfg, found) if found else None

    def open_pr(self, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet:
        _, full = self.target(repo)
        with refusals(f"open a pull request for {branch} in {full}"):
            return self._open(run_id, repo, branch, title, body, order)

    def _open(self, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet:
        cfg, full = self.target(repo)
        existing = self._find(full, branch, live_only=False)
        if existing is not None:
            return self._change(cfg, existing, run_id, order)
        if branch == cfg.default_branch:
            raise ForgeError(f"cannot open a pull request from {full}'s default branch")
        remote = self.api.repo(full)
        draft = self.config.github.draft_until_checks

        def create() -> PullRequest:
            return remote.create_pull(base=cfg.default_branch, head=branch, title=title, body=body, draft=draft)

        def recover() -> PullRequest | None:  # the answer may be lost after GitHub created the PR
            return self._find(full, branch, live_only=True)

        try:
            pr = self.api.call(f"open a pull request for {branch} in {full}", create, recover)
        except GithubException as err:
            found = recover() if err.status == 422 else None
            if found is not None:
                return self._change(cfg, found, run_id, order)
            if err.status == 422 and draft and "draft" in describe(err).lower():
                draft = False  # draft PRs are not available on this repo's plan: open it ready
                pr = self.api.call(f"open a pull request for {branch} in {full}", create, recover)
            else:
                raise ForgeError(
                    f"GitHub refused to open a pull request for {branch} in {full}: {describe(err)}"
                ) from None
        log.info("github.pr_opened", run_id=run_id, repo=full, number=pr.number, draft=draft)
        return self._change(cfg, pr, run_id, order)

    def refresh(self, change: ChangeSet) -> ChangeSet:
        cfg, full = self.target(change.repo)
        try:
            pr = self._pull(full, change.number)
            fresh = self._change(cfg, pr, change.run_id, change.order)
        except GithubException as err:
            raise ForgeError(f"could not read {full}#{change.number}: {describe(err)}") from None
        if fresh.head_sha == change.head_sha:
            fresh = fresh.model_copy(update={"checks": change.checks, "checks_output": change.checks_output})
        return fresh

    def run_checks(self, change: ChangeSet) -> CheckOutcome:
        """The combined state of the head's check runs and commit statuses, as GitHub has it now."""
        _cfg, full = self.target(change.repo)
        sha = change.head_sha
        repo = self.api.repo(full)
        with refusals(f"read the checks of {full}@{sha[:7]}"):
            return self._checks(full, change.number, sha, repo)

    def _checks(self, full: str, number: int, sha: str, repo: Repository) -> CheckOutcome:
        try:
            commit = repo.get_commit(sha)
            runs = self.api.call(f"read the check runs of {full}@{sha[:7]}", lambda: list(commit.get_check_runs()))
            combined = self.api.call(f"read the statuses of {full}@{sha[:7]}", commit.get_combined_status)
        except GithubException as err:
            raise ForgeError(f"could not read the checks of {full}@{sha[:7]}: {describe(err)}") from None
        latest: dict[str, Any] = {}
        for run in sorted(runs, key=lambda r: r.id):
            latest[run.name] = run  # a re-run replaces the earlier run of the same name
        lines: list[str] = []
        failed = pending = passed = 0
        for run in latest.values():
            if run.status != "completed":
                pending += 1
                lines.append(f"… {run.name}: {run.status}")
            elif run.conclusion in _PASSING:
                passed += 1
                lines.append(f"✓ {run.name}: {run.conclusion}")
            else:
                failed += 1
                output = run.output
                detail = "\n".join(x for x in (output.title, output.summary, output.text) if x) if output else ""
                lines.append(f"✗ {run.name}: {run.conclusion}\n{detail}".rstrip())
        for status in combined.statuses:
            if status.state == "success":
                passed += 1
                lines.append(f"✓ {status.context}: success")
            elif status.state == "pending":
                pending += 1
                lines.append(f"… {status.context}: pending")
            else:
                failed += 1
                lines.append(
                    f"✗ {status.context}: {status.state} {status.description or ''} {status.target_url or ''}".rstrip()
                )
        output = "\n".join(lines)[-OUTPUT_TAIL:]
        if failed:
            return CheckOutcome(passed=False, output_tail=output, sha=sha)
        if pending or (not passed and self.config.github.require_checks):
            return CheckOutcome(
                passed=False, pending=True, output_tail=output or "waiting for checks to report", sha=sha
            )
        if self.config.github.draft_until_checks:
            self._ready_for_review(full, number)
        return CheckOutcome(passed=True, output_tail=output or "no checks on this repo", sha=sha)

    def _ready_for_review(self, full: str, number: int) -> None:
        pr = self._pull(full, number)
        if pr.draft and pr.state == "open":
            self.api.call(f"mark {full}#{number} ready for review", pr.mark_ready_for_review)

    def merge(self, change: ChangeSet, expected_sha: str) -> ChangeSet:
        _, full = self.target(change.repo)
        with refusals(f"merge {full}#{change.number}"):
            return self._merge(change, expected_sha)

    def _merge(self, change: ChangeSet, expected_sha: str) -> ChangeSet:
        cfg, full = self.target(change.repo)
        pr = self._settled(full, change.number)
        if pr.merged_at is not None:
            return self._change(cfg, pr, change.run_id, change.order)  # merged before a crash
        if pr.state == "closed":
            raise MergeRefused(f"{pr.html_url} was closed without merging; reopen it, then `/baton retry`")
        if pr.draft:
            self.api.call(f"mark {full}#{change.number} ready for review", pr.mark_ready_for_review)
        method = self.config.github.merge_method
        title = f"{pr.title} (#{pr.number})"
        try:
            result = self.api.call(
                f"merge {full}#{change.number}",
                lambda: pr.merge(sha=expected_sha, merge_method=method, commit_title=title),
            )
        except GithubException as err:
            after = self._pull(full, change.number)
            if after.merged_at is not None:  # the merge went through; only its answer was refused or lost
                return self._finish(cfg, change, after, expected_sha)
            raise MergeRefused(self._refusal(pr.html_url, change.branch, expected_sha, err)) from None
        except ForgeError:
            after = self._pull(full, change.number)
            if after.merged_at is not None:
                return self._finish(cfg, change, after, expected_sha)
            raise
        return self._finish(cfg, change.model_copy(update={"merge_sha": result.sha}), None, expected_sha)

    def close(self, change: ChangeSet) -> ChangeSet:
        cfg, full = self.target(change.repo)
        with refusals(f"close {full}#{change.number}"):
            pr = self._pull(full, change.number)
            if pr.state == "open":
                self.api.call(f"close {full}#{change.number}", lambda: pr.edit(state="closed"))
                pr = self._pull(full, change.number)
        log.info("github.pr_closed", run_id=change.run_id, repo=full, number=change.number)
        return self._change(cfg, pr, change.run_id, change.order)

    def diff(self, change: ChangeSet, limits: DiffLimits) -> ChangeDiff:
        _, full = self.target(change.repo)
        with refusals(f"read the files of {full}#{change.number}"):
            return github_diff(self.api, full, change, limits)

    def _finish(self, cfg: RepoConfig, change: ChangeSet, pr: PullRequest | None, expected_sha: str) -> ChangeSet:
        merge_sha = pr.merge_commit_sha if pr is not None else change.merge_sha
        _, full = self.target(change.repo)
        if self.config.github.delete_branch_after_merge:
            self._delete_branch(full, change.branch)
        log.info("github.merged", run_id=change.run_id, repo=full, number=change.number, sha=merge_sha)
        return change.model_copy(
            update={"state": ChangeState.merged, "head_sha": expected_sha, "merge_sha": merge_sha, "merge_error": None}
        )

    def _delete_branch(self, full: str, branch: str) -> None:
        repo = self.api.repo(full)
        requester = repo.requester
        url = f"{repo.url}/git/refs/heads/{branch}"
        try:
            self.api.call(f"delete {branch} in {full}", lambda: requester.requestJsonAndCheck("DELETE", url))
        except (GithubException, ForgeError) as err:  # the merge stands; a leftover branch is only untidy
            log.warning("github.branch_not_deleted", repo=full, branch=branch, error=str(err)[:200])

    def _settled(self, full: str, number: int) -> PullRequest:
        """The PR once GitHub has computed its mergeability (`mergeable: null` means not yet)."""
        cfg = self.config.github
        pr = self._pull(full, number)
        for _ in range(cfg.mergeable_poll_attempts):
            if pr.mergeable is not None or pr.state != "open":
                break
            self._sleep(cfg.mergeable_poll_interval_s)
            pr = self._pull(full, number)
        return pr

    @staticmethod
    def _refusal(url: str, branch: str, expected_sha: str, err: GithubException) -> str:
        said = describe(err)
        if err.status == 409:
            return (
                f"{url}: GitHub refused the merge ({said}): {branch} no longer points at the approved "
                f"commit {expected_sha[:7]}. Nothing was merged from this PR; review the new commits, "
                "approve again, then `/baton retry` to merge what remains"
            )
        if err.status == 405:
            return (
                f"{url}: GitHub refused the merge ({said}). Nothing was merged from this PR; resolve it on "
                "GitHub (conflicts, required checks or reviews, draft state), then `/baton retry` to merge "
                "what remains"
            )
        return f"{url}: GitHub refused the merge ({said}); nothing was merged from this PR"
