"""The Linear client against the Linear stand-in: how it authenticates, what it refuses to send,
how it rides out rate limits, and what its errors say (never the token)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.services.linear import documents as docs
from bot.services.linear.client import (
    LinearClient,
    LinearError,
    LinearRateLimited,
    authorization_header,
    published_schema,
)
from tests.fakes.linear_api import FakeLinear

KEY = "lin_api_unit_key"


@pytest.fixture
def linear() -> Iterator[FakeLinear]:
    with FakeLinear(api_key=KEY, oauth_token="lin_oauth_unit_token") as fake:
        yield fake


def client(fake: FakeLinear, token: str = KEY, **options: float) -> LinearClient:
    defaults: dict[str, float] = {"backoff_s": 0.001, "retries": 3}
    return LinearClient(fake.url, token, schema=published_schema(), **(defaults | options))  # type: ignore[arg-type]


def test_a_personal_api_key_is_sent_as_is(linear: FakeLinear) -> None:
    client(linear).execute(docs.VIEWER)
    assert [c.authorization for c in linear.calls] == [KEY]


def test_an_oauth_token_is_sent_as_a_bearer_token(linear: FakeLinear) -> None:
    client(linear, token="lin_oauth_unit_token").execute(docs.VIEWER)
    assert [c.authorization for c in linear.calls] == ["Bearer lin_oauth_unit_token"]


def test_an_explicit_bearer_value_is_not_prefixed_twice() -> None:
    assert authorization_header("Bearer abc") == "Bearer abc"


def test_a_rejected_token_raises_an_authentication_error_that_does_not_contain_it(linear: FakeLinear) -> None:
    secret = "lin_api_not_the_right_one_5f3a"
    with pytest.raises(LinearError) as err:
        client(linear, token=secret).execute(docs.VIEWER)
    assert err.value.kind == "authentication error"
    assert secret not in str(err.value) and secret not in repr(err.value)


def test_a_document_invalid_against_the_schema_is_never_sent(linear: FakeLinear) -> None:
    with pytest.raises(LinearError) as err:
        client(linear).execute("query Nope { viewer { nope } }")
    assert err.value.kind == "invalid document"
    assert linear.calls == []


def test_variables_with_an_unknown_input_field_are_never_sent(linear: FakeLinear) -> None:
    variables = {"input": {"issueId": "x", "body": "hi", "colour": "red"}}
    with pytest.raises(LinearError, match="unknown field 'colour'"):
        client(linear).execute(docs.COMMENT_CREATE, variables)
    assert linear.calls == []


def test_ratelimited_answers_are_retried_until_linear_answers(linear: FakeLinear) -> None:
    linear.ratelimit(2)
    data = client(linear).execute(docs.VIEWER)
    assert data["viewer"]["name"] == "Baton"
    assert [c.error_type for c in linear.calls] == ["ratelimited", "ratelimited", None]


def test_retries_stop_after_the_configured_number_and_raise_ratelimited(linear: FakeLinear) -> None:
    linear.ratelimit(10)
    with pytest.raises(LinearRateLimited):
        client(linear, retries=2).execute(docs.VIEWER)
    assert len(linear.calls) == 3


def test_a_retry_that_would_pass_the_deadline_is_not_attempted(linear: FakeLinear) -> None:
    linear.ratelimit(1, retry_after_s=30)
    with pytest.raises(LinearRateLimited) as err:
        client(linear).execute(docs.VIEWER, deadline_s=2)
    assert err.value.retry_after_s is not None and err.value.retry_after_s >= 29
    assert len(linear.calls) == 1


def test_an_id_that_names_nothing_is_reported_as_not_found(linear: FakeLinear) -> None:
    missing = "7d1c3e4b-0000-4000-8000-000000000000"
    with pytest.raises(LinearError) as err:
        client(linear).execute(docs.COMMENT_UPDATE, {"id": missing, "input": {"body": "x"}})
    assert err.value.not_found
    assert str(err.value) == "Could not find referenced Comment."


def test_other_refusals_are_not_mistaken_for_not_found(linear: FakeLinear) -> None:
    team = linear.workspace.add_team("ENG")
    issue = linear.workspace.add_issue(team, "t")
    with pytest.raises(LinearError) as err:
        client(linear).execute(docs.ISSUE_SET_STATE, {"id": issue.id, "stateId": "not-a-state"})
    assert err.value.kind == "invalid input" and not err.value.not_found
