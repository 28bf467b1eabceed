"""Linear webhook deliveries for tests, built from the webhook payload types of Linear's published
schema and signed the way Linear signs them.

No first-party JSON example of a Linear webhook exists (see /work/shared/fixtures/SOURCES.md), so
`PayloadBuilder.build(type, values)` makes one from the SDL: every field of the type is present,
values given by the test must be fields of that type (recursively), non-null fields nobody gave
get a plausible value of their scalar type, nullable ones are null — the shape Linear sends.
`LinearSender` posts a body with `Linear-Delivery`, `Linear-Event` and `Linear-Signature` (hex
HMAC-SHA256 of the raw body), stamping `webhookTimestamp` with the current time in milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
)

from tests.fakes.linear_state import Comment, Issue, Label, Session, User, Workspace, now_iso
from tests.fakes.served_app import Outcomes, processed

ORGANIZATION_ID = "0f6ab7de-3f4b-4d5e-8a1c-6c7d2e9b0a11"


class PayloadBuilder:
    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema

    def build(self, type_name: str, values: dict[str, Any] | None = None) -> dict[str, Any]:
        kind = self.schema.type_map[type_name]
        assert isinstance(kind, GraphQLObjectType), type_name
        return self._object(kind, values or {})

    def _object(self, kind: GraphQLObjectType, values: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(values) - set(kind.fields))
        if unknown:
            raise KeyError(f"{kind.name} has no field(s) {', '.join(unknown)}")
        out: dict[str, Any] = {}
        for name, field in kind.fields.items():
            if name in values:
                out[name] = self._given(field.type, values[name], f"{kind.name}.{name}")
            elif isinstance(field.type, GraphQLNonNull):
                out[name] = self._default(name, field.type.of_type, f"{kind.name}.{name}")
            else:
                out[name] = None
        return out

    def _given(self, kind: GraphQLOutputType, value: Any, where: str) -> Any:
        inner = kind.of_type if isinstance(kind, GraphQLNonNull) else kind
        if value is None:
            assert not isinstance(kind, GraphQLNonNull), f"{where} may not be null"
            return None
        if isinstance(inner, GraphQLList):
            return [self._given(inner.of_type, v, where) for v in value]
        if isinstance(inner, GraphQLObjectType):
            return self._object(inner, value)
        if isinstance(inner, GraphQLUnionType):
            members = [m for m in inner.types if set(value) <= set(m.fields)]
            assert members, f"{where}: no member of {inner.name} has fields {sorted(value)}"
            return value
        return value

    def _default(self, name: str, kind: Any, where: str) -> Any:
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if isinstance(kind, GraphQLList):
            return []
        if isinstance(kind, GraphQLObjectType):
            return self._object(kind, {})
        if isinstance(kind, GraphQLUnionType):
            raise AssertionError(f"{where} is a union ({kind.name}): the test must give it")
        assert isinstance(kind, GraphQLScalarType), where
        if kind.name in ("Float", "Int"):
            return 0
        if kind.name == "Boolean":
            return False
        if kind.name in ("JSONObject", "JSON"):
            return {}
        if kind.name == "DateTime" or name.endswith("At"):
            return now_iso()
        if name == "id" or name.endswith("Id"):
            return str(uuid.uuid4())
        return f"{name}-value"


class LinearWebhooks:
    """Webhook bodies about the fake workspace's objects, in Linear's payload shapes."""

    def __init__(self, schema: GraphQLSchema, workspace: Workspace) -> None:
        self.b = PayloadBuilder(schema)
        self.ws = workspace

    def _user(self, user: User, kind: str = "UserChildWebhookPayload") -> dict[str, Any]:
        values = {"id": user.id, "name": user.name, "email": user.email, "url": f"https://linear.app/u/{user.id}"}
        if kind == "UserActorWebhookPayload":
            values["type"] = "user"
        return self.b.build(kind, values)

    def _team(self, issue: Issue) -> dict[str, Any]:
        team = self.ws.teams[issue.team_id]
        return self.b.build("TeamChildWebhookPayload", {"id": team.id, "key": team.key, "name": team.name})

    def issue_data(self, issue: Issue) -> dict[str, Any]:
        state = self.ws.state_of(issue)
        labels = [self.ws.labels[i] for i in issue.label_ids]
        return self.b.build(
            "IssueWebhookPayload",
            {
                "id": issue.id,
                "identifier": issue.identifier,
                "number": float(issue.identifier.split("-")[-1]),
                "title": issue.title,
                "description": issue.description,
                "url": self.ws.issue_url(issue),
                "teamId": issue.team_id,
                "team": self._team(issue),
                "stateId": state.id,
                "state": {"id": state.id, "name": state.name, "type": state.type, "color": "#f2c94c"},
                "labelIds": [lab.id for lab in labels],
                "labels": [self._label(lab) for lab in labels],
                "priorityLabel": "No priority",
            },
        )

    def _label(self, label: Label) -> dict[str, Any]:
        return self.b.build("IssueLabelChildWebhookPayload", {"id": label.id, "name": label.name, "color": label.color})

    def entity(
        self, action: str, kind: str, data: dict[str, Any], actor: User, updated_from: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return self.b.build(
            "EntityWebhookPayload",
            {
                "action": action,
                "type": kind,
                "actor": self._user(actor, "UserActorWebhookPayload"),
                "createdAt": now_iso(),
                "data": data,
                "organizationId": ORGANIZATION_ID,
                "updatedFrom": updated_from,
                "url": data.get("url"),
                "webhookTimestamp": time.time() * 1000,
            },
        )

    def issue_labelled(self, issue: Issue, label: Label, actor: User) -> dict[str, Any]:
        """An `Issue` update that adds `label` (the issue's labels before are its current ones)."""
        before = list(issue.label_ids)
        issue.label_ids = [*before, label.id]
        return self.entity(
            "update", "Issue", self.issue_data(issue), actor, {"labelIds": before, "updatedAt": now_iso()}
        )

    def issue_updated(self, issue: Issue, actor: User, updated_from: dict[str, Any]) -> dict[str, Any]:
        return self.entity("update", "Issue", self.issue_data(issue), actor, updated_from)

    def comment_created(self, issue: Issue, author: User, body: str) -> dict[str, Any]:
        """Someone comments on an issue: the comment exists in the workspace, and this is its webhook."""
        comment = Comment(str(uuid.uuid4()), issue.id, body, author.id)
        with self.ws.lock:
            self.ws.comments[comment.id] = comment
        child_issue = {
            "id": issue.id,
            "identifier": issue.identifier,
            "title": issue.title,
            "url": self.ws.issue_url(issue),
            "teamId": issue.team_id,
            "team": self._team(issue),
        }
        data = self.b.build(
            "CommentWebhookPayload",
            {
                "id": comment.id,
                "body": body,
                "issueId": issue.id,
                "issue": child_issue,
                "userId": author.id,
                "user": self._user(author),
                "createdAt": now_iso(),
                "updatedAt": now_iso(),
            },
        )
        return self.entity("create", "Comment", data, author)

    def session_event(
        self, action: str, session: Session, activity: dict[str, Any] | None = None, comment: str | None = None
    ) -> dict[str, Any]:
        issue = self.ws.issues[session.issue_id] if session.issue_id else None
        creator = self.ws.users[session.creator_id] if session.creator_id else None
        values: dict[str, Any] = {
            "id": session.id,
            "appUserId": self.ws.viewer_id,
            "organizationId": ORGANIZATION_ID,
            "status": "pending" if action == "created" else "active",
            "type": "commentThread",
            "issueId": issue.id if issue else None,
            "creatorId": creator.id if creator else None,
            "creator": self._user(creator) if creator else None,
        }
        if issue is not None:
            values["issue"] = {
                "id": issue.id,
                "identifier": issue.identifier,
                "title": issue.title,
                "description": issue.description,
                "url": self.ws.issue_url(issue),
                "teamId": issue.team_id,
                "team": self._team(issue),
            }
        if comment is not None:
            values["comment"] = {"id": str(uuid.uuid4()), "body": comment, "issueId": values["issueId"]}
        return self.b.build(
            "AgentSessionEventWebhookPayload",
            {
                "action": action,
                "type": "AgentSessionEvent",
                "agentSession": self.b.build("AgentSessionWebhookPayload", values),
                "agentActivity": activity,
                "appUserId": self.ws.viewer_id,
                "oauthClientId": "oauth-client-baton",
                "organizationId": ORGANIZATION_ID,
                "createdAt": now_iso(),
                "promptContext": f"<issue>{issue.title}</issue>" if issue and action == "created" else None,
                "webhookTimestamp": time.time() * 1000,
            },
        )

    def session_prompted(self, session: Session, author: User, body: str, signal: str | None = None) -> dict[str, Any]:
        activity = self.b.build(
            "AgentActivityWebhookPayload",
            {
                "id": str(uuid.uuid4()),
                "agentSessionId": session.id,
                "content": {"type": "prompt", "body": body},
                "signal": signal,
                "userId": author.id,
                "user": self._user(author),
            },
        )
        return self.session_event("prompted", session, activity)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class LinearSender:
    """Posts deliveries to Baton's `/linear/webhook` exactly as Linear does."""

    def __init__(self, url: str, secret: str, outcomes: Outcomes | None = None) -> None:
        """`outcomes`: read what Baton did with a delivery after answering it (`processed`)."""
        self.outcomes = outcomes
        self.url = url
        self.secret = secret
        self.http = httpx.Client(timeout=30)

    def send(
        self,
        payload: dict[str, Any],
        *,
        delivery: str | None = None,
        signature: str | None = None,
        body: bytes | None = None,
    ) -> httpx.Response:
        raw = body if body is not None else json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Linear-Webhook",
            "Linear-Delivery": delivery or str(uuid.uuid4()),
            "Linear-Event": str(payload.get("type", "")),
            "Linear-Signature": signature if signature is not None else sign(self.secret, raw),
        }
        return processed(self.http.post(self.url, content=raw, headers=headers), self.outcomes)

    def close(self) -> None:
        self.http.close()
