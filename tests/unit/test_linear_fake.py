"""The Linear stand-in is only useful if it is as strict as Linear: these tests pin that down with
raw HTTP, the way any client would meet it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes.linear_api import FakeLinear

KEY = "lin_api_fake_unit"


@pytest.fixture
def linear() -> Iterator[FakeLinear]:
    with FakeLinear(api_key=KEY) as fake:
        yield fake


def post(fake: FakeLinear, query: str, variables: dict[str, Any] | None = None, auth: str = KEY) -> httpx.Response:
    headers = {"Authorization": auth} if auth else {}
    return httpx.post(fake.url, json={"query": query, "variables": variables or {}}, headers=headers)


def test_a_request_without_authorization_gets_linears_authentication_error(linear: FakeLinear) -> None:
    answer = post(linear, "query { viewer { id } }", auth="")
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["extensions"]["type"] == "authentication error"


def test_a_document_that_does_not_validate_gets_an_errors_array_and_no_data(linear: FakeLinear) -> None:
    answer = post(linear, 'mutation { commentCreate(input: {body: "x"}) { success nope } }')
    assert answer.status_code == 400
    body = answer.json()
    assert "data" not in body
    assert body["errors"][0]["message"] == "Cannot query field 'nope' on type 'CommentPayload'."
    assert body["errors"][0]["extensions"]["type"] == "graphql error"


def test_a_document_that_does_not_parse_gets_an_errors_array(linear: FakeLinear) -> None:
    answer = post(linear, "mutation { commentCreate(")
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["message"].startswith("Syntax Error")


def test_ratelimited_answers_carry_linears_error_type_and_reset_header(linear: FakeLinear) -> None:
    linear.ratelimit(1, retry_after_s=2)
    first, second = post(linear, "query { viewer { id } }"), post(linear, "query { viewer { id } }")
    assert first.json()["errors"][0]["extensions"]["type"] == "ratelimited"
    assert first.headers["retry-after"] == "2" and "x-ratelimit-requests-reset" in first.headers
    assert second.status_code == 200 and second.json()["data"]["viewer"]["id"]


def test_team_states_can_be_filtered_by_type_as_linear_documents(linear: FakeLinear) -> None:
    team = linear.workspace.add_team("ENG")
    query = 'query ($id: String!) { team(id: $id) { states(filter: {type: {eq: "started"}}) { nodes { name } } } }'
    nodes = post(linear, query, {"id": team.id}).json()["data"]["team"]["states"]["nodes"]
    assert [n["name"] for n in nodes] == ["In Progress", "In Review"]


def test_a_comment_with_a_client_chosen_id_cannot_be_created_twice(linear: FakeLinear) -> None:
    issue = linear.workspace.add_issue(linear.workspace.add_team("ENG"), "t")
    mutation = "mutation ($input: CommentCreateInput!) { commentCreate(input: $input) { comment { id } } }"
    variables = {"input": {"id": "0b7f8a52-1111-4c3e-9a55-2f0e3f1d9c01", "issueId": issue.id, "body": "hi"}}
    first, second = post(linear, mutation, variables), post(linear, mutation, variables)
    assert first.json()["data"]["commentCreate"]["comment"]["id"] == variables["input"]["id"]
    assert second.json()["errors"][0]["extensions"]["type"] == "invalid input"
    assert len(linear.workspace.comments) == 1


def test_linking_the_same_url_twice_keeps_one_attachment(linear: FakeLinear) -> None:
    issue = linear.workspace.add_issue(linear.workspace.add_team("ENG"), "t")
    mutation = "mutation ($i: String!, $u: String!) { attachmentLinkURL(issueId: $i, url: $u) { success } }"
    for _ in range(2):
        post(linear, mutation, {"i": issue.identifier, "u": "https://forge.example/pr/1"})
    assert len(linear.workspace.attachments) == 1


def test_a_non_github_url_is_refused_as_a_github_pr_link(linear: FakeLinear) -> None:
    issue = linear.workspace.add_issue(linear.workspace.add_team("ENG"), "t")
    mutation = "mutation ($i: String!, $u: String!) { attachmentLinkGitHubPR(issueId: $i, url: $u) { success } }"
    answer = post(linear, mutation, {"i": issue.id, "u": "https://forge.example/pr/1"})
    assert answer.json()["errors"][0]["extensions"]["type"] == "invalid input"
    assert linear.workspace.attachments == {}


def test_an_activity_without_the_fields_its_type_needs_is_refused(linear: FakeLinear) -> None:
    ws = linear.workspace
    session = ws.add_session(ws.add_issue(ws.add_team("ENG"), "t"), None)
    mutation = "mutation ($input: AgentActivityCreateInput!) { agentActivityCreate(input: $input) { success } }"
    answer = post(linear, mutation, {"input": {"agentSessionId": session.id, "content": {"type": "action"}}})
    assert "content.action is required" in answer.json()["errors"][0]["message"]
    assert ws.activities == {}


def test_every_request_is_recorded_in_order_with_its_operation_name(linear: FakeLinear) -> None:
    post(linear, "query First { viewer { id } }")
    post(linear, "query Second { viewer { nope } }")
    assert [(c.operation, c.status) for c in linear.calls] == [("First", 200), ("Second", 400)]
