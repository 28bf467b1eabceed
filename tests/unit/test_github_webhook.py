"""The GitHub edge before any run starts: signatures (GitHub's published test vector), headers,
malformed and oversized bodies, and the comments that must never trigger anything."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import Runtime
from bot.config.settings import Settings
from bot.services.github.issues import status_marker
from bot.web import create_web_app
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import TOKEN, baton_config, start_fake
from tests.fakes.github_webhooks import FIXTURES, Webhooks, sign
from tests.fakes.served_app import serve

VECTOR = json.loads((FIXTURES / "signature-test-vector.json").read_text(encoding="utf-8"))
SECRET = VECTOR["secret"]
ISSUE = "acme/api"


class Edge:
    def __init__(self, fake: FakeGitHub, client: httpx.Client, runtime: Runtime) -> None:
        self.fake = fake
        self.client = client
        self.runtime = runtime
        self.hooks = Webhooks(fake, "/github/webhook", SECRET, client=client, outcomes=runtime.store.intake_outcome)

    def comment(self, text: str, author: str = "alice", issue: int | None = None) -> dict[str, Any]:
        number = issue or self.fake.open_issue(ISSUE, "Rename /items", "Please.", "carol")
        comment = self.fake.add_comment(ISSUE, number, text, author)
        answer = self.hooks.send("issue_comment", self.hooks.issue_comment(ISSUE, number, comment.id))
        assert answer.status_code == 200, answer.text
        result: dict[str, Any] = answer.json()
        return result

    def baton_comments(self) -> list[str]:
        return [c.body for c in self.fake.world.comments.values() if c.author == "baton-bot"]


@contextmanager
def _edge(tmp_path: Path, fake: FakeGitHub, remotes: dict[str, Path], token: str | None) -> Iterator[Edge]:
    """Baton's web app over real HTTP (no executor: nothing here may start a run)."""
    env = {"GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_API_URL": fake.url, "GITHUB_TOKEN": token}
    settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml", **env)
    runtime = Runtime(settings, baton_config(remotes))
    try:
        with serve(create_web_app(runtime)) as url, httpx.Client(base_url=url, timeout=15) as client:
            yield Edge(fake, client, runtime)
    finally:
        runtime.shutdown()


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[Edge]:
    fake, remotes = start_fake(tmp_path, ["api"])
    fake.grant(ISSUE, "alice", "write")
    with _edge(tmp_path, fake, remotes, TOKEN) as made:
        yield made
    fake.stop()


def _post(edge: Edge, body: bytes, **headers: str) -> Any:
    base = {"X-GitHub-Event": "issue_comment", "X-GitHub-Delivery": "d-1", "Content-Type": "application/json"}
    return edge.client.post("/github/webhook", content=body, headers={**base, **headers})


def test_githubs_published_signature_vector_is_accepted(edge: Edge) -> None:
    assert sign(SECRET, VECTOR["raw_body"].encode()) == VECTOR["x_hub_signature_256"]
    answer = _post(edge, VECTOR["raw_body"].encode(), **{"X-Hub-Signature-256": VECTOR["x_hub_signature_256"]})

    assert answer.status_code == 400  # past the signature: "Hello, World!" is just not JSON
    assert "malformed JSON" in answer.json()["error"]


def test_a_wrong_or_missing_signature_is_401(edge: Edge) -> None:
    body = VECTOR["raw_body"].encode()
    wrong = _post(edge, body, **{"X-Hub-Signature-256": sign("another secret", body)})
    missing = _post(edge, body)
    sha1_only = _post(edge, body, **{"X-Hub-Signature": "sha1=" + "0" * 40})

    assert [wrong.status_code, missing.status_code, sha1_only.status_code] == [401, 401, 401]
    assert edge.fake.requests == []


def test_ping_is_answered_200(edge: Edge) -> None:
    answer = edge.hooks.send("ping", edge.hooks.ping())
    assert (answer.status_code, answer.json()["action"]) == (200, "pong")


