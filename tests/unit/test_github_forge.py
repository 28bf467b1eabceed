"""The GitHub forge against the fake GitHub (real HTTP, real bare repos): PRs found by head branch
before one is opened, drafts until checks pass, checks read as they are now, merges guarded by the
approved SHA and really merged by git."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config.models import BatonFile
from bot.domain.models import ChangeSet, ChangeState
from bot.domain.ports import ForgeError, MergeRefused
from bot.scm.github import GitHubForge
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import api_for, baton_config, start_fake
from tests.gitutil import commit_to_remote, read_file_on, ref_sha

BRANCH = "baton/r1/rename-items"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeGitHub, dict[str, Path]]]:
    fake, remotes = start_fake(tmp_path, ["api", "web"])
    yield fake, remotes
    fake.stop()


def _forge(fake: FakeGitHub, config: BatonFile) -> GitHubForge:
    return GitHubForge(api_for(fake, config), config)


def _pushed(remotes: dict[str, Path], repo: str, text: str = "use /v2/items\n") -> str:
    return commit_to_remote(remotes[repo], BRANCH, {"README.md": f"# {repo}\n{text}"}, "rename /items")


def _open(forge: GitHubForge, remotes: dict[str, Path], repo: str = "api") -> ChangeSet:
    _pushed(remotes, repo)
    return forge.open_pr("r1", repo, BRANCH, "[baton] rename /items", "Requested by alice", 0)


def _opened(world: tuple[FakeGitHub, dict[str, Path]]) -> tuple[FakeGitHub, GitHubForge, ChangeSet]:
    """The fake, a forge on the default config, and the run's PR it opened on api."""
    fake, remotes = world
    forge = _forge(fake, baton_config(remotes))
    return fake, forge, _open(forge, remotes)


