"""A scripted model server on 127.0.0.1: the wire subsets the agent CLIs speak (agent-clis.md §3).

- Anthropic Messages (Claude Code, opencode's anthropic provider): `HEAD /`, `POST …/messages`
  (SSE: message_start, content_block_start/delta/stop, message_delta, message_stop),
  `POST …/messages/count_tokens`.
- OpenAI Responses (Codex): `POST …/responses` (SSE: response.created, output items, response.completed).
- OpenAI Chat Completions (Aider): `POST …/chat/completions`, JSON or SSE chunks + `[DONE]`.

A scenario is a list of turns, each a list of blocks (`text`, `tool`, `patch`). The turn to
answer is chosen from the request itself where the protocol allows (Anthropic: assistant messages
so far; Responses: output items already in `input`), so retries and resumes stay deterministic;
Chat Completions counts requests. Past the last turn, or for a request without tools (a side
query), the answer is a short text. `fail_status` makes every POST answer that HTTP error in the
protocol's own error shape. Every request is logged (headers without keys) for assertions.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET_HEADERS = {"authorization", "x-api-key"}


@dataclass
class Block:
    kind: str  # text | tool | patch
    text: str = ""
    name: str = ""
    input: dict[str, Any] = field(default_factory=dict)


def text(value: str) -> Block:
    return Block("text", text=value)


def tool(name: str, **arguments: Any) -> Block:
    """A tool call: Anthropic `tool_use`, Responses `function_call`."""
    return Block("tool", name=name, input=arguments)


def patch(body: str) -> Block:
    """Codex's freeform `apply_patch` call (a Responses `custom_tool_call`)."""
    return Block("patch", text=body)


Turn = list[Block]


@dataclass
class Logged:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class ModelServer:
    """Start with `start()` (port 0: a fresh port), stop with `stop()`; `url` is its base."""

    def __init__(
        self,
        turns: list[Turn],
        *,
        fail_status: int | None = None,
        tokens: tuple[int, int] = (100, 20),
        final_text: str = "Done.",
    ) -> None:
        self.turns = turns
        self.fail_status = fail_status
        self.tokens = tokens
        self.final_text = final_text
        self.requests: list[Logged] = []
        self._lock = threading.Lock()
        self._chat_count = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> ModelServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what the tests read -----------------------------------------------------------------------
    def posts(self, suffix: str) -> list[Logged]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0].endswith(suffix)]

    def tool_results(self) -> list[str]:
        """Every tool result the CLI sent back to the model, as text (Anthropic, Responses)."""
        found: list[str] = []
        with self._lock:
            bodies = [r.body for r in self.requests]
        for body in bodies:
            for message in body.get("messages") or []:
                content = message.get("content")
                for block in content if isinstance(content, list) else []:
                    if isinstance(block, dict) and block.get("type") == "tool_result":
                        found.append(json.dumps(block.get("content")))
            for item in body.get("input") or []:
                if isinstance(item, dict) and item.get("type") in ("function_call_output", "custom_tool_call_output"):
                    found.append(json.dumps(item.get("output")))
        return found

    # -- answering ---------------------------------------------------------------------------------
    def log(self, path: str, headers: dict[str, str], body: dict[str, Any]) -> None:
        shown = {k: v for k, v in headers.items() if k.lower() not in SECRET_HEADERS}
        with self._lock:
            self.requests.append(Logged(path=path, headers=shown, body=body))

    def anthropic_turn(self, body: dict[str, Any]) -> Turn:
        if not body.get("tools"):
            return [text("Baton scripted reply.")]
        done = sum(1 for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "assistant")
        return self.turns[done] if done < len(self.turns) else [text(self.final_text)]

    def responses_turn(self, body: dict[str, Any]) -> Turn:
        kinds = {"function_call", "custom_tool_call"}
        seen = 0
        for item in body.get("input") or []:
            if not isinstance(item, dict):
                continue
            if item.get("type") in kinds or (item.get("type") == "message" and item.get("role") == "assistant"):
                seen += 1
        consumed = 0
        for turn in self.turns:
            if seen < consumed + len(turn):
                return turn
            consumed += len(turn)
        return [text(self.final_text)]

    def chat_turn(self) -> Turn:
        with self._lock:
            index = self._chat_count
            self._chat_count += 1
        return self.turns[index] if index < len(self.turns) else [text(self.final_text)]


