"""Fake GitHub routes for repos and pull requests: listing by head branch, creating (422 for a
duplicate or an empty PR), editing (title, body, state, and the base it targets), merging for real
with the `sha` guard (409 when the head moved, 405 when it cannot merge: conflict, draft, required
checks, a base that moved under it), the PR's issue events, and deleting branches."""

from __future__ import annotations

from typing import Any

from tests.fakes.github_files import pull_base, pull_files
from tests.fakes.github_http import Answer, RouteHelpers
from tests.fakes.github_state import MergeError, Pull, Repo, now_iso


class PullRoutes(RouteHelpers):
    def get_repo(self, repo: Repo, query: dict[str, str], body: Any, login: str) -> Answer:
        return Answer(200, self._repo_body(repo))

    def _pull_body(self, repo: Repo, pull: Pull) -> dict[str, Any]:
        head = self.world.head_sha(repo, pull)
        base = self.world.branch_sha(repo, pull.base) or ""
        mergeable = self.world.mergeable(repo, pull)
        green, _ = self.world.checks_green(repo, head)
        if pull.state != "open":
            state = "unknown" if not pull.merged else "clean"
        elif mergeable is None:
            state = "unknown"
        elif not mergeable:
            state = "dirty"
        elif pull.draft:
            state = "draft"
        elif not green:
            state = "blocked"
        else:
            state = "clean"
        fields = {
            "number": pull.number,
            "title": pull.title,
            "body": pull.body,
            "state": pull.state,
            "draft": pull.draft,
            "merged": pull.merged,
            "merged_at": pull.merged_at,
            "closed_at": pull.closed_at,
            "merge_commit_sha": pull.merge_commit_sha,
            "mergeable": mergeable,
            "mergeable_state": state,
            "rebaseable": mergeable,
            "created_at": pull.created_at,
            "updated_at": now_iso(),
            "user": self._user(pull.author),
            "merged_by": self._user(pull.merged_by or pull.author) if pull.merged else None,
            "head": (pull.head, head),
            "base": (pull.base, base),
        }
        return self.fake.bodies.pull(self._repo_body(repo), fields)

    def _pull(self, repo: Repo, n: str) -> Pull | None:
        return repo.pulls.get(int(n))

    def list_pulls(self, repo: Repo, query: dict[str, str], body: Any, login: str) -> Answer:
        state = query.get("state", "open")
        head = query.get("head")
        found = []
        for pull in sorted(repo.pulls.values(), key=lambda p: -p.number):
            if state != "all" and pull.state != state:
                continue
            if head and head.split(":", 1)[-1] != pull.head:
                continue
            if query.get("base") and query["base"] != pull.base:
                continue
            found.append(self._pull_body(repo, pull))
        return self._page(found, query, f"/repos/{repo.full_name}/pulls")

    def create_pull(self, repo: Repo, query: dict[str, str], body: Any, login: str) -> Answer:
        head = str(body.get("head", "")).split(":", 1)[-1]
        base = str(body.get("base", ""))
        if not body.get("title"):
            return Answer(
                422,
                {
                    **self._error("Validation Failed"),
                    "errors": [{"resource": "PullRequest", "field": "title", "code": "missing_field"}],
                },
            )
        head_sha = self.world.branch_sha(repo, head)
        base_sha = self.world.branch_sha(repo, base)
        if head_sha is None or base_sha is None:
            field_name = "head" if head_sha is None else "base"
            return Answer(
                422,
                {
                    **self._error("Validation Failed"),
                    "errors": [{"resource": "PullRequest", "field": field_name, "code": "invalid"}],
                },
            )
        if any(p.head == head and p.base == base and p.state == "open" for p in repo.pulls.values()):
            owner = repo.full_name.split("/")[0]
            message = f"A pull request already exists for {owner}:{head}."
            return Answer(
                422,
                {
                    **self._error("Validation Failed"),
                    "errors": [{"resource": "PullRequest", "code": "custom", "message": message}],
                },
            )
        if self.world.commits_between(repo, base_sha, head_sha) == 0:
            message = f"No commits between {base} and {head}"
            return Answer(
                422,
                {
                    **self._error("Validation Failed"),
                    "errors": [{"resource": "PullRequest", "code": "custom", "message": message}],
                },
            )
        pull = Pull(
            number=repo.next_number(),
            title=str(body["title"]),
            body=str(body.get("body") or ""),
            head=head,
            base=base,
            author=login,
            draft=bool(body.get("draft", False)),
        )
        repo.pulls[pull.number] = pull
        answer = self._pull_body(repo, pull)
        return Answer(201, answer, {"Location": answer["url"]})

    def get_pull(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        pull = self._pull(repo, n)
        return Answer(200, self._pull_body(repo, pull)) if pull else self._not_found()

    def edit_pull(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        pull = self._pull(repo, n)
        if pull is None:
            return self._not_found()
        pull.title = str(body.get("title", pull.title))
        pull.body = str(body.get("body", pull.body))
        if body.get("base") and body["base"] != pull.base:
            if self.world.branch_sha(repo, str(body["base"])) is None:
                return Answer(
                    422,
                    {
                        **self._error("Validation Failed"),
                        "errors": [{"resource": "PullRequest", "field": "base", "code": "invalid"}],
                    },
                )
            pull.events.append({"event": "base_ref_changed", "actor": login, "from": pull.base, "to": body["base"]})
            pull.base = str(body["base"])
        if body.get("state") == "closed" and pull.state == "open":
            pull.closed_head_sha = self.world.head_sha(repo, pull)
            pull.state, pull.closed_at = "closed", now_iso()
        return Answer(200, self._pull_body(repo, pull))

    def merge_pull(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        pull = self._pull(repo, n)
        if pull is None:
            return self._not_found()
        if pull.state != "open":
            raise MergeError(405, "Pull Request is not mergeable")
        head = self.world.head_sha(repo, pull)
        if body.get("sha") and body["sha"] != head:
            raise MergeError(409, "Head branch was modified. Review and try the merge again.")
        if pull.draft:
            raise MergeError(405, "Pull Request is still a draft")
        green, missing = self.world.checks_green(repo, head)
        if not green:
            raise MergeError(405, f'Required status check "{missing[0]}" is expected.')
        forked_at = pull_base(repo, pull, head, self.world.branch_sha(repo, pull.base) or "")
        method = body.get("merge_method", "merge")
        title = body.get("commit_title") or f"{pull.title} (#{pull.number})"
        sha = self.world.merge(repo, pull, method, title, body.get("commit_message", ""))
        pull.state, pull.merged, pull.merged_at = "closed", True, now_iso()
        pull.closed_at = pull.merged_at
        pull.merge_commit_sha, pull.closed_head_sha, pull.merged_by = sha, head, login
        pull.merge_base = forked_at
        return Answer(200, self.fake.bodies.merged(sha))

    def pull_events(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        """`GET /issues/{n}/events` of a PR: who marked it ready or converted it to a draft, and when."""
        pull = self._pull(repo, n)
        where = f"/repos/{repo.full_name}/issues/{n}/events"
        if pull is None:
            return self._page([], query, where) if int(n) in repo.issues else self._not_found()
        events = [
            {
                "id": 9000 + i,
                "node_id": f"E_{9000 + i}",
                "url": f"{self.fake.url}/repos/{repo.full_name}/issues/events/{9000 + i}",
                "actor": self._user(e["actor"]),
                "event": e["event"],
                "commit_id": None,
                "commit_url": None,
                "created_at": e.get("at", now_iso()),
            }
            for i, e in enumerate(pull.events)
        ]
        return self._page(events, query, where)

    def list_files(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        pull = self._pull(repo, n)
        if pull is None:
            return self._not_found()
        head = self.world.head_sha(repo, pull)
        base = pull_base(repo, pull, head, self.world.branch_sha(repo, pull.base) or "")
        files = pull_files(repo, base, head, self.fake.url)
        return self._page(files, query, f"/repos/{repo.full_name}/pulls/{n}/files")

    def is_merged(self, repo: Repo, query: dict[str, str], body: Any, login: str, n: str) -> Answer:
        pull = self._pull(repo, n)
        return Answer(204) if pull and pull.merged else self._not_found()

    def delete_ref(self, repo: Repo, query: dict[str, str], body: Any, login: str, branch: str) -> Answer:
        if self.world.delete_branch(repo, branch):
            return Answer(204)
        return Answer(422, self._error("Reference does not exist"))
