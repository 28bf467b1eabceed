"""Ack-first intake: a signed, well-formed GitHub or Linear delivery is stored and answered before
anything it asks for happens; what it asks for is done afterwards from the store, and a delivery
stored by a `baton serve` killed (-9) before it was processed is processed by the next one, once:
one run, one first reply. And `/readyz` says ready only once Linear's schema is built."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.config.settings import Settings
from bot.domain.models import RunState
from bot.services.github.issues import status_marker
from bot.store.store import Store, make_engine
from bot.web import create_web_app
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries, wait_for
from tests.e2e.scale_support import Baton, baton_env, free_port, github_env, until
from tests.fakes.github_setup import config_dict, start_fake
from tests.fakes.github_stack import SECRET, github_stack
from tests.fakes.github_webhooks import Webhooks
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_harness import API_KEY, CARD_MARK
from tests.fakes.linear_harness import SECRET as LINEAR_SECRET
from tests.fakes.linear_state import Team, User
from tests.fakes.linear_webhooks import LinearSender, LinearWebhooks
from tests.fakes.served_app import serve

ISSUE = "acme/api"
CODER = {
    "agents": [agent("coder", "--append", "README.md", "x")],
    "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
}


def _answers(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    return False


def _serve(env: dict[str, str], port: int) -> Baton:
    server = Baton(env, "serve", "--port", str(port)).start()
    until("baton serve to be ready", lambda: _answers(f"http://127.0.0.1:{port}"))
    return server


# -- GitHub ---------------------------------------------------------------------------------------------
def test_a_github_delivery_is_answered_before_its_run_starts(tmp_path: Path) -> None:
    with github_stack(tmp_path, ["api"], dict(CODER)) as stack:
        stack.fake.grant(ISSUE, "alice", "write")
        stack.fake.slow("GET", r"/collaborators/alice/permission$", delay_s=3)
        issue = stack.fake.open_issue(ISSUE, "Rename /items", "Please.", "carol")
        comment = stack.fake.add_comment(ISSUE, issue, "@baton rename it", "alice")
        raw = Webhooks(stack.fake, f"{stack.url}/github/webhook", SECRET)  # reads the answer itself

        answer = raw.send("issue_comment", raw.issue_comment(ISSUE, issue, comment.id))

        assert (answer.status_code, answer.json()["action"]) == (200, "accepted")
        assert stack.runtime.store.list_runs() == []  # the permission check is still waiting on GitHub
        outcome = until("the delivery processed", lambda: stack.runtime.store.intake_outcome(answer.json()["intake"]))
        assert outcome["action"] == "started"
        wait_for(stack.runtime, outcome["run_id"], RunState.awaiting_approval, timeout=60)


def test_a_github_delivery_stored_by_a_killed_server_is_processed_once_by_the_next(tmp_path: Path) -> None:
    fake, remotes = start_fake(tmp_path, ["api"])
    fake.grant(ISSUE, "alice", "write")
    env = github_env(tmp_path, {**config_dict(remotes), **CODER}, fake)
    port = free_port()
    store = Store(make_engine(Settings(home=tmp_path / ".baton").store_url))
    servers: list[Baton] = []
    try:
        servers.append(_serve(env, port))
        hooks = Webhooks(fake, f"http://127.0.0.1:{port}/github/webhook", SECRET)
        issue = fake.open_issue(ISSUE, "Rename /items", "Please.", "carol")
        comment = fake.add_comment(ISSUE, issue, "@baton rename it", "alice")
        fake.slow("GET", rf"/issues/comments/{comment.id}$", delay_s=20)  # the read-back hangs: then the crash

        answer = hooks.send("issue_comment", hooks.issue_comment(ISSUE, issue, comment.id))
        until("the comment being read back", lambda: fake.calls("GET", rf"/issues/comments/{comment.id}$"))
        servers[0].kill()

        intake = answer.json()["intake"]
        assert answer.status_code == 200 and store.intake_outcome(intake) is None
        assert store.list_runs() == []
        servers.append(_serve(env, port))
        outcome = until("the stored delivery processed", lambda: store.intake_outcome(intake))
        run_id = outcome["run_id"]
        until(
            "the run waits for approval", lambda: (r := store.get_run(run_id)) and r.state is RunState.awaiting_approval
        )
    finally:
        for server in servers:
            server.kill()
        fake.stop()

    assert outcome["action"] == "started"
    assert [r.run_id for r in store.list_runs()] == [run_id]
    assert len([c for c in fake.comments_on(ISSUE, issue) if status_marker(run_id) in c.body]) == 1


# -- Linear ---------------------------------------------------------------------------------------------
def _linear_config(fake: FakeLinear, team: Team, remotes: dict[str, Path]) -> tuple[dict[str, Any], User]:
    alice = fake.workspace.add_user("Alice", "alice@example.com", teams=[team])
    # Membership is asked of Linear (BatonUserTeams), after the trigger is claimed: the test holds it there.
    linear = {"team_repos": {"ENG": ["api"]}, "allowed_teams": ["ENG"]}
    return {"repos": repo_entries(remotes), **CODER, "linear": linear}, alice


@pytest.fixture
def linear(tmp_path: Path) -> Iterator[FakeLinear]:
    with FakeLinear(api_key=API_KEY) as fake:
        yield fake


def _cards(fake: FakeLinear, issue_id: str) -> list[str]:
    ws = fake.workspace
    with ws.lock:
        return [c.body for c in ws.comments.values() if c.issue_id == issue_id and CARD_MARK in c.body]


def test_a_linear_delivery_is_answered_before_its_run_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory, linear: FakeLinear
) -> None:
    team, label = linear.workspace.add_team("ENG", "Engineering"), linear.workspace.add_label("Baton")
    for name, value in (("LINEAR_WEBHOOK_SECRET", LINEAR_SECRET), ("LINEAR_API_KEY", API_KEY)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LINEAR_API_URL", linear.url)
    config, alice = _linear_config(linear, team, make_repos(tmp_path, ["api"]))
    runtime = start_runtime(config)
    issue = linear.workspace.add_issue(team, "Note Linear in the README", "Please.")
    gate = linear.hold("BatonUserTeams")
    with serve(create_web_app(runtime)) as url:
        sender = LinearSender(f"{url}/linear/webhook", LINEAR_SECRET)  # reads the answer itself
        answer = sender.send(LinearWebhooks(linear.schema, linear.workspace).issue_labelled(issue, label, alice))
        until("the membership question reaching Linear", lambda: any(c.kind == "held" for c in linear.calls))

        assert (answer.status_code, answer.json()["action"]) == (200, "accepted")
        assert runtime.store.list_runs() == [] and _cards(linear, issue.id) == []
        gate.set()
        outcome = until("the delivery processed", lambda: runtime.store.intake_outcome(answer.json()["intake"]))
        wait_for(runtime, outcome["run_id"], RunState.awaiting_approval, timeout=60)
        sender.close()
    assert len(_cards(linear, issue.id)) == 1


def test_a_linear_delivery_stored_by_a_killed_server_is_processed_once_by_the_next(
    tmp_path: Path, linear: FakeLinear
) -> None:
    team, label = linear.workspace.add_team("ENG", "Engineering"), linear.workspace.add_label("Baton")
    config, alice = _linear_config(linear, team, make_repos(tmp_path, ["api"]))
    secrets = {"LINEAR_WEBHOOK_SECRET": LINEAR_SECRET, "LINEAR_API_KEY": API_KEY, "LINEAR_API_URL": linear.url}
    env, port = baton_env(tmp_path, config, **secrets), free_port()
    store = Store(make_engine(Settings(home=tmp_path / ".baton").store_url))
    issue = linear.workspace.add_issue(team, "Note Linear in the README", "Please.")
    gate = linear.hold("BatonUserTeams")
    servers: list[Baton] = []
    sender = LinearSender(f"http://127.0.0.1:{port}/linear/webhook", LINEAR_SECRET)
    try:
        servers.append(_serve(env, port))
        answer = sender.send(LinearWebhooks(linear.schema, linear.workspace).issue_labelled(issue, label, alice))
        until("the membership question reaching Linear", lambda: any(c.kind == "held" for c in linear.calls))
        servers[0].kill()
        gate.set()  # the killed server's question is answered to nobody

        intake = answer.json()["intake"]
        assert answer.status_code == 200 and store.intake_outcome(intake) is None
        assert store.list_runs() == []
        servers.append(_serve(env, port))
        outcome = until("the stored delivery processed", lambda: store.intake_outcome(intake))
        run_id = outcome["run_id"]
        until(
            "the run waits for approval", lambda: (r := store.get_run(run_id)) and r.state is RunState.awaiting_approval
        )
    finally:
        gate.set()
        sender.close()
        for server in servers:
            server.kill()

    assert [r.run_id for r in store.list_runs()] == [run_id]
    assert len(_cards(linear, issue.id)) == 1


# -- readiness ------------------------------------------------------------------------------------------
def test_readyz_says_ready_only_once_linears_schema_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory, linear: FakeLinear
) -> None:
    team = linear.workspace.add_team("ENG", "Engineering")
    for name, value in (("LINEAR_WEBHOOK_SECRET", LINEAR_SECRET), ("LINEAR_API_KEY", API_KEY)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LINEAR_API_URL", linear.url)
    runtime = start_runtime(_linear_config(linear, team, make_repos(tmp_path, ["api"]))[0])
    app = create_web_app(runtime)
    edge = next(r.endpoint.__self__ for r in app.routes if getattr(r, "path", "") == "/linear/webhook")  # type: ignore[attr-defined]
    assert not edge.client.warmed  # built by nothing yet
    seen: list[tuple[int, bool]] = []
    with serve(app) as url:
        while not seen or seen[-1][0] != 200:
            status = httpx.get(f"{url}/readyz", timeout=5).status_code
            seen.append((status, edge.client.warmed))

    assert all(warmed for status, warmed in seen if status == 200)
    assert seen[-1] == (200, True)
