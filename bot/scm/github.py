"""The GitHub forge: `bot.domain.ports.Forge` on PyGithub, with the local forge's semantics.

A PR is looked up by its head branch before one is created (idempotent after a crash or a lost
answer), opened as a draft until its checks pass (configurable; marking it ready is GitHub's GraphQL
API, and a failure there is a warning on the checks outcome, tried again at the merge — never a
checks failure), and merged with the `sha` guard so a head that moved after approval is refused by
GitHub itself (409). `run_checks` reads the head's check runs and commit statuses as they are now
and never waits for CI: unfinished checks are `pending`, and the webhook handler or the poller
reports them when they finish. Reading, judging and
merging one PR (base, drafts, retries, refusals) is `github_pulls.py`.
"""

from __future__ import annotations

from typing import Any

import structlog
from github import GithubException
from github.PullRequest import PullRequest
from github.Repository import Repository

from bot.domain.diffs import ChangeDiff, DiffLimits
from bot.domain.models import ChangeSet, CheckOutcome
from bot.domain.ports import ForgeError
from bot.scm.github_diff import github_diff
from bot.scm.github_pulls import GitHubPulls
from bot.services.github.client import describe, refusals

log = structlog.get_logger(__name__)
OUTPUT_TAIL = 4000
_PASSING = {"success", "neutral", "skipped"}


class GitHubForge(GitHubPulls):
    name = "github"

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

    def run_checks(self, change: ChangeSet, known: CheckOutcome | None = None) -> CheckOutcome:
        """The combined state of the head's check runs and commit statuses, as GitHub has it now
        (`known`, Baton's own workspace checks, is not GitHub's CI: it is not used here)."""
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
        problem = self._ready_for_review(full, number) if self.config.github.draft_until_checks else None
        return CheckOutcome(
            passed=True, output_tail=output or "no checks on this repo", sha=sha, warnings=[problem] if problem else []
        )

    def _ready_for_review(self, full: str, number: int) -> str | None:
        """Un-draft Baton's PR now its checks are green; what went wrong, if anything. Being a
        draft is cosmetic until the merge, which tries again: a failure here is a warning."""
        try:
            pr = self._pull(full, number)
            if not pr.draft or pr.state != "open" or self._redrafted(full, pr):
                return None
            problem = self._mark_ready(full, pr, attempts=1)
        except GithubException as err:
            problem = f"GitHub answered {describe(err)}"
        except ForgeError as err:
            problem = str(err)
        if problem is None:
            return None
        return (
            f"{full}#{number} is still a draft: Baton could not mark it ready for review ({problem}). "
            "It tries again before merging; the token needs GraphQL access."
        )

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
