"""The in-memory Linear workspace behind the fake API: teams and their workflow states, users,
issues, comments, attachments, agent sessions and their activities — and the resolvers that
answer the subset of Linear's schema Baton uses against them.

Resolvers follow graphql-core's default resolution: the root object's methods are the Query and
Mutation fields (`commentCreate(info, input)`), nested objects are dicts whose callables take the
field's arguments. Refusals are `GraphQLError`s with Linear's `extensions` (type, code, userError),
so the errors array looks like Linear's.
"""

from __future__ import annotations

import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import GraphQLError, GraphQLResolveInfo

GITHUB_PR = re.compile(r"^https://github\.com/[^/]+/[^/]+/pull/\d+/?$")
DEFAULT_STATES = [
    ("Backlog", "backlog", 0.0),
    ("Todo", "unstarted", 1.0),
    ("In Progress", "started", 2.0),
    ("In Review", "started", 3.0),
    ("Done", "completed", 4.0),
    ("Canceled", "canceled", 5.0),
]
_CONTENT_TYPES = {
    "thought": "AgentActivityThoughtContent",
    "action": "AgentActivityActionContent",
    "elicitation": "AgentActivityElicitationContent",
    "response": "AgentActivityResponseContent",
    "error": "AgentActivityErrorContent",
    "prompt": "AgentActivityPromptContent",
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def new_id() -> str:
    return str(uuid.uuid4())


def refuse(message: str, kind: str = "invalid input", presentable: str | None = None) -> GraphQLError:
    code = kind.upper().replace(" ", "_")
    extensions = {"type": kind, "code": code, "userError": True, "userPresentableMessage": presentable or message}
    return GraphQLError(message, extensions=extensions)


def not_found(entity: str) -> GraphQLError:
    return refuse(f"Entity not found: {entity}", presentable=f"Could not find referenced {entity}.")


@dataclass
class State:
    id: str
    name: str
    type: str
    position: float
    team_id: str


@dataclass
class Team:
    id: str
    key: str
    name: str
    states: list[State] = field(default_factory=list)


@dataclass
class Label:
    id: str
    name: str
    color: str = "#5e6ad2"


@dataclass
class User:
    id: str
    name: str
    email: str
    team_ids: list[str] = field(default_factory=list)
    app: bool = False


@dataclass
class Issue:
    id: str
    identifier: str
    title: str
    description: str
    team_id: str
    state_id: str
    label_ids: list[str] = field(default_factory=list)


@dataclass
class Comment:
    id: str
    issue_id: str
    body: str
    user_id: str
    parent_id: str | None = None
    edits: int = 0


@dataclass
class Attachment:
    id: str
    issue_id: str
    url: str
    title: str
    kind: str  # "github_pr" | "url"


@dataclass
class Activity:
    id: str
    session_id: str
    content: dict[str, Any]
    signal: str | None = None


@dataclass
class Session:
    id: str
    issue_id: str | None
    creator_id: str | None
    external_urls: list[dict[str, str]] = field(default_factory=list)


def _connection(nodes: list[Any]) -> dict[str, Any]:
    page = {"hasNextPage": False, "hasPreviousPage": False, "startCursor": None, "endCursor": None}
    return {"nodes": nodes, "edges": [{"node": n, "cursor": str(i)} for i, n in enumerate(nodes)], "pageInfo": page}


class Workspace:
    """One Linear organisation. `viewer_id` is the user the API token belongs to (the bot)."""

    def __init__(self, url_key: str = "acme") -> None:
        self.url_key = url_key
        self.lock = threading.RLock()
        self.teams: dict[str, Team] = {}
        self.labels: dict[str, Label] = {}
        self.users: dict[str, User] = {}
        self.issues: dict[str, Issue] = {}
        self.comments: dict[str, Comment] = {}
        self.attachments: dict[str, Attachment] = {}
        self.sessions: dict[str, Session] = {}
        self.activities: dict[str, Activity] = {}
        self.sync_id = 0
        self.viewer_id = self.add_user("Baton", "baton@example.com", app=True).id

    # -- setting the world up -------------------------------------------------------------------------
    def add_team(self, key: str, name: str | None = None) -> Team:
        with self.lock:
            team = Team(id=new_id(), key=key, name=name or key)
            team.states = [State(new_id(), n, t, p, team.id) for n, t, p in DEFAULT_STATES]
            self.teams[team.id] = team
            return team

    def add_label(self, name: str) -> Label:
        with self.lock:
            label = Label(new_id(), name)
            self.labels[label.id] = label
            return label

    def add_user(self, name: str, email: str, teams: list[Team] | None = None, app: bool = False) -> User:
        with self.lock:
            user = User(id=new_id(), name=name, email=email, team_ids=[t.id for t in teams or []], app=app)
            self.users[user.id] = user
            return user

    def add_issue(self, team: Team, title: str, description: str = "", state: str = "Todo") -> Issue:
        with self.lock:
            number = 1 + sum(1 for i in self.issues.values() if i.team_id == team.id)
            state_id = next(s.id for s in team.states if s.name == state)
            issue = Issue(new_id(), f"{team.key}-{number}", title, description, team.id, state_id)
            self.issues[issue.id] = issue
            return issue

    def add_session(self, issue: Issue | None, creator: User | None) -> Session:
        with self.lock:
            session = Session(new_id(), issue.id if issue else None, creator.id if creator else None)
            self.sessions[session.id] = session
            return session

    def state_of(self, issue: Issue) -> State:
        return next(s for s in self.teams[issue.team_id].states if s.id == issue.state_id)

    def issue_url(self, issue: Issue) -> str:
        return f"https://linear.app/{self.url_key}/issue/{issue.identifier.lower()}"

    # -- objects as the schema sees them ----------------------------------------------------------------
    def team_obj(self, team: Team) -> dict[str, Any]:
        def states(_info: GraphQLResolveInfo, **args: Any) -> dict[str, Any]:
            wanted = ((args.get("filter") or {}).get("type") or {}).get("eq")
            chosen = [s for s in team.states if wanted is None or s.type == wanted]
            return _connection([self.state_obj(s) for s in chosen])

        return {"id": team.id, "key": team.key, "name": team.name, "displayName": team.name, "states": states}

    def state_obj(self, state: State) -> dict[str, Any]:
        team = self.teams[state.team_id]
        return {"id": state.id, "name": state.name, "type": state.type, "position": state.position, "team": team}

    def user_obj(self, user: User) -> dict[str, Any]:
        def teams(_info: GraphQLResolveInfo, **_args: Any) -> dict[str, Any]:
            return _connection([self.team_obj(self.teams[t]) for t in user.team_ids])

        return {
            "id": user.id,
            "name": user.name,
            "displayName": user.name,
            "email": user.email,
            "url": f"https://linear.app/{self.url_key}/profiles/{user.id}",
            "app": user.app,
            "admin": False,
            "teams": teams,
        }

    def issue_obj(self, issue: Issue) -> dict[str, Any]:
        return {
            "id": issue.id,
            "identifier": issue.identifier,
            "title": issue.title,
            "description": issue.description,
            "url": self.issue_url(issue),
            "team": self.team_obj(self.teams[issue.team_id]),
            "state": self.state_obj(self.state_of(issue)),
        }

    def comment_obj(self, comment: Comment) -> dict[str, Any]:
        issue = self.issues[comment.issue_id]
        return {
            "id": comment.id,
            "body": comment.body,
            "url": f"{self.issue_url(issue)}#comment-{comment.id[:8]}",
            "issue": self.issue_obj(issue),
            "user": self.user_obj(self.users[comment.user_id]),
        }

    def attachment_obj(self, attachment: Attachment) -> dict[str, Any]:
        issue = self.issues[attachment.issue_id]
        return {"id": attachment.id, "url": attachment.url, "title": attachment.title, "issue": self.issue_obj(issue)}

    def activity_obj(self, activity: Activity) -> dict[str, Any]:
        content = {"__typename": _CONTENT_TYPES[activity.content["type"]], "bodyData": {}, **activity.content}
        return {"id": activity.id, "content": content, "signal": activity.signal}

    def payload(self, key: str, value: Any) -> dict[str, Any]:
        self.sync_id += 1
        return {"success": True, "lastSyncId": float(self.sync_id), key: value}

    def find_issue(self, ref: str) -> Issue:
        """Linear takes an issue's UUID or its identifier (`ENG-12`)."""
        found = self.issues.get(ref) or next((i for i in self.issues.values() if i.identifier == ref), None)
        if found is None:
            raise not_found("Issue")
        return found

    def claim_id(self, table: dict[str, Any], wanted: str | None, entity: str) -> str:
        if wanted is None:
            return new_id()
        try:
            uuid.UUID(wanted)
        except ValueError:
            raise refuse(f"Argument Validation Error: id must be a UUID ({entity})") from None
        if wanted in table:
            raise refuse(f"{entity} with id {wanted} already exists", presentable=f"The {entity} already exists.")
        return wanted
