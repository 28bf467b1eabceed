"""`baton serve --socket-mode`: the same Slack app over Slack's Socket Mode WebSocket (a stand-in
speaking the envelope protocol), for teams that cannot expose a public URL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.domain.models import RunState
from bot.web import socket_mode_app
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries, wait_for
from tests.fakes import slack_events
from tests.fakes.served_app import serve, until
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_socket import FakeSocketMode

BOT_TOKEN, APP_TOKEN = "xoxb-socket-bot", "xapp-1-socket-app"


@pytest.fixture
def connected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> Iterator[tuple[FakeSlack, FakeSocketMode, Any, str]]:
    remotes = make_repos(tmp_path, ["api"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "change")],
        "slack": {"channel_repos": {"C111": ["api"]}},
    }
    with FakeSocketMode() as socket, FakeSlack(BOT_TOKEN, app_token=APP_TOKEN, socket_url=socket.url) as slack:
        monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
        monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
        monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
        monkeypatch.setenv("SLACK_API_URL", slack.api_url)
        runtime = start_runtime(config)
        with serve(socket_mode_app(runtime)) as url:
            until("the socket to connect", lambda: socket.connected)
            yield slack, socket, runtime, url


def test_the_connection_url_is_asked_for_with_the_app_level_token(
    connected: tuple[FakeSlack, FakeSocketMode, Any, str],
) -> None:
    slack, socket, _runtime, _url = connected
    [opened] = slack.calls_to("apps.connections.open")
    assert opened.ok
    assert socket.connections == 1


def test_a_mention_over_the_socket_is_acknowledged_and_starts_a_run_with_its_card(
    connected: tuple[FakeSlack, FakeSocketMode, Any, str],
) -> None:
    slack, socket, runtime, _url = connected
    envelope = slack_events.event_callback(slack_events.app_mention("U0ALICE", "<@U0BATON> change the readme"))
    envelope_id = socket.push("events_api", envelope)
    until("the ack", lambda: socket.ack_for(envelope_id))
    thread = envelope["event"]["ts"]
    run_id = until("the run", lambda: runtime.store.run_for_link(f"slack:thread:C111:{thread}"))
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    card = slack.calls_to("chat.postMessage")[0]
    assert (card.params["channel"], card.params["thread_ts"]) == ("C111", thread)


def test_a_slash_command_over_the_socket_is_answered_in_its_ack(
    connected: tuple[FakeSlack, FakeSocketMode, Any, str],
) -> None:
    _slack, socket, _runtime, _url = connected
    command = slack_events.slash_command("U0ALICE", "help", "C111", "https://hooks.slack.com/commands/T111/1/x")
    envelope_id = socket.push("slash_commands", command, accepts_response_payload=True)
    ack = until("the ack", lambda: socket.ack_for(envelope_id))
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "/baton run" in ack["payload"]["text"]


def test_without_a_signing_secret_the_http_endpoint_stays_off(
    connected: tuple[FakeSlack, FakeSocketMode, Any, str],
) -> None:
    _slack, _socket, _runtime, url = connected
    assert httpx.post(f"{url}/slack/events", content=b"{}").status_code == 404


def test_serve_in_socket_mode_without_an_app_token_says_what_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GITHUB_", "LINEAR_"))}
    env.update({"BATON_HOME": str(tmp_path / ".baton"), "BATON_CONFIG": str(tmp_path / "baton.yml")})
    env["SLACK_BOT_TOKEN"] = BOT_TOKEN
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--socket-mode", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "socket mode needs SLACK_APP_TOKEN (an xapp- app-level token with connections:write)" in result.stdout
