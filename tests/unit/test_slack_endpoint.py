"""The Slack endpoint's own checks over HTTP, without an executor launched: what is refused before
bolt sees a request, requests nothing of ours listens to, and requests with nothing configured."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.web import create_web_app
from tests.fakes import slack_events
from tests.fakes.served_app import serve, until
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_events import BOLT, sign

SECRET, TOKEN = "signing-secret-for-unit-tests", "xoxb-unit-test"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(TOKEN) as fake:
        yield fake


@contextmanager
def endpoint(tmp_path: Path, slack: FakeSlack, config: dict[str, Any] | None = None) -> Iterator[str]:
    secrets = {"SLACK_SIGNING_SECRET": SECRET, "SLACK_BOT_TOKEN": TOKEN, "SLACK_API_URL": slack.api_url}
    settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml", **secrets)  # type: ignore[arg-type]
    with serve(create_web_app(Runtime(settings, parse_baton_file(config or {})))) as url:
        yield f"{url}/slack/events"


def post(url: str, body: bytes, content_type: str) -> httpx.Response:
    ts = str(int(time.time()))
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": sign(SECRET, ts, body),
    }
    return httpx.post(url, content=body, headers=headers)


def test_a_request_without_signature_headers_is_refused_with_401(tmp_path: Path, slack: FakeSlack) -> None:
    with endpoint(tmp_path, slack) as url:
        answer = httpx.post(url, content=b"{}", headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]) == (401, "missing Slack signature headers")


def test_json_without_a_type_is_refused_with_400(tmp_path: Path, slack: FakeSlack) -> None:
    with endpoint(tmp_path, slack) as url:
        answer = post(url, b'{"event": {}}', "application/json")
    assert (answer.status_code, answer.json()["error"]) == (400, "malformed payload: an Events API body needs a type")


def test_a_form_that_is_neither_an_interaction_nor_a_command_is_refused_with_400(
    tmp_path: Path, slack: FakeSlack
) -> None:
    with endpoint(tmp_path, slack) as url:
        answer = post(url, b"hello=world", "application/x-www-form-urlencoded")
    assert answer.status_code == 400
    assert answer.json()["error"] == "malformed form: neither an interaction payload nor a command"


def test_an_unsupported_content_type_is_refused_with_400(tmp_path: Path, slack: FakeSlack) -> None:
    with endpoint(tmp_path, slack) as url:
        answer = post(url, b"hi", "text/plain")
    assert (answer.status_code, answer.json()["error"]) == (400, "unsupported content type text/plain")


def test_a_click_on_a_button_that_is_not_batons_is_acknowledged_and_ignored(tmp_path: Path, slack: FakeSlack) -> None:
    payload = json.loads((BOLT / "block_actions.json").read_text())
    with endpoint(tmp_path, slack) as url:
        answer = post(url, urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded")
    assert (answer.status_code, answer.json()) == (200, {"ok": True, "handled": False})
    # Only who-am-I questions (the workspace pin at start, bolt's own check): nothing was said or done.
    assert {c.method for c in slack.calls} == {"auth.test"}


def test_a_mention_with_no_repos_configured_is_answered_in_its_thread(tmp_path: Path, slack: FakeSlack) -> None:
    envelope = slack_events.event_callback(slack_events.app_mention("U0ALICE", "<@U0BATON> rename the flag"))
    with endpoint(tmp_path, slack) as url:
        assert post(url, json.dumps(envelope).encode(), "application/json").status_code == 200
        reply = until("a reply", lambda: slack.calls_to("chat.postMessage"))[0]
    assert reply.params["thread_ts"] == envelope["event"]["ts"]
    assert reply.params["text"].startswith("No repos are configured yet")


def test_a_slash_command_run_with_no_repos_configured_says_so(tmp_path: Path, slack: FakeSlack) -> None:
    fields = slack_events.slash_command("U0ALICE", "run rename the flag", "C1", slack.response_url("cmd"))
    with endpoint(tmp_path, slack) as url:
        answer = post(url, urlencode(fields).encode(), "application/x-www-form-urlencoded")
    assert answer.status_code == 200
    assert answer.json()["text"].startswith("No repos are configured yet")


def test_without_slack_secrets_the_endpoint_answers_404(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml")
    with serve(create_web_app(Runtime(settings, parse_baton_file({})))) as url:
        assert httpx.post(f"{url}/slack/events", content=b"{}").status_code == 404
