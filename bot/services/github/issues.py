"""The conversation side of GitHub: reactions, replies, the one status comment per issue, PR
bodies, issue text, and people's permission on a repo.

Writes that GitHub does not make idempotent are made so here: every comment Baton writes carries a
hidden marker (`<!-- baton:run=… -->` on a status comment, `<!-- baton:reply=… -->` on a reply), and
a retry after a lost answer — or a restart — first looks for the marker, so a comment is never
written twice. Reactions are idempotent on GitHub already.
"""

from __future__ import annotations

import re
from typing import Any

from github import GithubException
from github.IssueComment import IssueComment
from pydantic import BaseModel

from bot.config.github import PERMISSIONS
from bot.domain.ports import ForgeError
from bot.services.github.client import GitHubApi, describe, loaded


def status_marker(run_id: str) -> str:
    return f"<!-- baton:run={run_id} -->"


def reply_marker(key: str) -> str:
    return f"<!-- baton:reply={key} -->"


_ANY_MARKER = re.compile(r"<!-- baton:(run|reply)=[^>]*-->")


def is_baton_comment(body: str) -> bool:
    """Whether a comment was written by Baton (it carries one of Baton's hidden markers)."""
    return bool(_ANY_MARKER.search(body or ""))


class IssueText(BaseModel):
    title: str
    body: str
    is_pull: bool = False


class CommentRecord(BaseModel):
    """A comment as GitHub has it now (what a command is checked against before it counts)."""

    id: int
    author: str
    body: str
    created_at: str
    updated_at: str


class LabelEvent(BaseModel):
    """One `labeled`/`unlabeled` entry of an issue's events."""

    id: int
    event: str
    actor: str
    label: str
    created_at: str


def _label_event(item: dict[str, Any]) -> LabelEvent:
    return LabelEvent(
        id=int(item["id"]),
        event=str(item["event"]),
        actor=str((item.get("actor") or {}).get("login") or ""),
        label=str((item.get("label") or {}).get("name") or ""),
        created_at=str(item.get("created_at") or ""),
    )