def test_open_pr_opens_one_draft_pr_from_the_run_branch(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    change = _open(_forge(fake, baton_config(remotes)), remotes)

    [pull] = fake.pulls("acme/api")
    assert (pull.head, pull.base, pull.draft, pull.title) == (BRANCH, "main", True, "[baton] rename /items")
    assert (change.number, change.head_sha, change.state) == (
        pull.number,
        ref_sha(remotes["api"], BRANCH),
        ChangeState.open,
    )
    assert change.url.endswith(f"/acme/api/pull/{pull.number}")


def test_open_pr_twice_finds_the_first_by_head_branch(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    forge = _forge(fake, baton_config(remotes))
    first = _open(forge, remotes)
    again = forge.open_pr("r1", "api", BRANCH, "[baton] rename /items", "body", 0)

    assert again.number == first.number
    assert len(fake.pulls("acme/api")) == 1
    assert len(fake.calls("POST", r"/pulls$")) == 1


def test_a_502_before_the_pr_is_created_is_retried_into_exactly_one_pr(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, remotes = world
    fake.fail("POST", r"/repos/acme/api/pulls$", 502)
    _open(_forge(fake, baton_config(remotes)), remotes)

    assert [c.status for c in fake.calls("POST", r"/pulls$")] == [502, 201]
    assert len(fake.pulls("acme/api")) == 1


def test_a_502_after_github_created_the_pr_finds_it_instead_of_posting_again(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, remotes = world
    fake.fail("POST", r"/repos/acme/api/pulls$", 502, after=True)
    change = _open(_forge(fake, baton_config(remotes)), remotes)

    assert [c.status for c in fake.calls("POST", r"/pulls$")] == [502]
    assert [p.number for p in fake.pulls("acme/api")] == [change.number]


def test_refresh_reads_the_new_head_after_a_push(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    forge = _forge(fake, baton_config(remotes))
    change = _open(forge, remotes)
    moved = _pushed(remotes, "api", "someone else's commit\n")

    assert forge.refresh(change).head_sha == moved


def test_checks_with_nothing_reported_yet_are_pending(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    forge = _forge(fake, baton_config(remotes))
    outcome = forge.run_checks(_open(forge, remotes))

    assert (outcome.pending, outcome.passed) == (True, False)


def test_checks_with_no_ci_pass_when_checks_are_not_required(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    forge = _forge(fake, baton_config(remotes, require_checks=False))
    outcome = forge.run_checks(_open(forge, remotes))

    assert (outcome.pending, outcome.passed) == (False, True)


def test_a_check_still_running_keeps_checks_pending(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, forge, change = _opened(world)
    fake.add_check_run("acme/api", change.head_sha, "lint", "success")
    fake.add_check_run("acme/api", change.head_sha, "test", None)

    outcome = forge.run_checks(change)
    assert outcome.pending
    assert "test: in_progress" in outcome.output_tail


def test_green_checks_pass_and_the_draft_becomes_ready_for_review(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, forge, change = _opened(world)
    fake.add_check_run("acme/api", change.head_sha, "test", "success")
    fake.set_status("acme/api", change.head_sha, "ci/legacy", "success")

    outcome = forge.run_checks(change)
    assert (outcome.passed, outcome.pending, outcome.sha) == (True, False, change.head_sha)
    assert fake.pulls("acme/api")[0].draft is False
    assert len(fake.calls("POST", r"^/graphql$")) == 1


def test_a_failed_check_fails_with_its_output(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, forge, change = _opened(world)
    fake.add_check_run("acme/api", change.head_sha, "test", "failure", summary="1 failed", text="test_items: 404")

    outcome = forge.run_checks(change)
    assert (outcome.passed, outcome.pending) == (False, False)
    assert "test: failure" in outcome.output_tail and "test_items: 404" in outcome.output_tail
    assert fake.pulls("acme/api")[0].draft is True


def test_a_failing_commit_status_fails_the_checks(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, forge, change = _opened(world)
    fake.set_status("acme/api", change.head_sha, "ci/jenkins", "pending")
    fake.set_status("acme/api", change.head_sha, "ci/jenkins", "failure", "build broke")

    outcome = forge.run_checks(change)
    assert (outcome.passed, outcome.pending) == (False, False)
    assert "build broke" in outcome.output_tail


def test_a_rerun_that_passed_replaces_the_failed_run(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, forge, change = _opened(world)
    fake.add_check_run("acme/api", change.head_sha, "test", "failure")
    fake.add_check_run("acme/api", change.head_sha, "test", "success")

    assert forge.run_checks(change).passed


def _green(fake: FakeGitHub, change: ChangeSet, repo: str = "acme/api") -> None:
    fake.add_check_run(repo, change.head_sha, "test", "success")


def test_merge_squashes_onto_main_and_deletes_the_branch(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    forge = _forge(fake, baton_config(remotes))
    change = _open(forge, remotes)
    _green(fake, change)

    merged = forge.merge(change, change.head_sha)

    assert merged.state is ChangeState.merged
    assert merged.merge_sha == ref_sha(remotes["api"], "main")
    assert "use /v2/items" in read_file_on(remotes["api"], "main", "README.md")
    [put] = fake.calls("PUT", r"/merge$")
    assert put.body["sha"] == change.head_sha and put.body["merge_method"] == "squash"
    assert [c.status for c in fake.calls("DELETE", BRANCH)] == [204]


def test_merge_method_merge_makes_a_merge_commit(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    forge = _forge(fake, baton_config(remotes, merge_method="merge", delete_branch_after_merge=False))
    change = _open(forge, remotes)
    _green(fake, change)

    forge.merge(change, change.head_sha)

    parents = read_file_on(remotes["api"], "main", "README.md")
    assert "use /v2/items" in parents
    assert ref_sha(remotes["api"], "main^2") == change.head_sha
    assert fake.calls("DELETE", BRANCH) == []


def test_merge_refuses_with_409_when_the_head_moved_since_approval(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    forge = _forge(fake, baton_config(remotes))
    change = _open(forge, remotes)
    main_before = ref_sha(remotes["api"], "main")
    _pushed(remotes, "api", "a late push\n")

    with pytest.raises(MergeRefused) as refused:
        forge.merge(change, change.head_sha)

    assert "409" in str(refused.value) and "/baton retry" in str(refused.value)
    assert ref_sha(remotes["api"], "main") == main_before


def test_merge_refuses_with_405_on_a_conflict(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    forge = _forge(fake, baton_config(remotes))
    change = _open(forge, remotes)
    _green(fake, change)
    commit_to_remote(remotes["api"], "main", {"README.md": "# api\nsomething else entirely\n"}, "conflicting")

    with pytest.raises(MergeRefused) as refused:
        forge.merge(change, change.head_sha)

    assert "405" in str(refused.value) and "not mergeable" in str(refused.value)


def test_a_merge_repeated_after_it_went_through_merges_nothing_more(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, forge, change = _opened(world)
    _green(fake, change)
    first = forge.merge(change, change.head_sha)

    again = forge.merge(change, change.head_sha)

    assert (again.state, again.merge_sha) == (ChangeState.merged, first.merge_sha)
    assert len(fake.calls("PUT", r"/merge$")) == 1


def test_mergeable_null_is_polled_until_github_knows(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    fake.world.unknown_mergeable_reads = 3
    forge = _forge(fake, baton_config(remotes))
    change = _open(forge, remotes)
    _green(fake, change)

    forge.merge(change, change.head_sha)

    put = next(i for i, r in enumerate(fake.requests) if r.method == "PUT")
    reads = [r.response["mergeable"] for r in fake.requests[:put] if r.method == "GET" and r.path.endswith("/pulls/1")]
    assert None in reads and reads[-1] is True


def test_bad_credentials_fail_without_showing_the_token(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    config = baton_config(remotes)
    forge = GitHubForge(api_for(fake, config, token="ghp_wrongwrongwrong"), config)
    _pushed(remotes, "api")

    with pytest.raises(ForgeError) as failed:
        forge.open_pr("r1", "api", BRANCH, "t", "b", 0)

    assert "401" in str(failed.value)
    assert "ghp_wrongwrongwrong" not in str(failed.value)


def test_a_repo_that_is_not_on_github_is_refused_by_name(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    with pytest.raises(ForgeError, match="'elsewhere' is not a GitHub repo"):
        _forge(fake, baton_config(remotes)).find_pr("elsewhere", BRANCH)


def test_close_closes_the_pr_without_merging(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, forge, change = _opened(world)

    closed = forge.close(change)
    again = forge.close(change)

    assert closed.state is ChangeState.closed and again.state is ChangeState.closed
    assert [c.body.get("state") for c in fake.calls("PATCH", r"/pulls/\d+$")] == ["closed"]
    assert not fake.calls("PUT", r"/merge$")


def test_merge_refuses_a_pr_retargeted_away_from_the_repos_default_branch(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, forge, change = _opened(world)
    remotes = world[1]
    _green(fake, change)
    commit_to_remote(remotes["api"], "release", {"RELEASE.md": "1.0\n"}, "the release branch")
    release = ref_sha(remotes["api"], "release")
    fake.retarget_pull("acme/api", change.number, "release", "maya")

    with pytest.raises(MergeRefused, match="targets release, not main"):
        forge.merge(change, change.head_sha)

    assert fake.calls("PUT", r"/merge$") == []
    assert ref_sha(remotes["api"], "release") == release


def test_a_transient_base_branch_was_modified_is_retried_until_the_merge_lands(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, forge, change = _opened(world)
    _green(fake, change)
    moved = fake.bodies.error("Base branch was modified. Review and try the merge again.")
    fake.fail("PUT", r"/merge$", 405, times=2, body=moved)

    merged = forge.merge(change, change.head_sha)

    assert merged.state is ChangeState.merged
    assert [c.status for c in fake.calls("PUT", r"/merge$")] == [405, 405, 200]


def test_base_branch_was_modified_four_times_running_stops_after_three_retries(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, forge, change = _opened(world)
    _green(fake, change)
    moved = fake.bodies.error("Base branch was modified. Review and try the merge again.")
    fake.fail("PUT", r"/merge$", 405, times=4, body=moved)

    with pytest.raises(MergeRefused, match="Base branch was modified"):
        forge.merge(change, change.head_sha)

    assert [c.status for c in fake.calls("PUT", r"/merge$")] == [405, 405, 405, 405]


def test_green_checks_do_not_undraft_a_pr_a_person_moved_back_to_draft(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, forge, change = _opened(world)
    _green(fake, change)
    assert forge.run_checks(change).passed and not fake.pulls("acme/api")[0].draft
    fake.convert_to_draft("acme/api", change.number, "maya")

    again = forge.run_checks(change)

    assert again.passed
    assert fake.pulls("acme/api")[0].draft


def test_merge_refuses_a_pr_a_person_moved_back_to_draft(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, forge, change = _opened(world)
    _green(fake, change)
    forge.run_checks(change)
    fake.convert_to_draft("acme/api", change.number, "maya")

    with pytest.raises(MergeRefused, match="moved back to draft"):
        forge.merge(change, change.head_sha)

    assert fake.calls("PUT", r"/merge$") == []
    assert fake.pulls("acme/api")[0].draft


def test_readiness_names_a_conflict_with_the_base(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, forge, change = _opened(world)
    _green(fake, change)
    commit_to_remote(world[1]["api"], "main", {"README.md": "# api\nsomething else entirely\n"}, "conflicting")

    ready = forge.readiness(change)

    assert (ready.conflict, ready.problem) == (True, f"#{change.number} has conflicts with main")


def test_a_pr_merged_by_someone_else_is_refreshed_with_its_real_merge_commit_and_who_merged_it(
    world: tuple[FakeGitHub, dict[str, Path]],
) -> None:
    fake, forge, change = _opened(world)
    _green(fake, change)
    forge.run_checks(change)  # green: Baton marks its draft ready for review
    sha = fake.merge_as("acme/api", change.number, "maya")

    fresh = forge.refresh(change)

    assert (fresh.state, fresh.merge_sha, fresh.merged_by) == (ChangeState.merged, sha, "maya")
