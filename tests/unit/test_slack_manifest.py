"""`manifest.yml` is a valid Slack app manifest, and it asks for exactly what the code uses: every
event, command and scope the Slack code needs is there, and nothing it does not need.

What the code uses is read from the code itself: the bolt listeners' decorators and the Web API
methods called on a client (each mapped to its Slack method name through slack_sdk's own source);
the scope each method and event needs comes from Slack's API descriptions in the fixtures.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from slack_sdk import WebClient

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path("/work/shared/fixtures/slack")
SCHEMA = FIXTURES / "manifest-schema" / "schemas" / "manifest.schema.1.0.0.json"
WEB_API = FIXTURES / "slack-api-specs" / "web-api" / "slack_web_openapi_v2.json"
EVENTS_API = FIXTURES / "slack-api-specs" / "events-api" / "slack_events_api_async_v1.json"
SLACK_CODE = sorted([*ROOT.glob("handlers/slack/*.py"), *ROOT.glob("bot/surfaces/slack/*.py")])
# Where the Events API description predates Slack's granular bot scopes (it lists no scope for
# app_mention, and has no app_home_opened), the scope from Slack's event reference pages:
EVENT_SCOPES_NOT_IN_SPEC = {"app_mention": {"app_mentions:read"}, "app_home_opened": set()}


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))
    return data


def _decorator_args(name: str) -> set[str]:
    """String arguments of `@app.<name>(...)` decorators in the Slack code (constants resolved)."""
    found: set[str] = set()
    for path in SLACK_CODE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {
            t.id: n.value.value
            for n in tree.body
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and deco.func.attr == name:
                    arg = deco.args[0]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.add(arg.value)
                    elif isinstance(arg, ast.Name) and arg.id in constants:
                        found.add(constants[arg.id])
                    else:
                        found.add(ast.unparse(arg))
    return found


def web_api_methods() -> set[str]:
    """Slack methods the code calls: `client.chat_postMessage(...)` → `chat.postMessage`."""
    # `api_call` is the transport every method goes through (our client overrides it), not a method.
    client_methods = {m for m in dir(WebClient) if not m.startswith("_") and "_" in m} - {"api_call"}
    called: set[str] = set()
    for path in SLACK_CODE:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in client_methods:
                called.add(node.attr)
    methods = set()
    for attr in called:
        match = re.search(r'api_call\(\s*"([^"]+)"', inspect.getsource(getattr(WebClient, attr)))
        assert match, attr
        methods.add(match.group(1))
    return methods


def method_scopes(method: str) -> set[str]:
    """The bot scope a Web API method needs, from Slack's OpenAPI description (legacy
    `chat:write:bot` is today's `chat:write`; `none` is no scope)."""
    spec = json.loads(WEB_API.read_text(encoding="utf-8"))
    scopes: set[str] = set()
    for op in spec["paths"][f"/{method}"].values():
        for requirement in op.get("security", []):
            scopes |= {re.sub(r":(bot|user)$", "", s) for s in requirement.get("slackAuth", []) if s != "none"}
    return scopes


def event_scopes(event: str) -> set[str]:
    topics = json.loads(EVENTS_API.read_text(encoding="utf-8"))["topics"]
    topic = topics.get(event.replace("_", "."))
    listed = set(topic["subscribe"].get("x-scopes-required", [])) if topic else set()
    return listed or EVENT_SCOPES_NOT_IN_SPEC[event]


def test_the_manifest_is_valid_against_slacks_schema() -> None:
    jsonschema.validate(manifest(), json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_the_schema_check_refuses_slacks_own_invalid_example() -> None:
    invalid = json.loads(
        (FIXTURES / "manifest-schema" / "tests" / "manifests" / "v1" / "manifest.invalid.json").read_text()
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(invalid, json.loads(SCHEMA.read_text(encoding="utf-8")))


def test_the_manifest_subscribes_to_exactly_the_events_the_code_listens_to() -> None:
    assert set(manifest()["settings"]["event_subscriptions"]["bot_events"]) == _decorator_args("event")


def test_the_manifest_declares_exactly_the_commands_the_code_handles() -> None:
    assert {c["command"] for c in manifest()["features"]["slash_commands"]} == _decorator_args("command")


def test_interactivity_is_enabled_because_the_code_handles_buttons() -> None:
    assert _decorator_args("action")
    assert manifest()["settings"]["interactivity"]["is_enabled"] is True


def test_the_manifest_asks_for_exactly_the_scopes_the_code_needs() -> None:
    needed = {s for m in web_api_methods() for s in method_scopes(m)}
    needed |= {s for e in _decorator_args("event") for s in event_scopes(e)}
    needed |= {"commands"} if _decorator_args("command") else set()
    assert set(manifest()["oauth_config"]["scopes"]["bot"]) == needed


def test_the_web_api_methods_the_code_calls_are_the_ones_the_stand_in_checks() -> None:
    assert web_api_methods() == {
        "auth.test",  # which workspace Baton answers (slack.team_id unset)
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "users.info",
        "usergroups.users.list",
        "views.publish",
    }


def test_every_request_url_points_at_the_one_slack_endpoint() -> None:
    data = manifest()
    urls = {
        data["settings"]["event_subscriptions"]["request_url"],
        data["settings"]["interactivity"]["request_url"],
        *(c["url"] for c in data["features"]["slash_commands"]),
    }
    assert urls == {"https://baton.example.com/slack/events"}
