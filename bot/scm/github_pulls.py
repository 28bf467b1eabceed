"""Reading and merging one GitHub pull request: the part of the GitHub forge (`bot/scm/github.py`)
that decides whether and how a PR merges.

A merge goes only into the repo's configured default branch, guarded by the approved SHA so a head
that moved after approval is refused by GitHub itself (409). Baton un-drafts only the drafts it
opened: a PR a person moved (back) to draft — GitHub keeps a `convert_to_draft` event, and Baton
never converts one — stays a draft and is not merged. GitHub's transient 405 "Base branch was
modified" (another merge landed during ours) is retried with back-off; any other 405/409 raises
`MergeRefused` saying what happened and what to do next. A PR found merged after a refused or lost
answer is reported as GitHub has it: its real head, merge commit and merger.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog
from github import GithubException
from github.PullRequest import PullRequest

from bot.config.models import BatonFile, RepoConfig
from bot.domain.models import ChangeSet, ChangeState, Readiness
from bot.domain.ports import ForgeError, MergeRefused
from bot.services.github.client import GitHubApi, describe, loaded, refusals

log = structlog.get_logger(__name__)
BASE_MOVED_RETRIES = 3
"""GitHub answers 405 "Base branch was modified" when another merge landed during ours: try again."""


class GitHubPulls:
    """One PR at a time, by number: read it, judge whether it can merge, merge it."""

    def __init__(self, api: GitHubApi, config: BatonFile, sleep: Callable[[float], None] = time.sleep) -> None:
        self.api = api
        self.config = config
        self._sleep = sleep

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
            merged_by=pr.merged_by.login if state is ChangeState.merged and pr.merged_by else None,
        )

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

    def _redrafted(self, full: str, pr: PullRequest) -> bool:
        """Whether a person moved the PR (back) to draft: Baton never converts one, so any
        `convert_to_draft` event is theirs, and their word that it must not merge yet."""
        events = self.api.call(f"read the events of {full}#{pr.number}", lambda: list(pr.get_issue_events()))
        return any(e.event == "convert_to_draft" for e in events)

    def _mark_ready(self, full: str, pr: PullRequest, attempts: int) -> str | None:
        """Un-draft `pr` through GitHub's GraphQL API (REST cannot), up to `attempts` times with
        back-off: a refusal `call` does not retry (a proxy's 404, a GraphQL limit) may pass later.
        What went wrong the last time, or None once the PR is ready."""
        problem = ""
        for attempt in range(attempts):
            if attempt:
                self._sleep(self.config.github.retry_backoff_s * 2 ** (attempt - 1))
            try:
                self.api.call(f"mark {full}#{pr.number} ready for review", pr.mark_ready_for_review)
                return None
            except GithubException as err:
                problem = f"GitHub's GraphQL API at {self.api.graphql_url} answered {describe(err)}"
            except ForgeError as err:  # `call` already retried what is worth retrying
                return str(err)
            log.warning(
                "github.ready_for_review_failed", repo=full, number=pr.number, attempt=attempt + 1, error=problem
            )
        return problem

    def readiness(self, change: ChangeSet) -> Readiness:
        cfg, full = self.target(change.repo)
        with refusals(f"read {full}#{change.number}"):
            pr = self._settled(full, change.number)
            n, base = change.number, pr.base.ref
            if pr.merged_at is not None:
                return Readiness()
            if pr.state == "closed":
                return Readiness(problem=f"#{n} was closed without merging; reopen it")
            if base != cfg.default_branch:
                return Readiness(problem=f"#{n} targets {base}, not {cfg.default_branch}")
            if pr.draft and self._redrafted(full, pr):
                return Readiness(problem=f"#{n} is a draft: someone moved it back to draft; mark it ready for review")
            if pr.mergeable is False:
                return Readiness(problem=f"#{n} has conflicts with {base}", conflict=True)
            if pr.mergeable is None:
                return Readiness(problem=f"GitHub has not yet worked out whether #{n} can merge; retry shortly")
            if pr.mergeable_state == "blocked":
                return Readiness(problem=f"GitHub blocks merging #{n}: required reviews or status checks are missing")
        return Readiness()

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
        if pr.base.ref != cfg.default_branch:
            raise MergeRefused(
                f"{pr.html_url} targets {pr.base.ref}, not {cfg.default_branch}; nothing was merged. Retarget it "
                f"to {cfg.default_branch}, approve again, then `/baton retry`"
            )
        if pr.draft:
            if self._redrafted(full, pr):
                raise MergeRefused(
                    f"{pr.html_url} was moved back to draft; nothing was merged. Mark it ready for review, "
                    "then `/baton retry`"
                )
            problem = self._mark_ready(full, pr, attempts=self.config.github.api_retries + 1)
            if problem is not None:
                raise MergeRefused(
                    f"{pr.html_url} is still a draft: Baton could not mark it ready for review ({problem}); "
                    "nothing was merged. Give the token access to GitHub's GraphQL API (or mark the PR ready "
                    "yourself), then `/baton retry`"
                )
        try:
            result = self._merge_call(full, pr, expected_sha)
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

    def _merge_call(self, full: str, pr: PullRequest, expected_sha: str) -> Any:
        """`PUT /merge`, tried again (with back-off) while GitHub says the base moved under it."""
        method, title = self.config.github.merge_method, f"{pr.title} (#{pr.number})"
        for attempt in range(BASE_MOVED_RETRIES + 1):
            try:
                return self.api.call(
                    f"merge {full}#{pr.number}",
                    lambda: pr.merge(sha=expected_sha, merge_method=method, commit_title=title),
                )
            except GithubException as err:
                moved = err.status == 405 and "base branch was modified" in describe(err).lower()
                if not moved or attempt == BASE_MOVED_RETRIES:
                    raise
                wait = self.config.github.retry_backoff_s * 2**attempt
                log.warning("github.merge_retry", repo=full, number=pr.number, attempt=attempt + 1, wait_s=wait)
                self._sleep(wait)
        raise AssertionError("unreachable")

    def _finish(self, cfg: RepoConfig, change: ChangeSet, pr: PullRequest | None, expected_sha: str) -> ChangeSet:
        """The merged PR; when found merged after a refused or lost answer (`pr`), as GitHub has it:
        its real head and merge commit, not what Baton asked for."""
        if pr is not None:
            merged = self._change(cfg, pr, change.run_id, change.order)
        else:
            update = {"state": ChangeState.merged, "head_sha": expected_sha, "merge_error": None}
            merged = change.model_copy(update=update)
        _, full = self.target(change.repo)
        if self.config.github.delete_branch_after_merge:
            self._delete_branch(full, change.branch)
        log.info("github.merged", run_id=change.run_id, repo=full, number=change.number, sha=merged.merge_sha)
        return merged

    def _delete_branch(self, full: str, branch: str) -> None:
        repo = self.api.repo(full)
        requester = repo.requester
        url = f"{repo.url}/git/refs/heads/{branch}"
        try:
            self.api.call(f"delete {branch} in {full}", lambda: requester.requestJsonAndCheck("DELETE", url))
        except (GithubException, ForgeError) as err:  # the merge stands; a leftover branch is only untidy
            log.warning("github.branch_not_deleted", repo=full, branch=branch, error=str(err)[:200])

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
