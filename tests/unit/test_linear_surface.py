"""The Linear surface over the Linear stand-in and a real store, fed by the real SurfaceHub: the one
status comment, PR attachments, workflow-state moves, agent-session activities, and what happens
when deliveries repeat or Linear says no."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config.models import parse_baton_file
from bot.domain.models import Actor, ChangeSet, ReplyTo, RunSpec, RunState, Source, Trigger
from bot.domain.records import Step, StepState
from bot.services.linear.client import LinearClient, LinearRateLimited, published_schema
from bot.surfaces.hub import SurfaceHub
from bot.surfaces.linear.surface import ACTIVITY_FACT, CARD_FACT, LinearSurface, LinearTarget, stable_id, wants
from tests.fakes.linear_api import FakeLinear
from tests.fakes.linear_state import Issue, Session, Team
from tests.views import Clock, migrated_store

KEY = "lin_api_surface"
PUBLIC = "https://baton.example"


class World:
    """A store, the Linear stand-in with one team and issue, and the surface fed by a real hub."""

    def __init__(self, tmp: Path, fake: FakeLinear, config: dict[str, Any] | None = None) -> None:
        self.store = migrated_store(tmp)
        self.fake = fake
        self.team: Team = fake.workspace.add_team("ENG")
        self.issue: Issue = fake.workspace.add_issue(self.team, "Rename the flag")
        self.clock = Clock(1000.0)
        client = LinearClient(fake.url, KEY, schema=published_schema(), backoff_s=0.001, retries=1)
        self.surface = LinearSurface(
            client, self.store, parse_baton_file(config or {}), PUBLIC, min_edit_interval_s=5, clock=self.clock
        )
        self.hub = SurfaceHub(self.store)
        self.hub.register("linear", self.surface, wants)

    def new_run(self, run_id: str = "r1", session: Session | None = None) -> str:
        trigger = Trigger(
            source=Source.linear,
            actor=Actor(source=Source.linear, id="u-alice", display="Alice"),
            request="rename the flag",
            reply_to=ReplyTo(source=Source.linear, issue_id=self.issue.id),
            delivery_id=run_id,
        )
        self.store.create_run(RunSpec(run_id=run_id, trigger=trigger, repos=["api"], playbook="default"))
        target = LinearTarget(issue_id=self.issue.id, team_id=self.team.id, identifier=self.issue.identifier)
        if session is not None:
            target.session_id = session.id
        self.surface.remember(run_id, target)
        return run_id

    def open_pr(self, run_id: str, url: str, repo: str = "api", number: int = 1) -> None:
        change = ChangeSet(run_id=run_id, repo=repo, branch="b", base="main", number=number, url=url, head_sha="a" * 40)
        self.store.save_change(change)
        self.store.append_event(run_id, "pr_opened", {"repo": repo, "number": number, "url": url})

    def mutations(self, name: str) -> int:
        return len(self.fake.mutations(name))

    def issue_state(self) -> str:
        return self.fake.workspace.state_of(self.issue).name


@pytest.fixture
def fake() -> Iterator[FakeLinear]:
    with FakeLinear(api_key=KEY) as linear:
        yield linear


@pytest.fixture
def world(tmp_path: Path, fake: FakeLinear) -> World:
    return World(tmp_path, fake)


def test_the_first_event_of_a_run_creates_one_status_comment_with_the_card(world: World) -> None:
    run_id = world.new_run()
    world.hub.pump_once()
    comments = list(world.fake.workspace.comments.values())
    assert [c.issue_id for c in comments] == [world.issue.id]
    assert comments[0].id == stable_id(run_id, "card")
    assert f"Baton run [`{run_id}`]({PUBLIC}/runs/{run_id})" in comments[0].body


def test_a_state_change_edits_the_same_comment_in_place(world: World) -> None:
    run_id = world.new_run()
    world.hub.pump_once()
    world.store.set_state(run_id, RunState.working)
    world.hub.pump_once()
    (comment,) = world.fake.workspace.comments.values()
    assert comment.edits == 1 and "— working" in comment.body
    assert world.mutations("BatonCommentCreate") == 1


def test_a_create_that_landed_before_it_was_noted_is_found_not_repeated(world: World) -> None:
    run_id = world.new_run()
    world.surface.post_card(run_id)
    world.store.put_fact(run_id, CARD_FACT, {"id": stable_id(run_id, "card"), "created": False})  # the crash
    world.store.set_state(run_id, RunState.working)
    world.surface.post_card(run_id)
    assert len(world.fake.workspace.comments) == 1
    assert world.store.get_fact(run_id, CARD_FACT) == {"id": stable_id(run_id, "card"), "created": True}


def test_progress_between_milestones_is_coalesced_into_one_edit_per_interval(world: World) -> None:
    run_id = world.new_run()
    world.hub.pump_once()
    for i in range(5):
        step = Step(run_id=run_id, key=f"s{i}", name=f"step {i}", repo="api", state=StepState.succeeded)
        world.store.save_step_with_event(step, "step_finished", {"step": step.key})
        world.hub.pump_once()
    assert world.mutations("BatonCommentUpdate") == 0
    world.clock.now += 5
    world.hub.pump_once()
    (comment,) = world.fake.workspace.comments.values()
    assert world.mutations("BatonCommentUpdate") == 1 and "step 4" in comment.body


def test_a_local_forge_pr_is_attached_as_a_link_to_its_part_of_the_review_page(world: World) -> None:
    run_id = world.new_run()
    world.open_pr(run_id, "local://api/pull/1")
    world.hub.pump_once()
    (attachment,) = world.fake.workspace.attachments.values()
    assert (attachment.kind, attachment.url) == ("url", f"{PUBLIC}/runs/{run_id}/diff#api")


def test_a_github_pr_is_attached_with_linears_github_pr_link(tmp_path: Path, fake: FakeLinear) -> None:
    repos = [{"name": "api", "url": "/x", "forge": "github", "github": "acme/api"}]
    world = World(tmp_path, fake, {"repos": repos})
    run_id = world.new_run()
    world.open_pr(run_id, "https://github.com/acme/api/pull/12")
    world.hub.pump_once()
    (attachment,) = fake.workspace.attachments.values()
    assert (attachment.kind, attachment.url) == ("github_pr", "https://github.com/acme/api/pull/12")


def test_a_repeated_delivery_attaches_nothing_new(world: World) -> None:
    run_id = world.new_run()
    world.open_pr(run_id, "local://api/pull/1")
    view = world.store.view(run_id)
    assert view is not None
    event = world.store.events(run_id)[-1]
    world.surface.publish(view, event)
    world.surface.publish(view, event)
    assert world.mutations("BatonAttachURL") == 1


def test_the_issue_moves_to_started_then_review_then_completed_with_one_states_lookup(world: World) -> None:
    run_id = world.new_run()
    seen = []
    for state, waiting in [
        (RunState.planning, None),
        (RunState.working, None),
        (RunState.awaiting_approval, "approval"),
        (RunState.merging, None),
        (RunState.merged, None),
    ]:
        world.store.set_state(run_id, state, waiting_for=waiting)
        world.hub.pump_once()
        seen.append(world.issue_state())
    assert seen == ["In Progress", "In Progress", "In Review", "In Review", "Done"]
    assert world.mutations("BatonIssueSetState") == 3
    assert [c.operation for c in world.fake.calls].count("BatonTeamStates") == 1


def test_waiting_for_a_plan_approval_does_not_move_the_issue_to_review(world: World) -> None:
    run_id = world.new_run()
    world.store.set_state(run_id, RunState.awaiting_approval, waiting_for="plan")
    world.hub.pump_once()
    assert world.issue_state() == "Todo"


def test_state_moves_can_be_switched_off(tmp_path: Path, fake: FakeLinear) -> None:
    world = World(tmp_path, fake, {"linear": {"move_states": False}})
    run_id = world.new_run()
    world.store.set_state(run_id, RunState.working)
    world.hub.pump_once()
    assert world.mutations("BatonIssueSetState") == 0


def test_a_session_run_reports_steps_as_actions_approval_as_elicitation_and_merge_as_response(world: World) -> None:
    session = world.fake.workspace.add_session(world.issue, None)
    run_id = world.new_run(session=session)
    step = Step(run_id=run_id, key="api/01-agent", name="agent", repo="api", agent="script")
    world.store.save_step_with_event(step, "step_started", {"step": step.key, "repo": "api", "agent": "script"})
    world.open_pr(run_id, "local://api/pull/1")
    world.store.append_event(run_id, "approval_requested", {"prs": ["local://api/pull/1"]})
    world.store.set_state(run_id, RunState.merged)
    world.hub.pump_once()
    kinds = [a.content["type"] for a in world.fake.workspace.activities.values()]
    assert kinds == ["action", "action", "elicitation", "response"]


def test_an_activity_is_posted_once_when_its_event_is_delivered_again(world: World) -> None:
    session = world.fake.workspace.add_session(world.issue, None)
    run_id = world.new_run(session=session)
    world.store.append_event(run_id, "approval_requested", {"prs": []})
    view = world.store.view(run_id)
    assert view is not None
    event = world.store.events(run_id)[-1]
    world.surface.publish(view, event)
    world.store.put_fact(run_id, ACTIVITY_FACT, {"done": [], "pending": f"seq-{event.seq}"})  # crash after create
    world.surface.publish(view, event)
    assert len(world.fake.workspace.activities) == 1
    assert world.mutations("BatonAgentActivityCreate") == 1


def test_after_the_closing_activity_nothing_more_is_posted(world: World) -> None:
    session = world.fake.workspace.add_session(world.issue, None)
    run_id = world.new_run(session=session)
    world.store.set_state(run_id, RunState.cancelled, error="cancelled by linear:u-alice")
    step = Step(run_id=run_id, key="api/01-agent", name="agent", repo="api", state=StepState.failed)
    world.store.save_step_with_event(step, "step_finished", {"step": step.key, "state": "failed"})  # killed agent
    world.hub.pump_once()
    assert [a.content["type"] for a in world.fake.workspace.activities.values()] == ["response"]


def test_a_rate_limit_keeps_the_surface_quiet_until_linears_reset(world: World) -> None:
    run_id = world.new_run()
    world.fake.ratelimit(5, retry_after_s=30)
    view = world.store.view(run_id)
    assert view is not None
    event = world.store.events(run_id)[-1]
    with pytest.raises(LinearRateLimited):
        world.surface.publish(view, event)
    calls = len(world.fake.calls)
    with pytest.raises(LinearRateLimited):
        world.surface.publish(view, event)
    assert len(world.fake.calls) == calls
    world.clock.now += 31
    world.fake.ratelimit(0)
    world.surface.publish(view, event)
    assert len(world.fake.workspace.comments) == 1


def test_an_event_linear_keeps_refusing_is_skipped_after_three_tries(world: World) -> None:
    run_id = world.new_run()
    world.surface.remember(run_id, LinearTarget(issue_id="0d6c1b7a-0000-4000-8000-00000000dead"))
    for _ in range(3):
        world.hub.pump_once()
    world.hub.pump_once()
    assert world.store.get_fact(run_id, "surface:linear") == {"seq": 1}
    assert world.fake.workspace.comments == {}


def test_runs_from_other_sources_are_not_linears() -> None:
    trigger = Trigger(
        source=Source.slack,
        actor=Actor(source=Source.slack, id="U1"),
        request="x",
        reply_to=ReplyTo(source=Source.slack, channel="C1"),
        delivery_id="d",
    )
    from bot.domain.records import Run, RunView

    spec = RunSpec(run_id="r", trigger=trigger, repos=[], playbook="default")
    assert not wants(RunView(run=Run(run_id="r", state=RunState.queued, spec=spec)))


def test_an_approval_reminder_is_one_new_comment_naming_the_approvers_even_when_delivered_again(
    tmp_path: Path, fake: FakeLinear
) -> None:
    world = World(tmp_path, fake, {"approval": {"approvers": ["linear:u-bob"]}})
    run_id = world.new_run()
    world.hub.pump_once()
    reminder = world.store.append_event(run_id, "approval_reminder", {"number": 1, "waited_hours": 24})
    view = world.store.view(run_id)
    assert reminder is not None and view is not None
    world.surface.publish(view, reminder)
    world.surface.publish(view, reminder)  # the hub delivers at least once

    reminders = [c for c in world.fake.workspace.comments.values() if c.id != stable_id(run_id, "card")]
    assert len(reminders) == 1
    assert "waited 1d00h for approval" in reminders[0].body and "`linear:u-bob`" in reminders[0].body