class GitHubIssues:
    def __init__(self, api: GitHubApi) -> None:
        self.api = api

    def _find_comment(self, full: str, number: int, marker: str) -> IssueComment | None:
        issue = self.api.repo(full).get_issue(number)
        comments = self.api.call(f"read the comments of {full}#{number}", lambda: list(issue.get_comments()))
        mine = [c for c in comments if marker in (c.body or "")]
        return mine[0] if mine else None

    def _request(
        self, full: str, what: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A REST call PyGithub has no method for, under the retry policy; GithubException passes
        through so each caller decides what a 404 means."""
        repo = self.api.repo(full)
        url, requester = f"{repo.url}/{path}", repo.requester
        _, data = self.api.call(what, lambda: requester.requestJsonAndCheck(method, url, input=body))
        return data if isinstance(data, dict) else {}

    def react(self, full: str, comment_id: int, content: str = "eyes") -> None:
        try:
            what = f"react to a comment in {full}"
            self._request(full, what, "POST", f"issues/comments/{comment_id}/reactions", {"content": content})
        except GithubException as err:
            raise ForgeError(f"could not react to a comment in {full}: {describe(err)}") from None

    def reply(self, full: str, number: int, text: str, key: str) -> int:
        """Post `text` on issue/PR `number` once per `key`; returns the comment's id."""
        marker = reply_marker(key)
        issue = self.api.repo(full).get_issue(number)
        body = f"{text}\n\n{marker}"
        try:
            comment = self.api.call(
                f"reply on {full}#{number}",
                lambda: issue.create_comment(body),
                lambda: self._find_comment(full, number, marker),
            )
        except GithubException as err:
            raise ForgeError(f"could not reply on {full}#{number}: {describe(err)}") from None
        return int(comment.id)

    def find_status(self, full: str, number: int, run_id: str) -> int | None:
        found = self._find_comment(full, number, status_marker(run_id))
        return int(found.id) if found else None

    def upsert_status(self, full: str, number: int, run_id: str, text: str, comment_id: int | None) -> int:
        """Write the run's status comment: edit it in place when it exists, else create it once."""
        marker = status_marker(run_id)
        body = f"{marker}\n{text}"
        repo = self.api.repo(full)
        if comment_id is None:
            comment_id = self.find_status(full, number, run_id)
        if comment_id is not None:
            try:
                what = f"edit the status comment on {full}#{number}"
                self._request(full, what, "PATCH", f"issues/comments/{comment_id}", {"body": body})
                return comment_id
            except GithubException as err:
                if err.status != 404:  # deleted by someone: write it again below
                    raise ForgeError(f"could not edit the status comment on {full}#{number}: {describe(err)}") from None
        issue = repo.get_issue(number)
        try:
            created = self.api.call(
                f"post the status comment on {full}#{number}",
                lambda: issue.create_comment(body),
                lambda: self._find_comment(full, number, marker),
            )
        except GithubException as err:
            raise ForgeError(f"could not post the status comment on {full}#{number}: {describe(err)}") from None
        return int(created.id)

    def comment(self, full: str, comment_id: int) -> CommentRecord | None:
        """Comment `comment_id` of `full` as GitHub has it now; None when it no longer exists."""
        try:
            data = self._request(full, f"read a comment in {full}", "GET", f"issues/comments/{comment_id}")
        except GithubException as err:
            if err.status == 404:
                return None
            raise ForgeError(f"could not read a comment in {full}: {describe(err)}") from None
        return CommentRecord(
            id=int(data["id"]),
            author=str((data.get("user") or {}).get("login") or ""),
            body=str(data.get("body") or ""),
            created_at=str(data.get("created_at") or ""),
            updated_at=str(data.get("updated_at") or ""),
        )

    def label_events(self, full: str, number: int) -> list[LabelEvent]:
        """The `labeled`/`unlabeled` events of issue `number`, oldest first."""
        found: list[LabelEvent] = []
        repo = self.api.repo(full)
        url, requester = f"{repo.url}/issues/{number}/events", repo.requester
        for page in range(1, 101):  # 10,000 events: further than any issue's history goes

            def read(page: int = page) -> tuple[dict[str, Any], Any]:
                return requester.requestJsonAndCheck("GET", url, parameters={"per_page": 100, "page": page})

            try:
                _, data = self.api.call(f"read the events of {full}#{number}", read)
            except GithubException as err:
                raise ForgeError(f"could not read the events of {full}#{number}: {describe(err)}") from None
            items = data if isinstance(data, list) else []
            found += [_label_event(item) for item in items if item.get("event") in ("labeled", "unlabeled")]
            if len(items) < 100:
                break
        return [e for e in found if e.label]

    def issue_text(self, full: str, number: int) -> IssueText:
        repo = self.api.repo(full)
        issue = self.api.call(f"read {full}#{number}", lambda: loaded(repo.get_issue(number)))
        return IssueText(title=issue.title or "", body=issue.body or "", is_pull=issue.pull_request is not None)

    def pull_body(self, full: str, number: int) -> str:
        repo = self.api.repo(full)
        pr = self.api.call(f"read {full}#{number}", lambda: loaded(repo.get_pull(number)))
        return pr.body or ""

    def set_pull_body(self, full: str, number: int, body: str) -> None:
        try:
            self._request(
                full, f"update the description of {full}#{number}", "PATCH", f"pulls/{number}", {"body": body}
            )
        except GithubException as err:
            raise ForgeError(f"could not update the description of {full}#{number}: {describe(err)}") from None

    def role(self, full: str, login: str) -> str | None:
        """`login`'s role on `full` (read, triage, write, maintain, admin), None for no access."""
        try:
            data = self._request(
                full, f"read {login}'s permission on {full}", "GET", f"collaborators/{login}/permission"
            )
        except GithubException as err:
            if err.status == 404:
                return None
            raise ForgeError(f"could not read {login}'s permission on {full}: {describe(err)}") from None
        # `permission` folds maintain into write and triage into read; the user's flags do not.
        flags = (data.get("user") or {}).get("permissions") or {}
        for role, flag in (("admin", "admin"), ("maintain", "maintain"), ("write", "push"), ("triage", "triage")):
            if flags.get(flag):
                return role
        if flags.get("pull"):
            return "read"
        name = str(data.get("role_name") or data.get("permission") or "")
        return name if name in PERMISSIONS else None
