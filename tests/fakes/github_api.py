"""A stand-in for GitHub's REST API: a real HTTP server on 127.0.0.1 over real bare git repos.

It implements the subset Baton uses (repos, pulls, merges, branch deletion, issues, comments,
reactions, check runs, combined status, collaborator permission, installation tokens and the
one GraphQL mutation PyGithub sends to mark a draft ready), answering with bodies cut from
GitHub's recorded responses (`github_bodies.py`). Tests drive the world through this class
(repos, people, checks, pushes) and read back what Baton did from `requests` and the state.

Faults are injected per request pattern: any status with any headers and body (5xx, 403/429
rate limits with `Retry-After` or `x-ratelimit-reset`), optionally *after* the request took
effect (a lost response), and delays (slow responses). `graphql_status` makes every GraphQL request
answer that status while set (a proxy in front of GitHub that does not pass `/graphql`). `limits`
(`github_limits.py`) counts the writes answered at once and, after `limits.set_quota`, keeps a
primary quota.

`FakeGitHub(enterprise=True)` serves the paths of GitHub Enterprise Server: the REST API under
`/api/v3` and GraphQL at `/api/graphql`; github.com's paths (`/graphql`, `/repos/...`) answer 404.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.github_bodies import Bodies
from tests.fakes.github_http import Answer
from tests.fakes.github_limits import Limits
from tests.fakes.github_routes import Routes
from tests.fakes.github_state import ROLES, Comment, Issue, IssueEvent, Repo, World, now_iso
from tests.fakes.http_stub import StubHandler, StubServer


@dataclass
class Request:
    """One request the fake received, as Baton sent it."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    login: str | None
    at: float
    response: Any = None
    observed: Any = None
    """What the test's observer saw when the request arrived (e.g. whether an agent had started)."""


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int = 502
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    after: bool = False
    delay_s: float = 0.0
    action: Callable[[], None] | None = None


