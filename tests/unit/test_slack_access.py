"""Who may do what from Slack, against the Slack stand-in: starting runs (users and user groups),
approving (the policy narrowed by user groups), stopping a run, and how user groups are read."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.config.models import ApprovalPolicy
from bot.config.slack import SlackConfig
from bot.domain.models import Actor, ReplyTo, RunSpec, RunState, Source, Trigger
from bot.domain.records import Run
from handlers.slack.access import SlackAccess
from tests.fakes.slack_api import FakeSlack
from tests.views import Clock

TOKEN = "xoxb-access-test"
ALICE = Actor(source=Source.slack, id="U0ALICE")


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(TOKEN) as fake:
        fake.add_usergroup("S0DEVS", ["U0BOB"])
        fake.add_usergroup("S0LEADS", ["U0LEAD"])
        yield fake


def access(
    slack: FakeSlack, clock: Clock | None = None, policy: ApprovalPolicy | None = None, **cfg: object
) -> SlackAccess:
    client = WebClient(token=TOKEN, base_url=slack.api_url)
    return SlackAccess(client, SlackConfig.model_validate(cfg), policy or ApprovalPolicy(), clock=clock or Clock(0.0))


def run() -> Run:
    trigger = Trigger(
        source=Source.slack,
        actor=ALICE,
        request="x",
        reply_to=ReplyTo(source=Source.slack, channel="C1"),
        delivery_id="e",
    )
    spec = RunSpec(run_id="r1", trigger=trigger, repos=["api"], playbook="default")
    return Run(run_id="r1", state=RunState.awaiting_approval, spec=spec)


def slack_user(user: str) -> Actor:
    return Actor(source=Source.slack, id=user)


def test_with_no_allow_list_anyone_may_start_runs(slack: FakeSlack) -> None:
    assert access(slack).may_trigger("U0ANYONE") is None


def test_a_member_of_an_allowed_user_group_may_start_runs(slack: FakeSlack) -> None:
    rules = access(slack, allowed_users=["U0ALICE"], allowed_usergroups=["S0DEVS"])
    assert [rules.may_trigger("U0ALICE"), rules.may_trigger("U0BOB")] == [None, None]


def test_someone_outside_the_allow_lists_is_told_who_may_start_runs(slack: FakeSlack) -> None:
    rules = access(slack, allowed_users=["U0ALICE"], allowed_usergroups=["S0DEVS"])
    assert rules.may_trigger("U0EVE") == "only <@U0ALICE>, <!subteam^S0DEVS> may start Baton runs"


def test_user_group_members_are_read_once_within_the_cache_time(slack: FakeSlack) -> None:
    clock = Clock(0.0)
    rules = access(slack, clock, allowed_usergroups=["S0DEVS"], usergroup_cache_s=60)
    rules.may_trigger("U0BOB")
    clock.now = 59
    rules.may_trigger("U0BOB")
    assert len(slack.calls_to("usergroups.users.list")) == 1
    clock.now = 61
    rules.may_trigger("U0BOB")
    assert len(slack.calls_to("usergroups.users.list")) == 2


def test_a_user_group_slack_cannot_read_lets_nobody_in(slack: FakeSlack) -> None:
    rules = access(slack, allowed_usergroups=["S0GONE"])
    assert rules.may_trigger("U0BOB") == "only <!subteam^S0GONE> may start Baton runs"


def test_approver_groups_refuse_non_members_with_the_group_named(slack: FakeSlack) -> None:
    rules = access(slack, approver_usergroups=["S0LEADS"])
    assert rules.authorize(slack_user("U0LEAD"), run()) is None
    assert rules.authorize(slack_user("U0BOB"), run()) == "only members of <!subteam^S0LEADS> may approve from Slack"


def test_deciding_applies_the_policy_then_the_groups(slack: FakeSlack) -> None:
    rules = access(slack, policy=ApprovalPolicy(approvers=["slack:U0LEAD"]), approver_usergroups=["S0LEADS"])
    assert rules.may_decide(slack_user("U0LEAD"), run()) is None
    assert rules.may_decide(ALICE, run()) == "slack:U0ALICE is not an approver (approvers: slack:U0LEAD)"


def test_the_requester_may_stop_their_run_though_not_approve_it(slack: FakeSlack) -> None:
    rules = access(slack)
    assert rules.may_stop(ALICE, run()) is None
    assert rules.may_decide(ALICE, run()) == "the requester may not approve their own run"


def test_a_stranger_may_not_stop_a_run_when_approvers_are_named(slack: FakeSlack) -> None:
    rules = access(slack, policy=ApprovalPolicy(approvers=["slack:U0LEAD"]))
    refusal = rules.may_stop(slack_user("U0EVE"), run())
    assert (
        refusal
        == "only the requester or an approver may do that (slack:U0EVE is not an approver (approvers: slack:U0LEAD))"
    )


def test_people_are_named_as_slack_shows_them_and_asked_once(slack: FakeSlack) -> None:
    slack.add_user("U0BOB", "bob", profile={"display_name": "Bobby"})
    rules = access(slack)
    assert [rules.actor("U0BOB").display, rules.actor("U0BOB").display] == ["Bobby", "Bobby"]
    assert len(slack.calls_to("users.info")) == 1
