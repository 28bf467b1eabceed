"""Which Slack workspace Baton answers, against the Slack stand-in: the configured `slack.team_id`, or
the one `auth.test` names; a request naming any other team — or any request while the workspace is
unknown — is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.store.store import Store, make_engine, migrate
from handlers.slack.team import WorkspacePin
from tests.fakes import slack_events
from tests.fakes.slack_api import FakeSlack

TOKEN = "xoxb-team-test"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(TOKEN) as fake:
        yield fake


@pytest.fixture
def store(tmp_path: Path) -> Store:
    engine = make_engine(f"sqlite:///{tmp_path / 'baton.db'}")
    migrate(engine)
    return Store(engine)


def _click(team: str, user_team: str | None = None) -> dict[str, object]:
    body = slack_events.block_actions("U0BOB", "C1", "1.0", "baton_approve", "{}", "https://example/r", team=team)
    if user_team is not None:
        body["user"]["team_id"] = user_team  # type: ignore[index]
    return body


def test_unset_the_workspace_is_the_one_auth_test_names(slack: FakeSlack, store: Store) -> None:
    pin = WorkspacePin(None, WebClient(token=TOKEN, base_url=slack.api_url), store.audit)

    assert (pin.team(), [c.method for c in slack.calls]) == (slack_events.TEAM, ["auth.test"])
    assert pin.refusal(_click(slack_events.TEAM)) is None


def test_a_configured_workspace_asks_slack_nothing_and_refuses_the_one_auth_test_would_name(
    slack: FakeSlack, store: Store
) -> None:
    pin = WorkspacePin("T0ACME", WebClient(token=TOKEN, base_url=slack.api_url), store.audit)

    assert pin.refusal(_click(slack_events.TEAM)) == (
        f"the request comes from workspace {slack_events.TEAM}, and Baton answers only T0ACME"
    )
    assert slack.calls == []


def test_a_user_of_another_workspace_in_a_shared_channel_is_refused(slack: FakeSlack, store: Store) -> None:
    pin = WorkspacePin(slack_events.TEAM, WebClient(token=TOKEN, base_url=slack.api_url), store.audit)

    assert "T0OUTSIDE" in (pin.refusal(_click(slack_events.TEAM, user_team="T0OUTSIDE")) or "")


def test_while_slack_cannot_say_which_workspace_every_request_is_refused(store: Store) -> None:
    pin = WorkspacePin(None, WebClient(token=TOKEN, base_url="http://127.0.0.1:9/api/", timeout=2), store.audit)

    assert pin.team() is None
    assert "set slack.team_id" in (pin.refusal(_click(slack_events.TEAM)) or "")
