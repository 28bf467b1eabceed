"""Fake GitHub routes for the conversation and the checks: issues, comments (only their author
may edit them), reactions (a repeated one answers 200), check runs, combined status, statuses, and
collaborator permission in GitHub's shape (`permission` folds maintain into write)."""

from __future__ import annotations

import re
from typing import Any

from tests.fakes.github_http import Answer, RouteHelpers
from tests.fakes.github_state import ROLES, Comment, Repo, now_iso

_SHA = re.compile(r"^[0-9a-f]{40}$")


class TalkRoutes(RouteHelpers):
    def permission(self, repo: Repo, query: dict[str, str], body: Any, login: str, **args: str) -> Answer:
        who = args["user"]
        if who not in self.world.users:
            return self._not_found()
        role = repo.roles.get(who)
        rank = ROLES.index(role) if role else -1
        legacy = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}
        user = self._user(who)
        user["permissions"] = {
            "admin": rank >= 4,
            "maintain": rank >= 3,
            "push": rank >= 2,
            "triage": rank >= 1,
            "pull": rank >= 0,
        }
        user["role_name"] = role or "none"
        return Answer(200, {"permission": legacy.get(role or "", "none"), "role_name": role or "none", "user": user})

    def get_issue(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        issue = repo.issues.get(int(n))
        if issue is None:
            return self._not_found()
        return Answer(
            200,
            {
                **self.fake.bodies.issue(
                    self._repo_body(repo), issue.number, issue.title, issue.body, self._user(issue.author)
                ),
                "labels": [self.fake.bodies.label(name) for name in issue.labels],
            },
        )

    def issue_events(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        """`GET /issues/{n}/events`: an issue's label events, or a PR's (see `pull_events`)."""
        issue = repo.issues.get(int(n))
        if issue is None:
            if int(n) not in repo.pulls:
                return self._not_found()
            return self.pull_events(repo, query, body, login, n)  # type: ignore[attr-defined]  # PullRoutes
        events = [
            self.fake.bodies.issue_event(self._repo_body(repo), issue.number, e.id, e.event, self._user(e.actor), e)
            for e in issue.events
        ]
        return self._page(events, query, f"/repos/{repo.full_name}/issues/{n}/events")

    def _has_issue(self, repo: Repo, n: str) -> bool:
        return int(n) in repo.issues or int(n) in repo.pulls

    def _comment_body(self, repo: Repo, comment: Comment) -> dict[str, Any]:
        body = self.fake.bodies.comment(
            self._repo_body(repo),
            comment.issue,
            comment.id,
            comment.body,
            self._user(comment.author),
            comment.created_at,
        )
        body["updated_at"] = comment.updated_at
        return body

    def list_comments(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        if not self._has_issue(repo, n):
            return self._not_found()
        found = sorted(self.fake.comments_on(repo.full_name, int(n)), key=lambda c: c.id)
        return self._page(
            [self._comment_body(repo, c) for c in found], query, f"/repos/{repo.full_name}/issues/{n}/comments"
        )

    def create_comment(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        if not self._has_issue(repo, n):
            return self._not_found()
        if not body.get("body"):
            return Answer(422, self._error("Validation Failed"))
        comment = Comment(
            id=self.world.new_id(), repo=repo.full_name, issue=int(n), body=str(body["body"]), author=login
        )
        self.world.comments[comment.id] = comment
        answer = self._comment_body(repo, comment)
        return Answer(201, answer, {"Location": answer["url"]})

    def _comment(self, repo: Repo, cid: str) -> Comment | None:
        comment = self.world.comments.get(int(cid))
        return comment if comment and comment.repo.lower() == repo.full_name.lower() else None

    def get_comment(self, repo: Repo, query: dict[str, str], body: Any, login: str, cid: str) -> Answer:
        comment = self._comment(repo, cid)
        return Answer(200, self._comment_body(repo, comment)) if comment else self._not_found()

    def edit_comment(self, repo: Repo, query: dict[str, str], body: Any, login: str, cid: str) -> Answer:
        comment = self._comment(repo, cid)
        if comment is None:
            return self._not_found()
        if comment.author != login:
            return Answer(403, self._error("Resource not accessible by integration"))
        comment.body, comment.updated_at = str(body.get("body", comment.body)), now_iso()
        return Answer(200, self._comment_body(repo, comment))

    def react_comment(self, repo: Repo, query: dict[str, str], body: Any, login: str, cid: str) -> Answer:
        comment = self._comment(repo, cid)
        if comment is None:
            return self._not_found()
        content = str(body.get("content", ""))
        for rid, existing, who in comment.reactions:
            if existing == content and who == login:  # GitHub answers 200 with the existing reaction
                return Answer(200, self.fake.bodies.reaction(rid, content, self._user(login), comment.created_at))
        rid = self.world.new_id()
        comment.reactions.append((rid, content, login))
        return Answer(201, self.fake.bodies.reaction(rid, content, self._user(login), now_iso()))

    def react_issue(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        if not self._has_issue(repo, n):
            return self._not_found()
        rid = self.world.new_id()
        repo.issue_reactions.append((int(n), rid, str(body.get("content", "")), login))
        return Answer(201, self.fake.bodies.reaction(rid, str(body.get("content", "")), self._user(login), now_iso()))

    # -- checks ---------------------------------------------------------------------------------------------
    def _sha(self, repo: Repo, ref: str) -> str | None:
        return ref if _SHA.match(ref) else self.world.branch_sha(repo, ref)

    def check_runs(self, repo: Repo, query: dict[str, str], body: Any, login: str, ref: str) -> Answer:
        sha = self._sha(repo, ref)
        if sha is None:
            return Answer(422, self._error(f"No commit found for SHA: {ref}"))
        runs = [self.fake.bodies.check_run(self._repo_body(repo), r) for r in repo.check_runs if r["head_sha"] == sha]
        return self._page(runs, query, f"/repos/{repo.full_name}/commits/{ref}/check-runs", wrap="check_runs")

    def combined_status(self, repo: Repo, query: dict[str, str], body: Any, login: str, ref: str) -> Answer:
        sha = self._sha(repo, ref)
        if sha is None:
            return Answer(422, self._error(f"No commit found for SHA: {ref}"))
        latest: dict[str, dict[str, Any]] = {}
        for status in repo.statuses:
            if status["sha"] == sha:
                latest[status["context"]] = status  # the newest status per context counts
        return Answer(200, self.fake.bodies.combined_status(self._repo_body(repo), sha, list(latest.values())))

    def create_status(self, repo: Repo, query: dict[str, str], body: Any, login: str, sha: str) -> Answer:
        self.fake.set_status(
            repo.full_name,
            sha,
            str(body.get("context", "default")),
            str(body.get("state", "pending")),
            str(body.get("description", "")),
        )
        return Answer(
            201,
            {
                "state": body.get("state"),
                "context": body.get("context", "default"),
                "url": f"{self.fake.url}/repos/{repo.full_name}/statuses/{sha}",
            },
        )
