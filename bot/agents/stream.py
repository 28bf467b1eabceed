"""What an agent CLI's output stream tells us, in one shape for every CLI.

Each adapter has a parser that reads its CLI's output one line at a time (`feed`) and keeps a
`StreamState`: the session id, the texts it said, tokens and cost so far, files touched, tools
called, permission denials, API retries, and the verdict of its final event. While it reads, the
parser reports progress (tool calls, files touched, tokens so far) through `Progress`, which the
engine turns into live RunEvents. Pure code over strings: the recorded streams in the tests drive
these parsers exactly as a running CLI does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.domain.ports import ProgressSink

DETAIL_CHARS = 160


@dataclass
class StreamState:
    session_id: str | None = None
    texts: list[str] = field(default_factory=list)
    final_text: str | None = None
    finished: bool = False
    """A terminal event (Claude/Cursor `result`, Codex `turn.*`, opencode's last step) was seen."""
    is_error: bool = False
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    """The cost the CLI itself reported; None when it reports none (then the price table prices tokens)."""
    files: list[str] = field(default_factory=list)
    tool_calls: int = 0
    denials: list[str] = field(default_factory=list)
    retries: int = 0
    last_retry_error: str | None = None

    @property
    def summary(self) -> str:
        """What the agent said last: its final result text, else its last message."""
        if self.final_text:
            return self.final_text
        return self.texts[-1] if self.texts else ""


def short(value: object, limit: int = DETAIL_CHARS) -> str:
    """One line for people: whitespace collapsed, cut to `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse_json_line(line: str) -> dict[str, Any] | None:
    """The JSON object on this line, or None (a CLI may print plain warnings among its events)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class Progress:
    """Records facts in the state and reports each as a progress callback, once."""

    def __init__(self, state: StreamState, sink: ProgressSink, root: Path | None = None) -> None:
        self.state = state
        self._sink = sink
        self._root = str(root).rstrip("/") + "/" if root is not None else None

    def tool(self, name: str, detail: object = "") -> None:
        self.state.tool_calls += 1
        self._sink("tool", {"tool": name, "detail": short(detail)})

    def file(self, path: str) -> None:
        """A file the agent wrote, relative to its working directory when it lies inside it."""
        if self._root and path.startswith(self._root):
            path = path[len(self._root) :]
        if path and path not in self.state.files:
            self.state.files.append(path)
            self._sink("files", {"files": list(self.state.files)})

    def text(self, text: str) -> None:
        if text.strip():
            self.state.texts.append(text.strip())
            self._sink("text", {"text": short(text)})

    def tokens(self, tokens_in: int, tokens_out: int, cost_usd: float | None = None) -> None:
        """Add a turn's tokens (and the CLI's own cost for it, when it gives one)."""
        state = self.state
        state.tokens_in += tokens_in
        state.tokens_out += tokens_out
        if cost_usd is not None:
            state.cost_usd = round((state.cost_usd or 0.0) + cost_usd, 6)
        self.usage()

    def set_totals(self, tokens_in: int, tokens_out: int, cost_usd: float | None) -> None:
        """The CLI's own totals for the whole run replace what was added up so far."""
        state = self.state
        state.tokens_in, state.tokens_out = tokens_in, tokens_out
        if cost_usd is not None:
            state.cost_usd = cost_usd
        self.usage()

    def usage(self) -> None:
        state = self.state
        self._sink("usage", {"tokens_in": state.tokens_in, "tokens_out": state.tokens_out, "cost_usd": state.cost_usd})

    def denied(self, what: str) -> None:
        self.state.denials.append(what)
        self._sink("permission_denied", {"what": short(what)})

    def retry(self, attempt: int, error: str) -> None:
        self.state.retries = max(self.state.retries + 1, attempt)
        self.state.last_retry_error = error
        self._sink("api_retry", {"attempt": attempt, "error": short(error)})


class StreamParser:
    """Base for the per-CLI parsers: `feed` every output line, read `state` at the end."""

    def __init__(self, sink: ProgressSink, root: Path | None = None) -> None:
        self.state = StreamState()
        self.progress = Progress(self.state, sink, root)

    def feed(self, line: str) -> None:
        raise NotImplementedError


def cost_from_tokens(tokens_in: int, tokens_out: int, usd_per_million: tuple[float, float]) -> float:
    """Tokens priced with the agent's `usd_per_million_tokens` ([input, output])."""
    return round((tokens_in * usd_per_million[0] + tokens_out * usd_per_million[1]) / 1_000_000, 6)