def test_a_signed_request_without_an_event_header_is_400(edge: Edge) -> None:
    body = b"{}"
    answer = edge.client.post(
        "/github/webhook", content=body, headers={"X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sign(SECRET, body)}
    )
    assert answer.status_code == 400 and "X-GitHub-Event" in answer.json()["error"]


def test_a_signed_payload_missing_a_needed_field_is_400_naming_it(edge: Edge) -> None:
    body = json.dumps({"action": "created", "repository": {"full_name": ISSUE}}).encode()
    answer = _post(edge, body, **{"X-Hub-Signature-256": sign(SECRET, body)})
    assert answer.status_code == 400
    assert "malformed issue_comment payload: issue" in answer.json()["error"]


def test_a_body_over_25_mb_is_413_unread(edge: Edge) -> None:
    answer = _post(edge, b" " * (26 * 1024 * 1024), **{"X-Hub-Signature-256": "sha256=00"})
    assert answer.status_code == 413
    assert edge.fake.requests == []


def test_events_baton_does_not_use_are_acknowledged(edge: Edge) -> None:
    body = json.loads((FIXTURES / "payload-examples/api.github.com/installation/created.payload.json").read_text())
    answer = edge.hooks.send("installation", body)
    assert answer.status_code == 200 and answer.json()["action"].startswith("ignored")


def test_an_edited_comment_never_triggers(edge: Edge) -> None:
    number = edge.fake.open_issue(ISSUE, "Rename", "Please.", "carol")
    comment = edge.fake.add_comment(ISSUE, number, "@baton rename it", "alice")
    body = edge.hooks.issue_comment(ISSUE, number, comment.id)
    body["action"] = "edited"
    body["changes"] = {"body": {"from": "rename it"}}

    assert edge.hooks.send("issue_comment", body).json()["action"] == "ignored: only new comments count"
    assert edge.fake.requests == []


@pytest.mark.parametrize(
    ("text", "author", "kind"),
    [
        ("@baton rename it", "dependabot[bot]", "Bot"),
        ("@baton rename it", "baton-bot", "User"),
        (f"{status_marker('r1')}\n@baton says hello", "carol", "User"),
    ],
    ids=["another bot", "baton itself", "a baton status comment"],
)
def test_comments_from_bots_or_baton_never_trigger(edge: Edge, text: str, author: str, kind: str) -> None:
    edge.fake.add_user(author, kind=kind)
    assert edge.comment(text, author)["action"] == "ignored: written by a bot"
    assert edge.fake.calls("POST", r"/reactions$") == []


@pytest.mark.parametrize(
    "text",
    ["thanks, looks good", "> @baton rename it\n\nquoting the bot", "```\n/baton approve\n```", "see `@baton`"],
    ids=["no mention", "quoted mention", "command in code", "mention in inline code"],
)
def test_comments_not_addressed_to_baton_are_ignored(edge: Edge, text: str) -> None:
    assert edge.comment(text)["action"] == "ignored: not addressed to Baton"
    assert edge.fake.calls("POST", r"/reactions$") == []


def test_a_command_where_no_run_exists_gets_a_reply(edge: Edge) -> None:
    assert edge.comment("/baton approve", "alice")["action"] == "no run"
    assert any("No Baton run belongs to this conversation" in b for b in edge.baton_comments())


def test_naming_an_unknown_repo_gets_a_reply_listing_the_known_ones(edge: Edge) -> None:
    assert edge.comment("@baton rename it\nrepos: api, mobile")["action"] == "refused"
    assert any("mobile is not a repo in baton.yml (configured: api)" in b for b in edge.baton_comments())
    assert edge.runtime.store.list_runs() == []


def test_an_issue_in_a_repo_baton_does_not_know_gets_a_reply(edge: Edge) -> None:
    tracker = edge.fake.add_repo("acme/tracker", edge.fake.world.repos[ISSUE].git_dir)
    edge.fake.grant(tracker.full_name, "alice", "write")
    number = edge.fake.open_issue(tracker.full_name, "Rename", "Please.", "carol")
    comment = edge.fake.add_comment(tracker.full_name, number, "@baton rename it", "alice")
    answer = edge.hooks.send("issue_comment", edge.hooks.issue_comment(tracker.full_name, number, comment.id))

    assert answer.json()["action"] == "refused"
    [reply] = [c.body for c in edge.fake.comments_on(tracker.full_name, number) if c.author == "baton-bot"]
    assert "acme/tracker is not configured in baton.yml" in reply


def test_without_github_credentials_the_endpoint_says_so(tmp_path: Path) -> None:
    fake, remotes = start_fake(tmp_path, ["api"])
    with _edge(tmp_path, fake, remotes, token=None) as edge:
        assert edge.hooks.send("ping", edge.hooks.ping()).status_code == 200
        number = fake.open_issue(ISSUE, "Rename", "Please.", "carol")
        comment = fake.add_comment(ISSUE, number, "@baton rename it", "alice")
        answer = edge.hooks.send("issue_comment", edge.hooks.issue_comment(ISSUE, number, comment.id))
        assert answer.status_code == 503 and "GITHUB_TOKEN" in answer.json()["error"]
    fake.stop()
