"""The scripted model server speaks the wire subsets of agent-clis.md §3 over real HTTP: turns
chosen from the request itself, SSE event order per protocol, errors in each protocol's shape."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.model_server import ModelServer, patch, text, tool


@pytest.fixture
def server() -> Iterator[ModelServer]:
    fake = ModelServer([[tool("Write", file_path="/w/a.txt", content="a")], [text("done")]]).start()
    yield fake
    fake.stop()


def sse(response: httpx.Response) -> list[dict[str, object]]:
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]


def test_anthropic_turn_follows_the_assistant_messages_already_in_the_request(server: ModelServer) -> None:
    body = {"model": "m", "tools": [{"name": "Write"}], "messages": [{"role": "user", "content": "go"}]}
    first = sse(httpx.post(f"{server.url}/v1/messages?beta=true", json=body))
    assert [e["type"] for e in first] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    block = first[1]["content_block"]
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "Write", {})
    body["messages"] += [{"role": "assistant", "content": []}, {"role": "user", "content": []}]
    second = sse(httpx.post(f"{server.url}/v1/messages", json=body))
    assert second[2]["delta"] == {"type": "text_delta", "text": "done"}
    assert second[4]["delta"]["stop_reason"] == "end_turn"


def test_a_request_without_tools_is_a_side_query_with_a_short_reply(server: ModelServer) -> None:
    events = sse(httpx.post(f"{server.url}/v1/messages", json={"model": "m", "messages": []}))
    assert events[2]["delta"]["text"] == "Baton scripted reply."


def test_responses_turn_skips_the_calls_already_answered() -> None:
    fake = ModelServer([[patch("*** Begin Patch\n*** End Patch\n"), tool("exec_command", cmd="ls")], [text("ok")]])
    fake.start()
    try:
        first = sse(httpx.post(f"{fake.url}/v1/responses", json={"input": []}))
        assert [e["item"]["type"] for e in first if e["type"] == "response.output_item.done"] == [
            "custom_tool_call",
            "function_call",
        ]
        answered = [{"type": "custom_tool_call"}, {"type": "function_call"}, {"type": "function_call_output"}]
        second = sse(httpx.post(f"{fake.url}/v1/responses", json={"input": answered}))
        assert second[-1]["response"]["usage"]["input_tokens"] == 100
        assert [e["type"] for e in second][1:3] == ["response.output_item.added", "response.output_text.delta"]
    finally:
        fake.stop()


def test_chat_completions_counts_requests_and_streams_when_asked() -> None:
    fake = ModelServer([[text("first")], [text("second")]]).start()
    try:
        plain = httpx.post(f"{fake.url}/v1/chat/completions", json={"model": "m", "messages": []}).json()
        assert plain["choices"][0]["message"]["content"] == "first"
        streamed = httpx.post(f"{fake.url}/v1/chat/completions", json={"stream": True, "messages": []})
        assert streamed.text.rstrip().endswith("data: [DONE]")
        assert sse(streamed)[0]["choices"][0]["delta"]["content"] == "second"
    finally:
        fake.stop()


def test_a_failing_server_answers_every_post_with_the_protocols_error_shape() -> None:
    fake = ModelServer([], fail_status=500).start()
    try:
        anthropic = httpx.post(f"{fake.url}/v1/messages", json={})
        openai = httpx.post(f"{fake.url}/v1/responses", json={})
        assert (anthropic.status_code, anthropic.json()["type"]) == (500, "error")
        assert (openai.status_code, openai.json()["error"]["message"]) == (500, "scripted 500")
        assert len(fake.posts("/messages")) == 1 and len(fake.posts("/responses")) == 1
    finally:
        fake.stop()


def test_api_keys_are_not_logged(server: ModelServer) -> None:
    httpx.post(f"{server.url}/v1/messages", json={}, headers={"x-api-key": "sk-1", "authorization": "Bearer sk-2"})
    (logged,) = server.requests
    assert not {"x-api-key", "authorization"} & {k.lower() for k in logged.headers}
