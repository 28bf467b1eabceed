"""The Slack stand-ins are only useful if they are as strict as Slack: these tests pin that down."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes import slack_events
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_api_checks import required_params
from tests.fakes.slack_events import JAVA, sign

TOKEN = "xoxb-fake-test"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(TOKEN) as fake:
        yield fake


def client(fake: FakeSlack, token: str = TOKEN, **options: Any) -> WebClient:
    return WebClient(token=token, base_url=fake.api_url, **options)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_signer_matches_slacks_published_test_vector() -> None:
    vector = json.loads((slack_events.FIXTURES / "signature-test-vector.json").read_text())
    signature = sign(vector["signing_secret"], vector["x_slack_request_timestamp"], vector["raw_body"].encode())
    assert signature == vector["x_slack_signature"]


def test_required_parameters_come_from_slacks_openapi_description() -> None:
    required = required_params()
    assert required["chat.update"] == {"channel", "ts"}
    assert required["chat.postEphemeral"] == {"channel", "user"}
    assert required["usergroups.users.list"] == {"usergroup"}


def test_a_wrong_bot_token_is_refused_as_invalid_auth(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack, token="xoxb-someone-else").chat_postMessage(channel="C1", text="hi")
    assert err.value.response["error"] == "invalid_auth"


def test_a_call_without_token_is_refused_as_not_authed(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        WebClient(base_url=slack.api_url).api_call("chat.postMessage", params={"channel": "C1", "text": "hi"})
    assert err.value.response["error"] == "not_authed"


def test_a_missing_required_parameter_is_named_in_the_refusal(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack).api_call("chat.update", json={"channel": "C1", "text": "no ts"})
    assert err.value.response["error"] == "invalid_arguments"
    assert err.value.response["response_metadata"]["messages"] == ["[ERROR] missing required field: ts"]


def test_more_than_fifty_blocks_are_refused(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack).chat_postMessage(channel="C1", text="t", blocks=[section("x")] * 51)
    assert err.value.response["error"] == "invalid_blocks"


def test_section_text_over_3000_characters_is_refused(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack).chat_postMessage(channel="C1", text="t", blocks=[section("x" * 3001)])
    assert err.value.response["error"] == "invalid_blocks"


def test_a_block_with_an_unknown_field_is_refused(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack).chat_postMessage(channel="C1", text="t", blocks=[{**section("x"), "colour": "red"}])
    assert err.value.response["error"] == "invalid_blocks"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
def test_a_message_without_text_or_blocks_is_refused(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack).chat_postMessage(channel="C1")
    assert err.value.response["error"] == "no_text"


def test_updating_a_message_that_was_never_posted_is_refused(slack: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as err:
        client(slack).chat_update(channel="C1", ts="1.000100", text="x")
    assert err.value.response["error"] == "message_not_found"


def test_an_update_replaces_the_posted_message_in_place(slack: FakeSlack) -> None:
    posted = client(slack).chat_postMessage(channel="C1", text="first", thread_ts="1.2", blocks=[section("a")])
    client(slack).chat_update(channel="C1", ts=posted["ts"], text="second", blocks=[section("b")])
    [message] = slack.thread("C1", "1.2")
    assert (message["text"], message["blocks"]) == ("second", [section("b")])


def test_a_rate_limited_call_answers_429_with_retry_after_and_the_retry_succeeds(slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", times=1, retry_after=0)
    web = client(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=2)])
    web.chat_postMessage(channel="C1", text="hello")
    calls = slack.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert calls[0].response == {"ok": False, "error": "ratelimited"}


def test_every_call_is_recorded_in_order_with_decoded_blocks(slack: FakeSlack) -> None:
    web = client(slack)
    web.auth_test()
    web.chat_postMessage(channel="C1", text="t", blocks=[section("a")])
    web.reactions_add(channel="C1", timestamp="1.1", name="eyes")
    assert [c.method for c in slack.calls] == ["auth.test", "chat.postMessage", "reactions.add"]
    assert slack.calls[1].params["blocks"] == [section("a")]


def test_a_home_view_is_validated_and_published(slack: FakeSlack) -> None:
    client(slack).views_publish(user_id="U1", view={"type": "home", "blocks": [section("hi")]})
    with pytest.raises(SlackApiError) as err:
        client(slack).views_publish(user_id="U1", view={"type": "home", "blocks": [section("x" * 3001)]})
    assert err.value.response["error"] == "invalid_blocks"


def test_usergroup_members_are_listed_and_an_unknown_group_refused(slack: FakeSlack) -> None:
    slack.add_usergroup("S1", ["U1", "U2"])
    assert client(slack).usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as err:
        client(slack).usergroups_users_list(usergroup="S404")
    assert err.value.response["error"] == "no_such_subteam"


def _keys(value: Any, prefix: str = "") -> set[str]:
    if isinstance(value, dict):
        found = set()
        for k, v in value.items():
            found.add(prefix + k)
            found |= _keys(v, prefix + k + ".")
        return found
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return _keys(value[0], prefix)
    return set()


def test_event_payloads_use_only_key_names_of_slacks_samples() -> None:
    mention_sample = json.loads((JAVA / "events" / "AppMentionPayload.json").read_text())
    reaction_sample = json.loads((JAVA / "events" / "ReactionAddedPayload.json").read_text())
    mention = slack_events.event_callback(slack_events.app_mention("U1", "<@U0BATON> hi", thread_ts="1.1"))
    reaction = slack_events.event_callback(slack_events.reaction_added("U1", "x", "C1", "1.1"))
    assert _keys(mention) <= _keys(mention_sample)
    assert _keys(reaction) <= _keys(reaction_sample)


def test_block_action_payloads_use_only_key_names_of_slacks_sample() -> None:
    sample = json.loads((JAVA / "interactive-components" / "BlockActionPayload.json").read_text())
    payload = slack_events.block_actions("U1", "C1", "1.1", "baton_approve", "v", "http://x/r", thread_ts="1.0")
    assert _keys(payload) <= _keys(sample)