class FakeGitHub:
    """Start with `FakeGitHub().start()`; `url` is what `GITHUB_API_URL` should be."""

    def __init__(self, *, enterprise: bool = False) -> None:
        self.enterprise = enterprise
        self.graphql_status: int | None = None
        """While set, every GraphQL request answers this status (and changes nothing)."""
        self.world = World()
        self.requests: list[Request] = []
        self._faults: list[Fault] = []
        self._server: StubServer | None = None
        self.url = ""
        self.bodies = Bodies("")
        self.routes = Routes(self)
        self.app_keys: dict[int, str] = {}  # app id -> PEM public key
        self.installations: dict[str, int] = {}  # repo full name (lower) -> installation id
        self.token_lifetime_s = 3600
        self.observer: Callable[[], Any] | None = None
        self.limits = Limits()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        self._server = StubServer(_Handler, self, "fake-github").start()
        self.url = self._server.url + ("/api/v3" if self.enterprise else "")
        self.bodies = Bodies(self.url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    # -- the world, as tests set it up ------------------------------------------------------------------
    def add_repo(self, full_name: str, git_dir: Path, default_branch: str = "main") -> Repo:
        owner = full_name.split("/", 1)[0]
        self.world.user(owner, "Organization")
        with self.world.lock:
            repo = Repo(full_name=full_name, git_dir=git_dir, id=self.world.new_id(), default_branch=default_branch)
            self.world.repos[full_name] = repo
            return repo

    def add_user(self, login: str, token: str | None = None, kind: str = "User") -> None:
        self.world.user(login, kind)
        if token:
            self.world.tokens[token] = login

    def grant(self, full_name: str, login: str, role: str) -> None:
        assert role in ROLES, role
        self.world.user(login)
        self._repo(full_name).roles[login] = role

    def open_issue(self, full_name: str, title: str, body: str, author: str) -> int:
        repo = self._repo(full_name)
        self.world.user(author)
        with self.world.lock:
            number = repo.next_number()
            repo.issues[number] = Issue(number=number, title=title, body=body, author=author)
            return number

    def label_issue(self, full_name: str, issue: int, label: str, by: str, *, remove: bool = False) -> IssueEvent:
        """Someone adds (or removes) a label on an issue: the label changes and the issue's events
        gain a `labeled` (`unlabeled`) entry, as on GitHub (the webhook is the test's to send)."""
        self.world.user(by)
        with self.world.lock:
            item = self._repo(full_name).issues[issue]
            item.labels = [x for x in item.labels if x != label] + ([] if remove else [label])
            event = IssueEvent(self.world.new_id(), "unlabeled" if remove else "labeled", by, label)
            item.events.append(event)
            return event

    def add_comment(self, full_name: str, issue: int, body: str, author: str) -> Comment:
        """A comment written by a person on GitHub (the webhook about it is the test's to send)."""
        self.world.user(author)
        with self.world.lock:
            comment = Comment(id=self.world.new_id(), repo=full_name, issue=issue, body=body, author=author)
            self.world.comments[comment.id] = comment
            return comment

    def add_check_run(
        self,
        full_name: str,
        sha: str,
        name: str,
        conclusion: str | None = "success",
        summary: str | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        """A check run on `sha`: completed with `conclusion`, or in progress when it is None."""
        repo = self._repo(full_name)
        with self.world.lock:
            run = {
                "id": self.world.new_id(),
                "suite_id": self.world.new_id(),
                "head_sha": sha,
                "name": name,
                "status": "completed" if conclusion else "in_progress",
                "conclusion": conclusion,
                "title": name,
                "summary": summary,
                "text": text,
            }
            repo.check_runs = [r for r in repo.check_runs if not (r["head_sha"] == sha and r["name"] == name)]
            repo.check_runs.append(run)
            return run

    def set_status(self, full_name: str, sha: str, context: str, state: str, description: str = "") -> None:
        repo = self._repo(full_name)
        with self.world.lock:
            repo.statuses.append(
                {"id": self.world.new_id(), "sha": sha, "context": context, "state": state, "description": description}
            )

    def close_pull(self, full_name: str, number: int, by: str) -> None:
        """Someone closes a PR without merging it (as the PR page's button does)."""
        self.world.user(by)
        self.routes.dispatch("PATCH", f"/repos/{full_name}/pulls/{number}", {}, {"state": "closed"}, by)

    def retarget_pull(self, full_name: str, number: int, base: str, by: str) -> None:
        """Someone changes the branch a PR targets (the PR page's "Edit" next to the title)."""
        self.world.user(by)
        answer = self.routes.dispatch("PATCH", f"/repos/{full_name}/pulls/{number}", {}, {"base": base}, by)
        assert answer.status == 200, answer.body

    def convert_to_draft(self, full_name: str, number: int, by: str) -> None:
        """Someone moves a PR back to draft (GitHub's "Convert to draft", which only the UI and GraphQL offer)."""
        self.world.user(by)
        with self.world.lock:
            pull = self._repo(full_name).pulls[number]
            pull.draft = True
            pull.events.append({"event": "convert_to_draft", "actor": by, "at": now_iso()})

    def merge_as(self, full_name: str, number: int, by: str, method: str = "merge") -> str:
        """Someone merges a PR on GitHub themselves; returns the merge commit's SHA."""
        self.world.user(by)
        answer = self.routes.dispatch(
            "PUT", f"/repos/{full_name}/pulls/{number}/merge", {}, {"merge_method": method}, by
        )
        assert answer.status == 200, answer.body
        return str(answer.body["sha"])

    # -- faults -----------------------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        path_regex: str,
        status: int = 502,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Any = None,
        after: bool = False,
        delay_s: float = 0.0,
    ) -> None:
        """The next `times` matching requests answer `status` (after taking effect if `after`)."""
        self._faults.append(
            Fault(method.upper(), re.compile(path_regex), status, times, headers or {}, body, after, delay_s)
        )

    def before(self, method: str, path_regex: str, action: Callable[[], None], times: int = 1) -> None:
        """Run `action` (e.g. someone pushes) just before GitHub handles the next matching request."""
        self._faults.append(Fault(method.upper(), re.compile(path_regex), 0, times, action=action))

    def slow(self, method: str, path_regex: str, delay_s: float, times: int = 1) -> None:
        self._faults.append(Fault(method.upper(), re.compile(path_regex), 0, times, delay_s=delay_s))

    def rate_limit(self, method: str, path_regex: str, kind: str = "secondary", retry_after_s: int = 1) -> None:
        """A primary (x-ratelimit-reset), secondary (Retry-After) or 429 rate limit, GitHub-shaped."""
        if kind == "primary":
            reset = str(int(time.time()) + retry_after_s)
            headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
            message = "API rate limit exceeded for user ID 1."
            self.fail(method, path_regex, 403, headers=headers, body=self.bodies.error(message))
        elif kind == "secondary":
            message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            self.fail(
                method, path_regex, 403, headers={"Retry-After": str(retry_after_s)}, body=self.bodies.error(message)
            )
        else:
            self.fail(
                method,
                path_regex,
                429,
                headers={"Retry-After": str(retry_after_s)},
                body=self.bodies.error("Too Many Requests"),
            )

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.world.lock:
            for fault in self._faults:
                if fault.times > 0 and fault.method == method and fault.pattern.search(path):
                    fault.times -= 1
                    return fault
        return None

    # -- reading back -------------------------------------------------------------------------------------
    def calls(self, method: str, path_regex: str) -> list[Request]:
        pattern = re.compile(path_regex)
        return [r for r in list(self.requests) if r.method == method and pattern.search(r.path)]

    def comments_on(self, full_name: str, issue: int) -> list[Comment]:
        return [c for c in self.world.comments.values() if c.repo == full_name and c.issue == issue]

    def pulls(self, full_name: str) -> list[Any]:
        return sorted(self._repo(full_name).pulls.values(), key=lambda p: p.number)

    def _repo(self, full_name: str) -> Repo:
        repo = self.world.repo(full_name)
        assert repo is not None, f"no repo {full_name}"
        return repo

    # -- serving ------------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> Answer:
        with self.limits.serving(method):
            refused, quota = self.limits.charge(self.bodies.error("API rate limit exceeded for user ID 1."))
            answer = refused or self._handle(method, raw_path, headers, raw_body)
        return Answer(answer.status, answer.body, {**answer.headers, **quota})

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> Answer:
        parts = urlsplit(raw_path)
        sent = unquote(parts.path)
        path = self._route_path(sent)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body: Any = None
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                return Answer(400, self.bodies.error("Problems parsing JSON"))
        observed = self.observer() if self.observer else None
        record = Request(method, sent, query, body, 0, None, time.monotonic(), observed=observed)
        self.requests.append(record)  # on arrival: a request still being answered slowly is seen too
        fault = self._take_fault(method, path)
        if fault and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault and fault.action:
            fault.action()
        login = self.routes.authenticate(path, headers.get("authorization", ""))
        failure = None
        if fault and fault.status:
            failure = Answer(
                fault.status, fault.body if fault.body is not None else self.bodies.error("Server Error"), fault.headers
            )
        if path == "/graphql" and self.graphql_status is not None:
            failure, fault = Answer(self.graphql_status, self.bodies.error("Not Found")), None
        if failure is not None and not (fault and fault.after):
            answer = failure
        elif login is None:
            answer = Answer(401, self.bodies.error("Bad credentials"))
        else:
            answer = self.routes.dispatch(method, path, query, body, login)
            answer = failure or answer  # `after`: the request took effect, its answer is lost
        record.status, record.login, record.response = answer.status, login, answer.body
        return answer

    def _route_path(self, path: str) -> str:
        """The github.com path a request is for: on Enterprise Server, REST is under `/api/v3` and
        GraphQL at `/api/graphql`; anything else there is a path no route matches."""
        if not self.enterprise:
            return path
        if path == "/api/graphql":
            return "/graphql"
        if path.startswith("/api/v3/"):
            return path.removeprefix("/api/v3")
        return f"/not-on-enterprise-server{path}"


class _Handler(StubHandler):
    owner: FakeGitHub

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            answer = self.owner.handle(self.command, self.path, headers, raw)
        except Exception as err:  # a bug in the fake must show as a 500 naming it, not a dropped connection
            answer = Answer(500, {"message": f"fake GitHub failed: {type(err).__name__}: {err}"})
        github = {"X-GitHub-Media-Type": "github.v3; format=json", "X-GitHub-Request-Id": f"FAKE:{now_iso()}"}
        self.send_json(answer.status, answer.body, {**github, **answer.headers})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve
