"""From a Trigger to a RunSpec: read the inline options of a request and derive the run id.

Every source (Slack mention, GitHub comment, Linear issue, the CLI) goes through here, so a
request means the same thing wherever it was made: `repo=a,b`, `agent=`, `playbook=`,
`budget=$5`, `discover=PATTERN` (quoted when it has spaces: `discover="fetch\\(.v1/items"`) anywhere in
the requester's own words; the rest is the request. Text quoted from an
issue or a description (the blocks `bot.domain.untrusted.compose` adds after the words) is never read for
options: an issue cannot choose its agent, budget, playbook or repos.
"""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, Field

from bot.config.models import BatonFile
from bot.domain.models import Budget, RunSpec, Trigger
from bot.domain.untrusted import split_request
from bot.engine.budget import parse_usd

_OPTION = re.compile(
    r"(?:^|\s)(repo|repos|agent|playbook|budget|discover)=(\"[^\"\n]*\"|'[^'\n]*'|\u201c[^\u201d\n]*\u201d|\S+)",
    re.IGNORECASE,
)
_QUOTES = {'"': '"', "'": "'", "\u201c": "\u201d"}


class RequestError(ValueError):
    """A request whose options cannot be understood; the message says which and why."""


class ParsedRequest(BaseModel):
    text: str
    repos: list[str] = Field(default_factory=list)
    agent: str | None = None
    playbook: str | None = None
    budget_usd: float | None = None
    discover: str | None = None


def _unquoted(value: str) -> str | None:
    """The text inside a quoted option value; None when it is not quoted."""
    close = _QUOTES.get(value[:1])
    if close is not None and len(value) >= 2 and value.endswith(close):
        return value[1:-1]
    return None


def parse_request(text: str) -> ParsedRequest:
    parsed = ParsedRequest(text="")
    for match in _OPTION.finditer(text):
        key, raw = match.group(1).lower(), match.group(2).strip()
        quoted = _unquoted(raw)
        if key == "discover":  # a regex: its punctuation is its own
            if quoted == "" or not raw:
                raise RequestError('discover= needs a pattern, e.g. discover="/v1/items"')
            parsed.discover = quoted if quoted is not None else raw
            continue
        value = quoted if quoted is not None else raw.rstrip(".,;")
        if key in ("repo", "repos"):
            parsed.repos += [r for r in value.split(",") if r]
        elif key == "agent":
            parsed.agent = value
        elif key == "playbook":
            parsed.playbook = value
        else:
            try:
                parsed.budget_usd = parse_usd(value)
            except ValueError as err:
                raise RequestError(str(err)) from None
    # Spaces collapse within a line; the lines themselves stay (issue bodies, multi-line asks).
    kept = (" ".join(line.split()) for line in _OPTION.sub(" ", text).splitlines())
    parsed.text = "\n".join(line for line in kept if line)
    return parsed


def without_options(text: str) -> str:
    """`text` with every option-shaped word removed (a headline made of untrusted text)."""
    return " ".join(_OPTION.sub(" ", text).split())


def asks_discovery(words: str, config: BatonFile) -> bool:
    """Whether a requester's own words ask the run to find its repos (`discover=`, or a playbook
    with `discover:`): then a source's default repos (a channel's, an issue's, a team's) do not apply."""
    try:
        parsed = parse_request(words)
    except RequestError:
        return False  # building the spec says what is wrong
    book = config.playbooks.get(parsed.playbook or "default")
    return bool(parsed.discover or (book is not None and book.discover))


def discovers(spec: RunSpec, config: BatonFile) -> bool:
    """Whether the run finds its repos by a search (its own pattern or its playbook's)."""
    book = config.playbooks.get(spec.playbook)
    return bool(spec.discover or (book is not None and book.discover))


def reach(spec: RunSpec, config: BatonFile) -> list[str]:
    """Every repo the run may touch: its named repos, or every configured repo when it discovers
    (a source's widening rules check these, before anyone knows what the search finds)."""
    return [r.name for r in config.repos] if discovers(spec, config) else spec.repos


def run_id_for(trigger: Trigger) -> str:
    """Stable per delivery: a redelivered webhook maps to the run it already started."""
    digest = hashlib.sha256(f"{trigger.source.value}:{trigger.delivery_id}".encode()).hexdigest()
    return f"r{digest[:11]}"


def build_spec(
    trigger: Trigger,
    config: BatonFile,
    *,
    repos: list[str] | None = None,
    agent: str | None = None,
    playbook: str | None = None,
    budget_usd: float | None = None,
    discover: str | None = None,
) -> RunSpec:
    """The RunSpec for a trigger: explicit arguments win over options written in the request's own
    words; the blocks it quotes are kept as they are and never read for options."""
    own, quoted = split_request(trigger.request)
    parsed = parse_request(own)
    text = "\n\n".join(part for part in (parsed.text or own.strip(), quoted) if part)
    request = trigger.model_copy(update={"request": text or trigger.request})
    name = playbook or parsed.playbook or "default"
    book = config.playbooks.get(name)
    # A playbook can bring repos of its own (e.g. "api-change" always includes the SDK repo).
    chosen = [*(repos or parsed.repos), *(book.repos if book else [])]
    usd = budget_usd if budget_usd is not None else parsed.budget_usd
    budget = config.budget.merged_with(Budget(max_usd=usd))
    return RunSpec(
        run_id=run_id_for(trigger),
        trigger=request,
        repos=list(dict.fromkeys(chosen)),
        playbook=name,
        agent=agent or parsed.agent,
        budget=budget,
        discover=discover or parsed.discover,
    )
