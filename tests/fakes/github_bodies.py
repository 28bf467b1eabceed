"""Response bodies for the fake GitHub, cut from GitHub's own recorded answers.

Every object the fake returns starts as a body PyGithub recorded from api.github.com
(`/work/shared/fixtures/github/pygithub-replay-data/`), retargeted to the test's repos and to the
fake's address (PyGithub follows `url` fields and refuses other hosts), then filled with live
values. So field names, nesting and types are GitHub's, not ours.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

REPLAY_DIR = Path("/work/shared/fixtures/github/pygithub-replay-data")
GITHUB_API = "https://api.github.com"
GITHUB_WEB = "https://github.com"


@cache
def _recorded(file: str, method: str, path: str) -> str:
    """The response body of the first recorded `method path` exchange in a replay file."""
    for block in (REPLAY_DIR / file).read_text(encoding="utf-8").split("\n\n"):
        lines = block.strip("\n").split("\n")
        if len(lines) >= 10 and lines[1] == method and lines[4] == path:
            return lines[9]
    raise LookupError(f"{file} has no recorded {method} {path}")


def recorded(file: str, method: str, path: str) -> Any:
    return json.loads(_recorded(file, method, path))


def retarget(value: Any, replacements: list[tuple[str, str]]) -> Any:
    """`value` with every string rewritten by `replacements` (in order), recursively."""
    if isinstance(value, str):
        for old, new in replacements:
            value = value.replace(old, new)
        return value
    if isinstance(value, list):
        return [retarget(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: retarget(v, replacements) for k, v in value.items()}
    return value


class Bodies:
    """Builds GitHub-shaped JSON for one fake server at `base` (e.g. http://127.0.0.1:5123)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def _hosts(self) -> list[tuple[str, str]]:
        return [(GITHUB_API, self.base), (GITHUB_WEB, self.base)]

    def user(self, login: str, user_id: int, kind: str = "User") -> dict[str, Any]:
        template = recorded("PullRequest.setUp.txt", "GET", "/repos/austinsasko/PyGithub")["owner"]
        body: dict[str, Any] = retarget(template, [*self._hosts(), ("austinsasko", login)])
        body.update({"login": login, "id": user_id, "node_id": f"U_{user_id}", "type": kind})
        return body

    def repo(self, full_name: str, repo_id: int, owner: dict[str, Any], default_branch: str) -> dict[str, Any]:
        template = recorded("PullRequest.setUp.txt", "GET", "/repos/austinsasko/PyGithub")
        for key in ("parent", "source"):  # the recorded repo is a fork; ours are not
            template.pop(key, None)
        body: dict[str, Any] = retarget(template, [*self._hosts(), ("austinsasko/PyGithub", full_name)])
        body.update(
            {
                "id": repo_id,
                "node_id": f"R_{repo_id}",
                "name": full_name.split("/", 1)[1],
                "full_name": full_name,
                "owner": owner,
                "fork": False,
                "default_branch": default_branch,
                "description": f"{full_name} (fake GitHub, backed by a bare git repo)",
                "homepage": None,
            }
        )
        return body

    def pull(self, repo: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        """A pull request of `repo`; `fields` carries number, title, body, state, head/base, merge facts."""
        template = recorded("PullRequest.setUp.txt", "GET", "/repos/austinsasko/PyGithub/pulls/21")
        full = repo["full_name"]
        body: dict[str, Any] = retarget(
            template, [*self._hosts(), ("austinsasko/PyGithub", full), ("/pulls/21", "/pulls/{n}")]
        )
        body = retarget(body, [("/issues/21", "/issues/{n}"), ("/pull/21", "/pull/{n}")])
        body = retarget(body, [("{n}", str(fields["number"]))])
        for side in ("head", "base"):
            ref, sha = fields[side]
            body[side].update(
                {
                    "ref": ref,
                    "sha": sha,
                    "label": f"{repo['owner']['login']}:{ref}",
                    "repo": repo,
                    "user": repo["owner"],
                }
            )
        body["statuses_url"] = f"{repo['url']}/statuses/{fields['head'][1]}"
        body.update({k: v for k, v in fields.items() if k not in ("head", "base")})
        body["id"] = repo["id"] * 1000 + fields["number"]
        body["node_id"] = f"PR_{body['id']}"
        body.pop("auto_merge", None)
        return body

    def issue(self, repo: dict[str, Any], number: int, title: str, text: str, user: dict[str, Any]) -> dict[str, Any]:
        url = f"{repo['url']}/issues/{number}"
        return {
            "url": url,
            "repository_url": repo["url"],
            "comments_url": f"{url}/comments",
            "html_url": f"{repo['html_url']}/issues/{number}",
            "id": repo["id"] * 1000 + number,
            "node_id": f"I_{repo['id']}_{number}",
            "number": number,
            "title": title,
            "user": user,
            "labels": [],
            "state": "open",
            "locked": False,
            "assignee": None,
            "assignees": [],
            "milestone": None,
            "comments": 0,
            "created_at": "2024-05-01T10:00:00Z",
            "updated_at": "2024-05-01T10:00:00Z",
            "closed_at": None,
            "author_association": "MEMBER",
            "active_lock_reason": None,
            "body": text,
        }

    def comment(
        self, repo: dict[str, Any], issue_number: int, comment_id: int, text: str, user: dict[str, Any], at: str
    ) -> dict[str, Any]:
        template = recorded("Issue.testCreateComment.txt", "POST", "/repos/PyGithub/PyGithub/issues/28/comments")
        body: dict[str, Any] = retarget(template, self._hosts())
        body.update(
            {
                "id": comment_id,
                "node_id": f"IC_{comment_id}",
                "url": f"{repo['url']}/issues/comments/{comment_id}",
                "html_url": f"{repo['html_url']}/issues/{issue_number}#issuecomment-{comment_id}",
                "issue_url": f"{repo['url']}/issues/{issue_number}",
                "body": text,
                "user": user,
                "created_at": at,
                "updated_at": at,
                "author_association": "NONE",
            }
        )
        return body

    def label(self, name: str) -> dict[str, Any]:
        """A label as GitHub lists it on an issue (the template is a webhook example's label)."""
        example = Path("/work/shared/fixtures/github/payload-examples/api.github.com/issues/labeled.payload.json")
        body: dict[str, Any] = retarget(json.loads(example.read_text(encoding="utf-8"))["label"], self._hosts())
        body.update({"name": name, "url": f"{self.base}/labels/{name}"})
        return body

    def issue_event(
        self, repo: dict[str, Any], number: int, event_id: int, kind: str, actor: dict[str, Any], event: Any
    ) -> dict[str, Any]:
        """One entry of `GET /repos/{owner}/{repo}/issues/{number}/events` (GitHub's documented shape)."""
        return {
            "id": event_id,
            "node_id": f"LE_{event_id}",
            "url": f"{repo['url']}/issues/events/{event_id}",
            "actor": actor,
            "event": kind,
            "commit_id": None,
            "commit_url": None,
            "created_at": event.created_at,
            "label": {"name": event.label, "color": "ededed"},
            "performed_via_github_app": None,
        }

    def reaction(self, reaction_id: int, content: str, user: dict[str, Any], at: str) -> dict[str, Any]:
        template = recorded("Issue.testCreateReaction.txt", "POST", "/repos/PyGithub/PyGithub/issues/28/reactions")
        body: dict[str, Any] = retarget(template, self._hosts())
        body.update({"id": reaction_id, "content": content, "user": user, "created_at": at})
        return body

    def check_run(self, repo: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
        listing = recorded(
            "CheckRun.testGetCheckRunsForRef.txt",
            "GET",
            "/repos/PyGithub/PyGithub/commits/10a7135a04f71e6101f8b013aded8a662d08fd1f/check-runs",
        )
        body: dict[str, Any] = retarget(
            listing["check_runs"][0], [*self._hosts(), ("PyGithub/PyGithub", repo["full_name"])]
        )
        url = f"{repo['url']}/check-runs/{run['id']}"
        body.update(
            {
                "id": run["id"],
                "node_id": f"CR_{run['id']}",
                "head_sha": run["head_sha"],
                "external_id": str(run["id"]),
                "url": url,
                "html_url": f"{repo['html_url']}/runs/{run['id']}",
                "details_url": f"{repo['html_url']}/runs/{run['id']}",
                "status": run["status"],
                "conclusion": run["conclusion"],
                "name": run["name"],
                "check_suite": {"id": run["suite_id"]},
                "completed_at": "2024-05-01T10:05:00Z" if run["status"] == "completed" else None,
                "output": {
                    "title": run.get("title"),
                    "summary": run.get("summary"),
                    "text": run.get("text"),
                    "annotations_count": 0,
                    "annotations_url": f"{url}/annotations",
                },
                "pull_requests": run.get("pull_requests", []),
            }
        )
        return body

    def combined_status(self, repo: dict[str, Any], sha: str, statuses: list[dict[str, Any]]) -> dict[str, Any]:
        template = recorded(
            "CommitCombinedStatus.setUp.txt",
            "GET",
            "/repos/edx/edx-platform/commits/74e70119a23fa3ffb3db19d4590eccfebd72b659/status",
        )
        body: dict[str, Any] = retarget(template, self._hosts())
        sample = body["statuses"][0]
        items = []
        for s in statuses:
            item = copy.deepcopy(sample)
            item.update(
                {
                    "url": f"{repo['url']}/statuses/{sha}",
                    "id": s["id"],
                    "state": s["state"],
                    "description": s.get("description"),
                    "target_url": s.get("target_url"),
                    "context": s["context"],
                }
            )
            items.append(item)
        states = [s["state"] for s in statuses]
        if any(s in ("error", "failure") for s in states):
            state = "failure"
        elif states and all(s == "success" for s in states):
            state = "success"
        else:
            state = "pending"  # GitHub's answer for no statuses at all, too
        body.update(
            {
                "state": state,
                "statuses": items,
                "sha": sha,
                "total_count": len(items),
                "repository": {k: v for k, v in repo.items() if k not in ("permissions",)},
                "commit_url": f"{repo['url']}/commits/{sha}",
                "url": f"{repo['url']}/commits/{sha}/status",
            }
        )
        return body

    def merged(self, sha: str) -> dict[str, Any]:
        body: dict[str, Any] = recorded("PullRequest.testMerge.txt", "PUT", "/repos/PyGithub/PyGithub/pulls/31/merge")
        body["sha"] = sha
        return body

    def installation_token(self, token: str, expires_at: str) -> dict[str, Any]:
        body: dict[str, Any] = recorded(
            "GithubIntegration.testGetAccessToken.txt", "POST", "/app/installations/30614431/access_tokens"
        )
        body.update({"token": token, "expires_at": expires_at, "permissions": {"contents": "write"}})
        return body

    def error(self, message: str, doc: str = "https://docs.github.com/rest") -> dict[str, Any]:
        return {"message": message, "documentation_url": doc}