def _fresh(prefix: str) -> str:
    """A new id per answer: CLIs match tool results to calls (and merge messages) by id."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def _sse(event: str | None, data: dict[str, Any]) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def anthropic_events(turn: Turn, model: str, tokens: tuple[int, int]) -> Iterator[bytes]:
    message = {
        "id": f"msg_{uuid.uuid4().hex[:20]}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
    }
    message |= {"stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": tokens[0], "output_tokens": 1}}
    yield _sse("message_start", {"type": "message_start", "message": message})
    uses_tools = False
    for index, block in enumerate(turn):
        if block.kind == "tool":
            uses_tools = True
            start = {"type": "tool_use", "id": _fresh("toolu"), "name": block.name, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block.input)}
        else:
            start, delta = {"type": "text", "text": ""}, {"type": "text_delta", "text": block.text}
        yield _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})
        yield _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        yield _sse("content_block_stop", {"type": "content_block_stop", "index": index})
    stop = "tool_use" if uses_tools else "end_turn"
    final = {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None}}
    yield _sse("message_delta", final | {"usage": {"output_tokens": tokens[1]}})
    yield _sse("message_stop", {"type": "message_stop"})


def responses_events(turn: Turn, tokens: tuple[int, int]) -> Iterator[bytes]:
    yield _sse(None, {"type": "response.created", "response": {"id": "resp_baton", "status": "in_progress"}})
    for index, block in enumerate(turn):
        if block.kind == "patch":
            item = {"type": "custom_tool_call", "id": f"ctc_{index}", "status": "completed"}
            item |= {"call_id": _fresh("call"), "name": "apply_patch", "input": block.text}
        elif block.kind == "tool":
            item = {"type": "function_call", "id": f"fc_{index}", "status": "completed", "call_id": _fresh("call")}
            item |= {"name": block.name, "arguments": json.dumps(block.input)}
        else:
            added = {
                "type": "message",
                "id": f"msg_{index}",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }
            yield _sse(None, {"type": "response.output_item.added", "output_index": index, "item": added})
            delta = {"type": "response.output_text.delta", "item_id": f"msg_{index}", "output_index": index}
            yield _sse(None, delta | {"content_index": 0, "delta": block.text})
            content = [{"type": "output_text", "text": block.text, "annotations": []}]
            item = {
                "type": "message",
                "id": f"msg_{index}",
                "role": "assistant",
                "status": "completed",
                "content": content,
            }
        yield _sse(None, {"type": "response.output_item.done", "output_index": index, "item": item})
    usage = {
        "input_tokens": tokens[0],
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": tokens[1],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": sum(tokens),
    }
    done = {"id": "resp_baton", "status": "completed", "output": [], "usage": usage}
    yield _sse(None, {"type": "response.completed", "response": done})


def chat_body(turn: Turn, model: str, tokens: tuple[int, int]) -> dict[str, Any]:
    content = "".join(b.text for b in turn if b.kind == "text")
    usage = {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "total_tokens": sum(tokens)}
    choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    return {"id": "chatcmpl-baton", "object": "chat.completion", "created": 0, "model": model, "choices": [choice]} | {
        "usage": usage
    }


def chat_chunks(turn: Turn, model: str, tokens: tuple[int, int]) -> Iterator[bytes]:
    body = chat_body(turn, model, tokens)
    base = {"id": body["id"], "object": "chat.completion.chunk", "created": 0, "model": model}
    content = body["choices"][0]["message"]["content"]
    yield _sse(None, base | {"choices": [{"index": 0, "delta": {"role": "assistant", "content": content}}]})
    yield _sse(None, base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": body["usage"]})
    yield b"data: [DONE]\n\n"


def _error_body(path: str, status: int) -> dict[str, Any]:
    message = f"scripted {status}"
    if path.endswith("/messages"):
        return {"type": "error", "error": {"type": "api_error", "message": message}}
    return {"error": {"message": message, "type": "server_error", "code": None}}


def _handler(fake: ModelServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_HEAD(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self._json(200, {"data": [], "object": "list"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            path = self.path.split("?")[0].rstrip("/")
            fake.log(self.path, dict(self.headers.items()), body if isinstance(body, dict) else {})
            if fake.fail_status is not None:
                self._json(fake.fail_status, _error_body(path, fake.fail_status))
                return
            model = str(body.get("model") or "fake-model")
            if path.endswith("/count_tokens"):
                self._json(200, {"input_tokens": fake.tokens[0]})
            elif path.endswith("/messages"):
                self._stream(anthropic_events(fake.anthropic_turn(body), model, fake.tokens))
            elif path.endswith("/responses"):
                self._stream(responses_events(fake.responses_turn(body), fake.tokens))
            elif path.endswith("/chat/completions"):
                turn = fake.chat_turn()
                if body.get("stream"):
                    self._stream(chat_chunks(turn, model, fake.tokens))
                else:
                    self._json(200, chat_body(turn, model, fake.tokens))
            else:
                self._json(404, {"error": {"message": f"no route {path}", "type": "not_found"}})

        def _json(self, status: int, data: dict[str, Any]) -> None:
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _stream(self, chunks: Iterator[bytes]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in chunks:
                self.wfile.write(chunk)
                self.wfile.flush()
            self.close_connection = True

    return Handler
