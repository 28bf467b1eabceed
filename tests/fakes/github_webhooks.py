"""Webhook deliveries as GitHub sends them: bodies from GitHub's published examples, edited only
where a field must point at the test's repos, issues, PRs, people and SHAs; every body validated
against GitHub's published JSON schema before it is sent; signed with `X-Hub-Signature-256`."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_bodies import retarget
from tests.fakes.served_app import Outcomes, processed

FIXTURES = Path("/work/shared/fixtures/github")
EXAMPLES = FIXTURES / "payload-examples" / "api.github.com"
SCHEMAS = FIXTURES / "payload-schemas" / "api.github.com"


@cache
def _registry() -> Registry:  # type: ignore[type-arg]
    resources = []
    for path in SCHEMAS.rglob("*.schema.json"):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((contents["$id"], Resource.from_contents(contents, default_specification=DRAFT7)))
    return Registry().with_resources(resources)


def validate(event: str, action: str | None, body: dict[str, Any]) -> None:
    """Raise unless `body` is valid for `event`.`action` by GitHub's published schema."""
    name = f"{action}.schema.json" if action else "event.schema.json"
    schema = json.loads((SCHEMAS / event / name).read_text(encoding="utf-8"))
    errors = sorted(Draft7Validator(schema, registry=_registry()).iter_errors(body), key=str)
    if errors:
        raise AssertionError(
            f"{event}.{action} body is not GitHub's shape: {errors[0].message} at {list(errors[0].path)}"
        )


