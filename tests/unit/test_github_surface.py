"""The GitHub surface and the conversation helpers under it: exactly one status comment per run,
found again by its marker after a restart or a lost answer, edits coalesced while a run is busy,
PR bodies listing their siblings, replies written once per key, roles read the way GitHub means them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config.models import BatonFile
from bot.domain.models import Actor, ChangeSet, ReplyTo, RunSpec, RunState, Source, Trigger
from bot.services.github.issues import GitHubIssues, status_marker
from bot.store.store import Store
from bot.surfaces.github.surface import GitHubSurface
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import api_for, baton_config, start_fake
from tests.gitutil import commit_to_remote
from tests.views import Clock, migrated_store

ISSUE = "acme/api"
World = tuple[FakeGitHub, BatonFile, dict[str, Path]]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    fake, remotes = start_fake(tmp_path, ["api", "web"])
    fake.open_issue(ISSUE, "Rename /items", "Please.", "carol")
    yield fake, baton_config(remotes), remotes
    fake.stop()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return migrated_store(tmp_path)


def _run(store: Store, run_id: str = "r1") -> str:
    trigger = Trigger(
        source=Source.github,
        actor=Actor(source=Source.github, id="alice", display="alice"),
        request="rename /items to /v2/items",
        reply_to=ReplyTo(source=Source.github, repo=ISSUE, issue_number=1),
        delivery_id=f"d-{run_id}",
    )
    store.create_run(RunSpec(run_id=run_id, trigger=trigger, repos=["api", "web"], playbook="default"))
    return run_id


def _status_comments(fake: FakeGitHub, run_id: str = "r1") -> list[str]:
    return [c.body for c in fake.comments_on(ISSUE, 1) if status_marker(run_id) in c.body]


def test_the_status_comment_is_written_once_then_edited_in_place(world: World, store: Store) -> None:
    fake, config, _ = world
    surface = GitHubSurface(store, GitHubIssues(api_for(fake, config)), config)
    run_id = _run(store)
    surface.write_status(run_id)
    store.set_state(run_id, RunState.working)
    surface.write_status(run_id)

    [body] = _status_comments(fake)
    assert "**working**" in body
    assert [len(fake.calls("POST", r"/issues/1/comments$")), len(fake.calls("PATCH", r"/issues/comments/"))] == [1, 1]


def test_a_restarted_bot_finds_its_status_comment_by_the_marker(world: World, store: Store) -> None:
    fake, config, _ = world
    run_id = _run(store)
    GitHubSurface(store, GitHubIssues(api_for(fake, config)), config).write_status(run_id)
    store.put_fact(run_id, "github:status", {"repo": ISSUE, "number": 1, "comment_id": 0})  # lost on restart

    issues = GitHubIssues(api_for(fake, config))
    comment_id = issues.upsert_status(ISSUE, 1, run_id, "after the restart", None)

    assert _status_comments(fake) == [f"{status_marker(run_id)}\nafter the restart"]
    assert comment_id == fake.comments_on(ISSUE, 1)[0].id


def test_a_lost_answer_while_creating_the_status_comment_leaves_one_comment(world: World, store: Store) -> None:
    fake, config, _ = world
    fake.fail("POST", r"^/repos/acme/api/issues/1/comments$", 502, after=True)
    run_id = _run(store)

    GitHubSurface(store, GitHubIssues(api_for(fake, config)), config).write_status(run_id)

    assert len(_status_comments(fake)) == 1
    assert [c.status for c in fake.calls("POST", r"/issues/1/comments$")] == [502]


def test_edits_are_coalesced_while_the_run_is_busy(world: World, store: Store) -> None:
    fake, config, _ = world
    clock = Clock()
    surface = GitHubSurface(store, GitHubIssues(api_for(fake, config)), config, clock=clock)
    run_id = _run(store)
    surface.write_status(run_id)
    for state in (RunState.planning, RunState.working):
        store.set_state(run_id, state)
        view = store.view(run_id)
        assert view is not None
        surface.publish(view, store.events(run_id)[-1])
    surface.flush()
    assert fake.calls("PATCH", r"/issues/comments/") == []  # within a second of the last edit

    clock.now += 1.5
    surface.flush()
    assert len(fake.calls("PATCH", r"/issues/comments/")) == 1


def test_an_ended_run_is_written_at_once(world: World, store: Store) -> None:
    fake, config, _ = world
    surface = GitHubSurface(store, GitHubIssues(api_for(fake, config)), config, clock=Clock())
    run_id = _run(store)
    surface.write_status(run_id)
    store.set_state(run_id, RunState.failed, error="agent failed in api")
    view = store.view(run_id)
    assert view is not None
    surface.publish(view, store.events(run_id)[-1])
    surface.flush()

    [body] = _status_comments(fake)
    assert "**failed**" in body and "agent failed in api" in body


def _pr(fake: FakeGitHub, remotes: dict[str, Path], repo: str, store: Store, order: int) -> ChangeSet:
    commit_to_remote(remotes[repo], "baton/r1/x", {"x.txt": repo}, "x")
    answer = fake.routes.dispatch(
        "POST",
        f"/repos/acme/{repo}/pulls",
        {},
        {"title": "t", "head": "baton/r1/x", "base": "main", "body": "Asked by alice."},
        "baton-bot",
    ).body
    change = ChangeSet(
        run_id="r1",
        repo=repo,
        branch="baton/r1/x",
        base="main",
        number=answer["number"],
        url=answer["html_url"],
        head_sha=answer["head"]["sha"],
        order=order,
    )
    store.save_change(change)
    return change


def test_every_pr_body_lists_its_siblings_and_keeps_what_was_there(world: World, store: Store) -> None:
    fake, config, remotes = world
    surface = GitHubSurface(store, GitHubIssues(api_for(fake, config)), config)
    _run(store)
    api = _pr(fake, remotes, "api", store, 0)
    surface.write_bodies("r1")
    web = _pr(fake, remotes, "web", store, 1)
    surface.write_bodies("r1")
    surface.write_bodies("r1")

    [api_pull], [web_pull] = fake.pulls("acme/api"), fake.pulls("acme/web")
    for pull in (api_pull, web_pull):
        assert pull.body.startswith("Asked by alice.")
        assert f"1. acme/api#{api.number}" in pull.body and f"2. acme/web#{web.number}" in pull.body
        assert pull.body.count("<!-- baton:linked-prs -->") == 1
    assert "Fixes acme/api#1" in api_pull.body and "Part of acme/api#1" in web_pull.body
    assert len(fake.calls("PATCH", r"^/repos/acme/api/pulls/")) == 2  # the third pass changed nothing


def test_a_reply_whose_answer_was_lost_is_not_posted_twice(world: World) -> None:
    fake, config, _ = world
    issues = GitHubIssues(api_for(fake, config))
    issues.reply(ISSUE, 1, "approve recorded", "delivery-7")
    fake.fail("POST", r"^/repos/acme/api/issues/1/comments$", 502, after=True)
    issues.reply(ISSUE, 1, "reject recorded", "delivery-8")

    assert [c.body.split("\n")[0] for c in fake.comments_on(ISSUE, 1)] == ["approve recorded", "reject recorded"]
    assert len(fake.calls("POST", r"/issues/1/comments$")) == 2


@pytest.mark.parametrize(
    ("role", "read"), [("maintain", "maintain"), ("triage", "triage"), ("admin", "admin"), ("write", "write")]
)
def test_roles_are_read_from_githubs_flags_not_the_folded_permission(world: World, role: str, read: str) -> None:
    fake, config, _ = world
    fake.grant(ISSUE, "dana", role)
    assert GitHubIssues(api_for(fake, config)).role(ISSUE, "dana") == read


def test_someone_without_access_has_no_role(world: World) -> None:
    fake, config, _ = world
    fake.add_user("eve")
    issues = GitHubIssues(api_for(fake, config))
    assert (issues.role(ISSUE, "eve"), issues.role(ISSUE, "nobody-at-all")) == (None, None)


def test_an_approval_reminder_is_one_comment_mentioning_the_approvers_even_when_delivered_again(
    world: World, store: Store
) -> None:
    fake, config, _ = world
    config = config.model_copy(
        update={"approval": config.approval.model_copy(update={"approvers": ["github:maya", "github:*", "slack:U1"]})}
    )
    surface = GitHubSurface(store, GitHubIssues(api_for(fake, config)), config)
    run_id = _run(store)
    reminder = store.append_event(run_id, "approval_reminder", {"number": 2, "waited_hours": 48})
    view = store.view(run_id)
    assert reminder is not None and view is not None
    surface.publish(view, reminder)
    surface.publish(view, reminder)  # the hub delivers at least once

    [comment] = [c.body for c in fake.comments_on(ISSUE, 1) if "Reminder" in c.body]
    assert comment.startswith(f"⏰ Reminder: Baton run `{run_id}` has waited 2d00h for approval. @maya: ")
