"""Linear webhook bodies: every field the handler reads is a field of Linear's published webhook
types, the bodies tests send are built from those types, and the handler reads them as meant."""

from __future__ import annotations

import json
import typing
from typing import Any

import pytest
from graphql import GraphQLObjectType, GraphQLUnionType, get_named_type
from pydantic import BaseModel

from handlers.http import verify_hmac_sha256
from handlers.linear.payloads import ACTOR_TYPE, SDL_TYPES, CommentEvent, IssueEvent, SessionEvent
from handlers.linear.runs import label_added
from tests.fakes.linear_api import load_fixture_schema
from tests.fakes.linear_state import Workspace
from tests.fakes.linear_webhooks import LinearWebhooks, PayloadBuilder, sign

TOP = {
    IssueEvent: "EntityWebhookPayload",
    CommentEvent: "EntityWebhookPayload",
    SessionEvent: "AgentSessionEventWebhookPayload",
}


def _nested(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _nested(arg)]


def _missing(model: type[BaseModel], type_name: str) -> list[str]:
    """Fields `model` reads that `type_name` does not have, following nested models down."""
    schema = load_fixture_schema()
    kind = schema.type_map[type_name]
    assert isinstance(kind, GraphQLObjectType), type_name
    missing: list[str] = []
    for name, field in model.model_fields.items():
        if name not in kind.fields:
            missing.append(f"{type_name}.{name}")
            continue
        at = get_named_type(kind.fields[name].type)
        for inner in _nested(field.annotation):
            if isinstance(at, GraphQLUnionType):
                members = {m.name for m in at.types}
                child = SDL_TYPES[inner] if SDL_TYPES[inner] in members else ACTOR_TYPE
                assert child in members, f"{type_name}.{name}: {child} is not a member of {at.name}"
            elif isinstance(at, GraphQLObjectType):
                child = at.name
                assert SDL_TYPES[inner] in (child, "UserChildWebhookPayload"), f"{type_name}.{name} is {child}"
            else:  # a JSON scalar: the model says which documented shape it reads
                child = SDL_TYPES[inner]
            missing += _missing(inner, child)
    return missing


@pytest.mark.parametrize("model", list(TOP), ids=lambda m: m.__name__)
def test_every_field_the_handler_reads_exists_in_linears_webhook_types(model: type[BaseModel]) -> None:
    assert _missing(model, TOP[model]) == []


@pytest.fixture
def hooks() -> LinearWebhooks:
    return LinearWebhooks(load_fixture_schema(), Workspace())


def test_a_field_linear_does_not_send_cannot_be_put_in_a_test_body() -> None:
    with pytest.raises(KeyError, match="IssueWebhookPayload has no field"):
        PayloadBuilder(load_fixture_schema()).build("IssueWebhookPayload", {"labelNames": []})


def test_a_built_body_has_every_field_of_its_type(hooks: LinearWebhooks) -> None:
    ws = hooks.ws
    issue = ws.add_issue(ws.add_team("ENG"), "t")
    data = hooks.issue_data(issue)
    schema_fields = load_fixture_schema().type_map["IssueWebhookPayload"].fields  # type: ignore[union-attr]
    assert set(data) == set(schema_fields)


def test_a_label_added_update_reads_as_the_label_being_added(hooks: LinearWebhooks) -> None:
    ws = hooks.ws
    issue = ws.add_issue(ws.add_team("ENG"), "Add a flag", "repos: api")
    alice = ws.add_user("Alice", "alice@example.com")
    event = IssueEvent.model_validate(hooks.issue_labelled(issue, ws.add_label("Baton"), alice))
    assert (event.actor and event.actor.id, event.data.identifier) == (alice.id, "ENG-1")
    assert label_added(event, "baton")


def test_the_label_saved_again_is_not_the_label_being_added(hooks: LinearWebhooks) -> None:
    ws = hooks.ws
    issue = ws.add_issue(ws.add_team("ENG"), "t")
    alice = ws.add_user("Alice", "alice@example.com")
    hooks.issue_labelled(issue, ws.add_label("baton"), alice)
    again = hooks.issue_updated(issue, alice, {"labelIds": list(issue.label_ids)})
    assert not label_added(IssueEvent.model_validate(again), "baton")


def test_another_update_of_a_labelled_issue_is_not_the_label_being_added(hooks: LinearWebhooks) -> None:
    ws = hooks.ws
    issue = ws.add_issue(ws.add_team("ENG"), "t")
    alice = ws.add_user("Alice", "alice@example.com")
    hooks.issue_labelled(issue, ws.add_label("baton"), alice)
    retitled = hooks.issue_updated(issue, alice, {"title": "old title"})
    assert not label_added(IssueEvent.model_validate(retitled), "baton")


def test_another_label_being_added_is_not_ours(hooks: LinearWebhooks) -> None:
    ws = hooks.ws
    issue = ws.add_issue(ws.add_team("ENG"), "t")
    event = hooks.issue_labelled(issue, ws.add_label("bug"), ws.add_user("A", "a@example.com"))
    assert not label_added(IssueEvent.model_validate(event), "baton")


def test_a_comment_and_session_events_read_as_meant(hooks: LinearWebhooks) -> None:
    ws = hooks.ws
    issue = ws.add_issue(ws.add_team("ENG"), "t", "d")
    bob = ws.add_user("Bob", "bob@example.com")
    comment = CommentEvent.model_validate(hooks.comment_created(issue, bob, "/baton approve"))
    assert (comment.data.issueId, comment.data.userId, comment.data.body) == (issue.id, bob.id, "/baton approve")
    session = ws.add_session(issue, bob)
    created = SessionEvent.model_validate(hooks.session_event("created", session, comment="@baton go"))
    assert created.agentSession.issue is not None and created.agentSession.issue.team.key == "ENG"
    assert created.agentSession.comment is not None and created.agentSession.comment.body == "@baton go"
    stop = SessionEvent.model_validate(hooks.session_prompted(session, bob, "stop", signal="stop"))
    assert stop.agentActivity is not None and (stop.agentActivity.signal, stop.agentActivity.content.body) == (
        "stop",
        "stop",
    )


def test_the_signature_tests_send_is_the_one_the_edge_verifies() -> None:
    body = json.dumps({"type": "Issue"}).encode()
    assert verify_hmac_sha256("s3cret", body, sign("s3cret", body))
    assert not verify_hmac_sha256("other", body, sign("s3cret", body))


def test_the_field_check_reports_a_field_linear_does_not_have() -> None:
    class Wrong(BaseModel):
        identifier: str
        labelNames: list[str]

    assert _missing(Wrong, "IssueWebhookPayload") == ["IssueWebhookPayload.labelNames"]
