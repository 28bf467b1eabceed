"""The Linear endpoint's answers to everything that is not the happy path, over HTTP: malformed
bodies, people who may not start runs, requests Baton cannot place, commands on issues without a
run, Baton's own comments — each gets a clear answer on the issue or in the response, never a
silent drop and never a run it should not start. Also the commands that steer a running run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import RunState
from bot.store.audit import AuditKind, AuditOutcome
from tests.e2e.conftest import RuntimeFactory, agent, event_data, make_repos, repo_entries, wait_for
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_harness import LinearWorld, linear_world
from tests.fakes.linear_state import Team, User
from tests.fakes.linear_webhooks import sign
from tests.fakes.served_app import until


class World(LinearWorld):
    people: dict[str, User]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory) -> Iterator[World]:
    remotes = make_repos(tmp_path, ["api"])
    people: dict[str, User] = {}

    def config(fake: FakeLinear, team: Team) -> dict[str, Any]:
        people["alice"] = fake.workspace.add_user("Alice", "alice@example.com", teams=[team])
        people["mallory"] = fake.workspace.add_user("Mallory", "mallory@example.com")
        return {
            "repos": repo_entries(remotes),
            "agents": [agent("coder", "--append", "README.md", "more", "--summary", "done")],
            "linear": {"allowed_users": [people["alice"].id], "team_repos": {"ENG": ["api"]}},
        }

    with linear_world(monkeypatch, start_runtime, config, tmp_path / "journal.log") as w:
        w.__class__ = World
        w.people = people  # type: ignore[attr-defined]
        yield w  # type: ignore[misc]


def signed(world: World, body: bytes, **headers: str) -> Any:
    base = {"Linear-Delivery": "d-1", "Linear-Signature": sign("linear-e2e-signing-secret-3b9f", body)}
    return world.sender.http.post(world.sender.url, content=body, headers=base | headers)


def test_malformed_json_with_a_valid_signature_gets_400_with_a_reason(world: World) -> None:
    answer = signed(world, b'{"type": "Issue",')
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("malformed JSON")


def test_a_payload_missing_what_its_type_needs_gets_400_naming_the_field(world: World) -> None:
    body = json.dumps({"type": "Issue", "action": "update", "webhookTimestamp": time.time() * 1000})
    answer = signed(world, body.encode())
    assert answer.status_code == 400
    assert answer.json()["error"] == "malformed Issue payload: data: Field required"


def test_a_delivery_without_its_id_gets_400(world: World) -> None:
    issue = world.linear.workspace.add_issue(world.team, "t")
    body = json.dumps(world.hooks.issue_labelled(issue, world.label, world.people["alice"])).encode()
    answer = signed(world, body, **{"Linear-Delivery": ""})
    assert answer.status_code == 400 and answer.json()["error"] == "missing Linear-Delivery header"


def test_someone_not_allowed_to_start_runs_is_told_so_on_the_issue(world: World) -> None:
    issue = world.linear.workspace.add_issue(world.team, "t", "repos: api")
    answer = world.send(world.hooks.issue_labelled(issue, world.label, world.people["mallory"]))
    assert answer.status_code == 200 and answer.json()["refused"]
    replies = until("the refusal on the issue", lambda: world.replies(issue.id))
    assert replies == [
        "Mallory may not start or steer Baton runs from Linear (allowed: users " + world.people["alice"].id + ")"
    ]
    assert world.runtime.store.list_runs() == []


def test_a_refused_label_is_in_the_audit_trail_with_who_and_why(world: World) -> None:
    issue = world.linear.workspace.add_issue(world.team, "t", "repos: api")
    mallory = world.people["mallory"]
    world.send(world.hooks.issue_labelled(issue, world.label, mallory))

    [record] = world.runtime.store.audit.records()

    assert (record.kind, record.outcome, record.actor, record.surface) == (
        AuditKind.trigger,
        AuditOutcome.refused,
        f"linear:{mallory.id}",
        "linear",
    )
    assert record.reason.startswith("Mallory may not start or steer Baton runs from Linear")


def test_a_team_without_repos_is_told_how_to_name_them(world: World) -> None:
    design = world.linear.workspace.add_team("DES", "Design")
    issue = world.linear.workspace.add_issue(design, "t", "repos: api")  # a description names nothing
    world.send(world.hooks.issue_labelled(issue, world.label, world.people["alice"]))
    (reply,) = until("the explanation", lambda: world.replies(issue.id))
    assert "Map the team under `linear.team_repos`" in reply and "Known repos: `api`." in reply
    assert world.runtime.store.list_runs() == []


def test_an_unknown_repo_is_named_with_the_known_ones(world: World) -> None:
    ws = world.linear.workspace
    session = ws.add_session(ws.add_issue(world.team, "t"), world.people["alice"])
    answer = world.send(world.hooks.session_event("created", session, comment="@baton do it\nrepos: api, billing"))
    assert answer.json()["refused"] == "Unknown repo(s): `billing`. Known repos: `api`."


def test_a_command_on_an_issue_without_a_run_says_how_to_start_one(world: World) -> None:
    issue = world.linear.workspace.add_issue(world.team, "t")
    answer = world.send(world.hooks.comment_created(issue, world.people["alice"], "/baton status"))
    assert answer.json()["refused"] == "no run on this issue"
    assert until("the hint", lambda: world.replies(issue.id)) == [
        "There is no Baton run on this issue. Add the `baton` label to start one."
    ]


def test_baton_reads_none_of_its_own_comments(world: World) -> None:
    issue = world.linear.workspace.add_issue(world.team, "t")
    me = world.linear.workspace.users[world.linear.workspace.viewer_id]
    answer = world.send(world.hooks.comment_created(issue, me, "/baton cancel"))
    assert answer.json() == {"ok": True, "ignored": "Baton's own comment"}


def test_status_and_follow_up_comments_steer_the_running_run(world: World) -> None:
    alice = world.people["alice"]
    issue = world.linear.workspace.add_issue(world.team, "Say more", "repos: api")
    run_id = world.send(world.hooks.issue_labelled(issue, world.label, alice)).json()["run_id"]
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)

    world.send(world.hooks.comment_created(issue, alice, "/baton status"))
    status = until("the status reply", lambda: world.replies(issue.id))
    assert status[0].startswith("awaiting approval · api · ")

    world.send(world.hooks.comment_created(issue, alice, "@baton also mention the changelog"))
    until("the follow-up to be queued", lambda: event_data(world.runtime, run_id, "follow_up_requested"))
    assert event_data(world.runtime, run_id, "follow_up_requested")[0]["instruction"] == "also mention the changelog"
    until("the second round", lambda: event_data(world.runtime, run_id, "round_finished"))


def test_a_body_over_25_mb_is_refused_with_413_without_being_read_whole(world: World) -> None:
    chunk = b"x" * (1024 * 1024)

    def body() -> Iterator[bytes]:
        for _ in range(26):
            yield chunk

    answer = world.sender.http.post(world.sender.url, content=body(), headers={"Linear-Delivery": "d-big"})
    assert answer.status_code == 413
    assert world.runtime.store.list_runs() == []


def test_an_event_type_baton_does_not_use_is_acknowledged_and_ignored(world: World) -> None:
    label = world.hooks.b.build("IssueLabelWebhookPayload", {"id": world.label.id, "name": "Baton"})
    answer = world.send(world.hooks.entity("create", "IssueLabel", label, world.people["alice"]))
    assert answer.status_code == 200
    assert answer.json() == {"ok": True, "ignored": "an event type Baton does not use"}
