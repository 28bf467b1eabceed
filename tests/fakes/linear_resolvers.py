"""The Query and Mutation fields of Linear's schema that Baton uses, resolved against the fake's
in-memory workspace. Everything else in the schema validates but resolves to nothing: a document
Baton sends that asks for more than this is a test failure, not a silent success.

Each mutation checks what Linear checks for the inputs Baton sends (the issue exists, the state
belongs to the issue's team, a GitHub PR link is a GitHub PR URL, an activity's content has the
fields its type needs, client-chosen ids are UUIDs and unique) and refuses with Linear's error shape.
"""

from __future__ import annotations

from typing import Any, TypeVar

from graphql import GraphQLResolveInfo

from tests.fakes.linear_state import (
    GITHUB_PR,
    Activity,
    Attachment,
    Comment,
    Workspace,
    not_found,
    refuse,
)

T = TypeVar("T")

_NEEDS = {
    "thought": ("body",),
    "elicitation": ("body",),
    "response": ("body",),
    "error": ("body",),
    "prompt": ("body",),
    "action": ("action", "parameter"),
}


def _found(entity: T | None, kind: str) -> T:
    """`entity`, or Linear's "Entity not found" refusal naming `kind`."""
    if entity is None:
        raise not_found(kind)
    return entity


class Root:
    """graphql-core's root value: one method per Query/Mutation field Baton calls."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # -- queries ---------------------------------------------------------------------------------------
    def viewer(self, _info: GraphQLResolveInfo) -> dict[str, Any]:
        with self.ws.lock:
            return self.ws.user_obj(self.ws.users[self.ws.viewer_id])

    def team(self, _info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
        with self.ws.lock:
            team = self.ws.teams.get(id) or next((t for t in self.ws.teams.values() if t.key == id), None)
            return self.ws.team_obj(_found(team, "Team"))

    def user(self, _info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
        with self.ws.lock:
            return self.ws.user_obj(_found(self.ws.users.get(id), "User"))

    def issue(self, _info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
        with self.ws.lock:
            return self.ws.issue_obj(self.ws.find_issue(id))

    def agentActivity(self, _info: GraphQLResolveInfo, id: str) -> dict[str, Any]:
        with self.ws.lock:
            return self.ws.activity_obj(_found(self.ws.activities.get(id), "AgentActivity"))

    # -- comments ----------------------------------------------------------------------------------------
    def commentCreate(self, _info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        with ws.lock:
            if not input.get("issueId"):
                raise refuse("Argument Validation Error: issueId is required for an issue comment")
            issue = ws.find_issue(input["issueId"])
            body = input.get("body")
            if not body or not body.strip():
                raise refuse("Argument Validation Error: body should not be empty")
            parent = input.get("parentId")
            if parent is not None and parent not in ws.comments:
                raise not_found("Comment")
            comment_id = ws.claim_id(ws.comments, input.get("id"), "Comment")
            comment = Comment(comment_id, issue.id, body, ws.viewer_id, parent)
            ws.comments[comment_id] = comment
            return ws.payload("comment", ws.comment_obj(comment))

    def commentUpdate(
        self, _info: GraphQLResolveInfo, id: str, input: dict[str, Any], skipEditedAt: bool | None = None
    ) -> dict[str, Any]:
        ws = self.ws
        with ws.lock:
            comment = _found(ws.comments.get(id), "Comment")
            if comment.user_id != ws.viewer_id:
                raise refuse("Only the author may edit a comment", kind="forbidden")
            if "body" in input:
                if not input["body"] or not input["body"].strip():
                    raise refuse("Argument Validation Error: body should not be empty")
                comment.body = input["body"]
                comment.edits += 1
            return ws.payload("comment", ws.comment_obj(comment))

    # -- issues ------------------------------------------------------------------------------------------
    def issueUpdate(self, _info: GraphQLResolveInfo, id: str, input: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        with ws.lock:
            issue = ws.find_issue(id)
            if "stateId" in input:
                team = ws.teams[issue.team_id]
                if input["stateId"] not in {s.id for s in team.states}:
                    raise refuse("Argument Validation Error: stateId must be a workflow state of the issue's team")
                issue.state_id = input["stateId"]
            return ws.payload("issue", ws.issue_obj(issue))

    # -- attachments -------------------------------------------------------------------------------------
    def attachmentLinkGitHubPR(
        self, _info: GraphQLResolveInfo, issueId: str, url: str, title: str | None = None, **_: Any
    ) -> dict[str, Any]:
        if not GITHUB_PR.match(url):
            raise refuse("Argument Validation Error: url must be a GitHub pull request URL")
        return self._attach(issueId, url, title, "github_pr")

    def attachmentLinkURL(
        self, _info: GraphQLResolveInfo, issueId: str, url: str, title: str | None = None, **_: Any
    ) -> dict[str, Any]:
        if not url.startswith(("https://", "http://")):
            raise refuse("Argument Validation Error: url must be an http(s) URL")
        return self._attach(issueId, url, title, "url")

    def _attach(self, issue_ref: str, url: str, title: str | None, kind: str) -> dict[str, Any]:
        ws = self.ws
        with ws.lock:
            issue = ws.find_issue(issue_ref)
            # Linear keeps one attachment per (issue, url): linking again updates it.
            found = next((a for a in ws.attachments.values() if a.issue_id == issue.id and a.url == url), None)
            if found is None:
                found = Attachment(ws.claim_id(ws.attachments, None, "Attachment"), issue.id, url, title or url, kind)
                ws.attachments[found.id] = found
            elif title:
                found.title = title
            return ws.payload("attachment", ws.attachment_obj(found))

    # -- agent sessions ----------------------------------------------------------------------------------
    def agentActivityCreate(self, _info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        with ws.lock:
            if input["agentSessionId"] not in ws.sessions:
                raise not_found("AgentSession")
            content = input["content"]
            kind = content.get("type") if isinstance(content, dict) else None
            if kind not in _NEEDS:
                raise refuse("Argument Validation Error: content.type must be an AgentActivityType")
            missing = [f for f in _NEEDS[kind] if not isinstance(content.get(f), str) or not content.get(f)]
            if missing:
                raise refuse(f"Argument Validation Error: content.{missing[0]} is required for {kind}")
            activity_id = ws.claim_id(ws.activities, input.get("id"), "AgentActivity")
            activity = Activity(activity_id, input["agentSessionId"], dict(content), input.get("signal"))
            ws.activities[activity_id] = activity
            return ws.payload("agentActivity", ws.activity_obj(activity))

    def agentSessionUpdate(self, _info: GraphQLResolveInfo, id: str, input: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        with ws.lock:
            session = _found(ws.sessions.get(id), "AgentSession")
            if input.get("externalUrls") is not None:
                session.external_urls = [dict(u) for u in input["externalUrls"]]
            else:
                session.external_urls += [dict(u) for u in input.get("addedExternalUrls") or []]
            return ws.payload("agentSession", {"id": session.id})
