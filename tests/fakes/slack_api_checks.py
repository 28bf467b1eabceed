"""What the Slack stand-in checks a Web API call against: each method's required parameters (from
Slack's OpenAPI description in the fixtures) and Block Kit as Slack validates it (`slack_sdk.models`:
unknown types and keys, texts over their limits, more than 50 blocks in a message or 100 in a view)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

FIXTURES = Path("/work/shared/fixtures/slack")
OPENAPI = FIXTURES / "slack-api-specs" / "web-api" / "slack_web_openapi_v2.json"
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 40_000


def required_params(spec_path: Path = OPENAPI) -> dict[str, set[str]]:
    """Method name → the parameters Slack's OpenAPI description marks required (token aside)."""
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for path, verbs in spec["paths"].items():
        for op in verbs.values():
            names = {p["name"] for p in op.get("parameters", []) if p.get("required") and p["name"] != "token"}
            found[path.lstrip("/")] = found.get(path.lstrip("/"), set()) | names
    return found


class BlockError(ValueError):
    pass


def validate_blocks(blocks: Any, limit: int = MAX_MESSAGE_BLOCKS) -> None:
    """Refuse what Slack refuses: not a list, too many, an unknown type or key, a text over its limit."""
    if not isinstance(blocks, list):
        raise BlockError("blocks must be an array")
    if len(blocks) > limit:
        raise BlockError(f"no more than {limit} items allowed")
    for i, raw in enumerate(blocks):
        parsed = Block.parse(raw) if isinstance(raw, dict) else None
        if parsed is None:
            raise BlockError(f"unsupported type at /blocks/{i}")
        try:
            parsed.validate_json()
        except SlackObjectFormationError as err:
            raise BlockError(f"{err} at /blocks/{i}") from None
        if parsed.to_dict() != raw:
            raise BlockError(f"unknown or malformed field at /blocks/{i}")


def decode_json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Form-encoded calls carry `blocks` and `view` as JSON strings; JSON calls carry them as values."""
    decoded = dict(params)
    for name in ("blocks", "view", "attachments"):
        value = decoded.get(name)
        if isinstance(value, str):
            try:
                decoded[name] = json.loads(value)
            except ValueError:
                raise BlockError(f"{name} is not valid JSON") from None
    return decoded
