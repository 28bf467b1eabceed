"""The fake GitHub's routing: which function answers which request, who is asking (a token, an
installation token until it expires, or an App's JWT), and the people, App and GraphQL routes.
Repo and PR routes are in `github_routes_pulls.py`; issues, comments and checks in
`github_routes_talk.py`."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt

from tests.fakes.github_http import Answer
from tests.fakes.github_routes_pulls import PullRoutes
from tests.fakes.github_routes_talk import TalkRoutes
from tests.fakes.github_state import MergeError, Repo, now_iso

if TYPE_CHECKING:
    from tests.fakes.github_api import FakeGitHub

_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"


class Routes(PullRoutes, TalkRoutes):
    def __init__(self, fake: FakeGitHub) -> None:
        super().__init__(fake)
        self.token_expiry: dict[str, float] = {}
        table: list[tuple[str, str, Callable[..., Answer]]] = [
            ("GET", r"/user", self.get_me),
            ("GET", r"/users/(?P<user>[^/]+)", self.get_user),
            ("POST", r"/app/installations/(?P<iid>\d+)/access_tokens", self.installation_token),
            ("POST", r"/graphql", self.graphql),
            ("GET", _REPO, self.get_repo),
            ("GET", _REPO + r"/installation", self.repo_installation),
            ("GET", _REPO + r"/pulls", self.list_pulls),
            ("POST", _REPO + r"/pulls", self.create_pull),
            ("GET", _REPO + r"/pulls/(?P<n>\d+)", self.get_pull),
            ("PATCH", _REPO + r"/pulls/(?P<n>\d+)", self.edit_pull),
            ("PUT", _REPO + r"/pulls/(?P<n>\d+)/merge", self.merge_pull),
            ("GET", _REPO + r"/pulls/(?P<n>\d+)/merge", self.is_merged),
            ("GET", _REPO + r"/pulls/(?P<n>\d+)/files", self.list_files),
            ("DELETE", _REPO + r"/git/refs/heads/(?P<branch>.+)", self.delete_ref),
            ("GET", _REPO + r"/issues/(?P<n>\d+)", self.get_issue),
            ("GET", _REPO + r"/issues/(?P<n>\d+)/comments", self.list_comments),
            ("GET", _REPO + r"/issues/(?P<n>\d+)/events", self.issue_events),
            ("POST", _REPO + r"/issues/(?P<n>\d+)/comments", self.create_comment),
            ("POST", _REPO + r"/issues/(?P<n>\d+)/reactions", self.react_issue),
            ("GET", _REPO + r"/issues/comments/(?P<cid>\d+)", self.get_comment),
            ("PATCH", _REPO + r"/issues/comments/(?P<cid>\d+)", self.edit_comment),
            ("POST", _REPO + r"/issues/comments/(?P<cid>\d+)/reactions", self.react_comment),
            ("GET", _REPO + r"/commits/(?P<ref>[^/]+)/check-runs", self.check_runs),
            ("GET", _REPO + r"/commits/(?P<ref>[^/]+)/status", self.combined_status),
            ("POST", _REPO + r"/statuses/(?P<sha>[0-9a-f]{40})", self.create_status),
            ("GET", _REPO + r"/collaborators/(?P<user>[^/]+)/permission", self.permission),
        ]
        self.table = [(m, re.compile(f"^{p}/?$"), fn) for m, p, fn in table]

    # -- auth and dispatch ------------------------------------------------------------------------------
    def authenticate(self, path: str, header: str) -> str | None:
        scheme, _, credential = header.partition(" ")
        if path.startswith("/app/") or path.endswith("/installation"):
            for app_id, key in self.fake.app_keys.items():
                try:
                    claims = jwt.decode(credential, key, algorithms=["RS256"])
                except jwt.PyJWTError:
                    continue
                if str(claims.get("iss")) == str(app_id):
                    return f"app:{app_id}"
            return None
        if scheme.lower() not in ("token", "bearer"):
            return None
        expiry = self.token_expiry.get(credential)
        if expiry is not None and expiry < time.time():
            return None
        return self.world.tokens.get(credential)

    def dispatch(self, method: str, path: str, query: dict[str, str], body: Any, login: str) -> Answer:
        for verb, pattern, fn in self.table:
            match = pattern.match(path)
            if verb == method and match:
                args = match.groupdict()
                repo = None
                if "owner" in args:
                    repo = self.world.repo(f"{args.pop('owner')}/{args.pop('name')}")
                    if repo is None:
                        return self._not_found()
                with self.world.lock:
                    try:
                        return (
                            fn(repo=repo, query=query, body=body or {}, login=login, **args)
                            if repo
                            else fn(query=query, body=body or {}, login=login, **args)
                        )
                    except MergeError as err:
                        return Answer(err.status, self._error(err.message))
        return self._not_found()

    def get_me(self, query: dict[str, str], body: Any, login: str) -> Answer:
        return Answer(200, self._user(login))

    def get_user(self, query: dict[str, str], body: Any, login: str, **args: str) -> Answer:
        return Answer(200, self._user(args["user"])) if args["user"] in self.world.users else self._not_found()

    # -- apps -------------------------------------------------------------------------------------------
    def installation_token(self, query: dict[str, str], body: Any, login: str, **args: str) -> Answer:
        if int(args["iid"]) not in self.fake.installations.values():
            return self._not_found()
        token = f"ghs_fake{self.world.new_id()}"
        lifetime = self.fake.token_lifetime_s
        self.world.tokens[token] = "baton-app[bot]"
        self.world.user("baton-app[bot]", "Bot")
        self.token_expiry[token] = time.time() + lifetime
        expires = (datetime.now(UTC) + timedelta(seconds=lifetime)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return Answer(201, self.fake.bodies.installation_token(token, expires))

    def repo_installation(self, repo: Repo, query: dict[str, str], body: Any, login: str) -> Answer:
        iid = self.fake.installations.get(repo.full_name.lower())
        if iid is None:
            return self._not_found()
        owner = self._user(repo.full_name.split("/")[0])
        url = f"{self.fake.url}/app/installations/{iid}"
        return Answer(
            200,
            {
                "id": iid,
                "account": owner,
                "app_id": next(iter(self.fake.app_keys), 1),
                "target_type": "Organization",
                "access_tokens_url": f"{url}/access_tokens",
                "html_url": url,
                "repository_selection": "selected",
                "permissions": {"contents": "write", "pull_requests": "write", "issues": "write", "checks": "read"},
                "events": ["issue_comment", "issues", "pull_request", "check_suite", "status"],
            },
        )

    def graphql(self, query: dict[str, str], body: Any, login: str) -> Answer:
        text = body.get("query", "")
        if "markPullRequestReadyForReview" not in text:
            return Answer(200, {"errors": [{"message": "the fake GitHub only knows markPullRequestReadyForReview"}]})
        node_id = body.get("variables", {}).get("input", {}).get("pullRequestId", "")
        for repo in self.world.repos.values():
            for pull in repo.pulls.values():
                if f"PR_{repo.id * 1000 + pull.number}" == node_id:
                    if pull.draft:
                        pull.events.append({"event": "ready_for_review", "actor": login, "at": now_iso()})
                    pull.draft = False
                    data = {"clientMutationId": None, "pullRequest": {"isDraft": False}}
                    return Answer(200, {"data": {"markPullRequestReadyForReview": data}})
        return Answer(200, {"data": None, "errors": [{"type": "NOT_FOUND", "message": f"no node {node_id}"}]})