def example(event: str, file: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EXAMPLES / event / file).read_text(encoding="utf-8"))
    return data


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Webhooks:
    """Builds and delivers signed webhooks about the fake's world to Baton's endpoint."""

    def __init__(
        self,
        fake: FakeGitHub,
        endpoint: str,
        secret: str,
        client: httpx.Client | None = None,
        outcomes: Outcomes | None = None,
    ) -> None:
        """`outcomes`: read what Baton did with a delivery after answering it (`processed`)."""
        self.outcomes = outcomes
        self.fake = fake
        self.endpoint = endpoint
        self.secret = secret
        self.client = client or httpx.Client(timeout=15)
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    # -- the objects GitHub puts in every payload -------------------------------------------------------
    def _user(self, template: dict[str, Any], login: str) -> dict[str, Any]:
        user_id, kind = self.fake.world.user(login)
        user = retarget(template, [(template["login"], login)])
        user.update({"login": login, "id": user_id, "type": kind})
        return user

    def _repository(self, template: dict[str, Any], full_name: str) -> dict[str, Any]:
        repo = self.fake.world.repo(full_name)
        assert repo is not None, full_name
        owner, name = full_name.split("/", 1)
        body = retarget(template, [(template["full_name"], full_name)])
        body.update({"name": name, "full_name": full_name, "id": repo.id, "default_branch": repo.default_branch})
        body["owner"] = self._user(template["owner"], owner)
        return body

    def _pull(self, template: dict[str, Any], full_name: str, number: int) -> dict[str, Any]:
        repo = self.fake.world.repo(full_name)
        assert repo is not None
        live = self.fake.routes.dispatch("GET", f"/repos/{full_name}/pulls/{number}", {}, None, "github").body
        body = copy.deepcopy(template)
        for key in (
            "number",
            "title",
            "body",
            "state",
            "draft",
            "merged",
            "merged_at",
            "closed_at",
            "merge_commit_sha",
            "html_url",
            "url",
        ):
            if key in template:  # a review's PR is GitHub's "simple" PR: no merge fields
                body[key] = live[key]
        for side in ("head", "base"):
            body[side]["ref"], body[side]["sha"] = live[side]["ref"], live[side]["sha"]
            body[side]["label"] = live[side]["label"]
            body[side]["repo"] = self._repository(template[side]["repo"], full_name)
        return body

    # -- events -----------------------------------------------------------------------------------------
    def issue_comment(self, full_name: str, issue: int, comment_id: int, on_pull: bool = False) -> dict[str, Any]:
        body = example("issue_comment", "created.payload.json")
        comment = self.fake.world.comments[comment_id]
        found = self.fake.world.repo(full_name)
        assert found is not None
        title, text, author = ("", "", comment.author)
        if issue in found.issues:
            item = found.issues[issue]
            title, text, author = item.title, item.body, item.author
        elif issue in found.pulls:
            pr = found.pulls[issue]
            title, text, author = pr.title, pr.body, pr.author
        body["repository"] = self._repository(body["repository"], full_name)
        body["issue"].update({"number": issue, "title": title, "body": text})
        body["issue"]["user"] = self._user(body["issue"]["user"], author)
        body["issue"]["url"] = f"{self.fake.url}/repos/{full_name}/issues/{issue}"
        body["issue"]["html_url"] = f"{self.fake.url}/{full_name}/issues/{issue}"
        if on_pull:
            body["issue"]["pull_request"] = {
                "url": f"{self.fake.url}/repos/{full_name}/pulls/{issue}",
                "html_url": f"{self.fake.url}/{full_name}/pull/{issue}",
                "diff_url": f"{self.fake.url}/{full_name}/pull/{issue}.diff",
                "patch_url": f"{self.fake.url}/{full_name}/pull/{issue}.patch",
            }
        body["comment"].update(
            {"id": comment.id, "body": comment.body, "created_at": comment.created_at, "updated_at": comment.updated_at}
        )
        body["comment"]["user"] = self._user(body["comment"]["user"], comment.author)
        body["comment"]["url"] = f"{self.fake.url}/repos/{full_name}/issues/comments/{comment.id}"
        body["sender"] = self._user(body["sender"], comment.author)
        return body

    def issues_labeled(self, full_name: str, issue: int, label: str, sender: str) -> dict[str, Any]:
        body = example("issues", "labeled.payload.json")
        found = self.fake.world.repo(full_name)
        assert found is not None
        item = found.issues[issue]
        body["repository"] = self._repository(body["repository"], full_name)
        body["issue"].update({"number": issue, "title": item.title, "body": item.body})
        body["issue"]["user"] = self._user(body["issue"]["user"], item.author)
        body["label"]["name"] = label
        body["issue"]["labels"] = [{**body["label"], "name": name} for name in item.labels or [label]]
        body["sender"] = self._user(body["sender"], sender)
        return body

    def pull_request(self, action: str, full_name: str, number: int, sender: str) -> dict[str, Any]:
        body = example("pull_request", f"{action}.payload.json")
        body["pull_request"] = self._pull(body["pull_request"], full_name, number)
        body["number"] = number
        body["repository"] = self._repository(body["repository"], full_name)
        body["sender"] = self._user(body["sender"], sender)
        if action == "synchronize":
            body["after"] = body["pull_request"]["head"]["sha"]
        return body

    def pull_request_edited(self, full_name: str, number: int, sender: str, base_from: str) -> dict[str, Any]:
        """`pull_request.edited` after someone changed the PR's base from `base_from` (GitHub sends no
        example of it; the body is the synchronize example, with the edited schema's `changes`)."""
        body = self.pull_request("synchronize", full_name, number, sender)
        body.pop("before", None)
        body.pop("after", None)
        body["action"] = "edited"
        old = self.fake.world.repo(full_name)
        assert old is not None
        sha = self.fake.world.branch_sha(old, base_from) or ""
        body["changes"] = {"base": {"ref": {"from": base_from}, "sha": {"from": sha}}}
        return body

    def review_submitted(self, full_name: str, number: int, reviewer: str, state: str, text: str) -> dict[str, Any]:
        body = example("pull_request_review", "submitted.payload.json")
        body["pull_request"] = self._pull(body["pull_request"], full_name, number)
        body["repository"] = self._repository(body["repository"], full_name)
        body["review"].update({"state": state, "body": text, "id": self.fake.world.new_id()})
        body["review"]["user"] = self._user(body["review"]["user"], reviewer)
        body["review"]["commit_id"] = body["pull_request"]["head"]["sha"]
        body["sender"] = self._user(body["sender"], reviewer)
        return body

    def check_suite_completed(self, full_name: str, number: int, conclusion: str = "success") -> dict[str, Any]:
        body = example("check_suite", "completed.payload.json")
        pull = self._pull(
            {"head": {"repo": body["repository"]}, "base": {"repo": body["repository"]}}, full_name, number
        )
        suite = body["check_suite"]
        suite.update(
            {
                "head_branch": pull["head"]["ref"],
                "head_sha": pull["head"]["sha"],
                "after": pull["head"]["sha"],
                "conclusion": conclusion,
                "status": "completed",
            }
        )
        template_pr = suite["pull_requests"][0] if suite["pull_requests"] else None
        if template_pr is not None:
            entry = copy.deepcopy(template_pr)
            entry.update({"number": number, "url": f"{self.fake.url}/repos/{full_name}/pulls/{number}"})
            entry["head"].update({"ref": pull["head"]["ref"], "sha": pull["head"]["sha"]})
            entry["base"].update({"ref": pull["base"]["ref"], "sha": pull["base"]["sha"]})
            suite["pull_requests"] = [entry]
        body["repository"] = self._repository(body["repository"], full_name)
        return body

    def status(self, full_name: str, sha: str, branch: str, context: str, state: str) -> dict[str, Any]:
        body = example("status", "payload.json")
        body.update({"sha": sha, "context": context, "state": state, "name": full_name})
        body["commit"]["sha"] = sha
        body["branches"] = [
            {
                "name": branch,
                "commit": {"sha": sha, "url": f"{self.fake.url}/repos/{full_name}/commits/{sha}"},
                "protected": False,
            }
        ]
        body["repository"] = self._repository(body["repository"], full_name)
        return body

    def ping(self) -> dict[str, Any]:
        return example("ping", "payload.json")

    # -- delivery ---------------------------------------------------------------------------------------
    def send(
        self,
        event: str,
        body: dict[str, Any],
        *,
        delivery: str | None = None,
        secret: str | None = None,
        signature: str | None = None,
    ) -> httpx.Response:
        """Validate against GitHub's schema, sign and POST, as GitHub delivers a webhook."""
        action = body.get("action") if event != "ping" and event != "status" else None
        validate(event, action, body)
        raw = json.dumps(body).encode()
        delivery = delivery or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery,
            "X-GitHub-Hook-ID": "1",
            "X-Hub-Signature-256": signature if signature is not None else sign(secret or self.secret, raw),
        }
        self.sent.append((event, delivery, body))
        return processed(self.client.post(self.endpoint, content=raw, headers=headers), self.outcomes)
