"""Linear's webhook bodies as Baton reads them: pydantic models of exactly the fields the handlers
use, named as in Linear's published webhook schema (`EntityWebhookPayload`, `IssueWebhookPayload`,
`CommentWebhookPayload`, `AgentSessionEventWebhookPayload` and their child types).

`SDL_TYPES` says which schema type each model reads; a test walks every field of every model
through those types, so a field Linear does not send cannot creep in. Unknown fields are ignored:
Linear adds fields without notice.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore")


class UserRef(_Payload):
    """A person: `UserChildWebhookPayload`, or the `UserActorWebhookPayload` of an entity event."""

    id: str
    name: str = ""


class TeamRef(_Payload):
    id: str
    key: str = ""


class LabelRef(_Payload):
    id: str
    name: str


class IssueData(_Payload):
    id: str
    identifier: str
    title: str
    description: str | None = None
    url: str
    teamId: str
    team: TeamRef | None = None
    labelIds: list[str]
    labels: list[LabelRef] = []
    updatedAt: str | None = None


class IssueEvent(_Payload):
    action: str
    type: str
    actor: UserRef | None = None
    data: IssueData
    updatedFrom: dict[str, Any] | None = None


class CommentData(_Payload):
    id: str
    body: str
    createdAt: str | None = None
    issueId: str | None = None
    userId: str | None = None
    user: UserRef | None = None
    botActor: str | None = None


class CommentEvent(_Payload):
    action: str
    type: str
    data: CommentData


class SessionIssue(_Payload):
    id: str
    identifier: str
    title: str
    description: str | None = None
    url: str
    teamId: str
    team: TeamRef


class SessionComment(_Payload):
    id: str
    body: str


class AgentSession(_Payload):
    id: str
    issue: SessionIssue | None = None
    creator: UserRef | None = None
    comment: SessionComment | None = None


class PromptContent(_Payload):
    """The `content` of a prompt activity (a JSONObject on the wire: `AgentActivityPromptContent`)."""

    type: str = "prompt"
    body: str = ""


class AgentActivity(_Payload):
    id: str
    content: PromptContent
    signal: str | None = None
    user: UserRef | None = None
    userId: str


class SessionEvent(_Payload):
    action: str
    type: str
    agentSession: AgentSession
    agentActivity: AgentActivity | None = None


SDL_TYPES: dict[type[BaseModel], str] = {
    IssueEvent: "EntityWebhookPayload",
    IssueData: "IssueWebhookPayload",
    CommentEvent: "EntityWebhookPayload",
    CommentData: "CommentWebhookPayload",
    SessionEvent: "AgentSessionEventWebhookPayload",
    AgentSession: "AgentSessionWebhookPayload",
    SessionIssue: "IssueWithDescriptionChildWebhookPayload",
    SessionComment: "CommentChildWebhookPayload",
    AgentActivity: "AgentActivityWebhookPayload",
    PromptContent: "AgentActivityPromptContent",
    TeamRef: "TeamChildWebhookPayload",
    LabelRef: "IssueLabelChildWebhookPayload",
    UserRef: "UserChildWebhookPayload",
}
"""Model → the schema type it reads (where a field's schema type is a union or JSON, the member)."""

ACTOR_TYPE = "UserActorWebhookPayload"
"""`IssueEvent.actor` is the user member of the `EntityActorWebhookPayload` union."""
