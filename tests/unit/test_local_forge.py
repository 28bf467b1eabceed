"""LocalForge over real bare git remotes: PR records, checks, guarded merges. No mocks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.agents.checks import ChecksRunner
from bot.agents.sandbox import default_sandbox
from bot.config.models import RepoConfig
from bot.domain.models import ChangeState, ChecksState
from bot.domain.ports import ForgeError, MergeRefused
from bot.scm.git import run_git
from bot.scm.local import LocalForge
from tests.gitutil import commit_to_remote, make_remote, read_file_on, ref_sha

BRANCH = "baton/r1/add-feature"
CHECKS = 'test -f feature.txt && echo "checked $(cat feature.txt)"'


@pytest.fixture
def repos(tmp_path: Path) -> dict[str, RepoConfig]:
    api = make_remote(tmp_path, "api", {"README.md": "hello\n"})
    return {"api": RepoConfig(name="api", url=str(api), checks=CHECKS)}


@pytest.fixture
def api(repos: dict[str, RepoConfig]) -> Path:
    return Path(repos["api"].url)


def make_forge(tmp_path: Path, repos: dict[str, RepoConfig], **kw: float) -> LocalForge:
    checks = ChecksRunner(default_sandbox(), tmp_path / "work" / "homes")
    return LocalForge(tmp_path / "forge", repos.__getitem__, tmp_path / "work", checks, **kw)


@pytest.fixture
def forge(tmp_path: Path, repos: dict[str, RepoConfig]) -> LocalForge:
    return make_forge(tmp_path, repos)


def open_feature(forge: LocalForge, api: Path, content: str = "on\n") -> str:
    sha = commit_to_remote(api, BRANCH, {"feature.txt": content}, "add feature")
    forge.open_pr("r1", "api", BRANCH, "Add feature", "Body text", order=0)
    return sha


def reject_pushes(remote: Path) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch' >&2\nexit 1\n")
    hook.chmod(0o755)


# -- opening and finding -------------------------------------------------------------------------


def test_open_pr_records_branch_base_head_and_url(forge: LocalForge, api: Path) -> None:
    sha = commit_to_remote(api, BRANCH, {"feature.txt": "on\n"}, "add feature")
    pr = forge.open_pr("r1", "api", BRANCH, "Add feature", "Body", order=2)
    assert (pr.number, pr.url, pr.base, pr.branch) == (1, "local://api/pull/1", "main", BRANCH)
    assert (pr.head_sha, pr.state, pr.order, pr.run_id) == (sha, ChangeState.open, 2, "r1")


def test_open_pr_twice_returns_the_same_pr(forge: LocalForge, api: Path) -> None:
    open_feature(forge, api)
    again = forge.open_pr("r1", "api", BRANCH, "Other title", "", order=0)
    assert again.number == 1
    assert [p.name for p in (forge.state_dir / "api").glob("*.json")] == ["1.json"]


def test_two_processes_opening_at_once_get_one_pr(tmp_path: Path, repos: dict[str, RepoConfig], api: Path) -> None:
    commit_to_remote(api, BRANCH, {"feature.txt": "on\n"}, "add feature")
    forges = [make_forge(tmp_path, repos) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        prs = list(pool.map(lambda i: forges[i % 2].open_pr("r1", "api", BRANCH, "t", "", 0), range(6)))
    assert {pr.number for pr in prs} == {1}


def test_pr_numbers_increment_per_repo(
    tmp_path: Path, forge: LocalForge, repos: dict[str, RepoConfig], api: Path
) -> None:
    web = make_remote(tmp_path, "web", {"README.md": "web\n"})
    repos["web"] = RepoConfig(name="web", url=f"file://{web}")  # file:// URLs work too
    commit_to_remote(api, "baton/r1/a", {"a.txt": "a"}, "a")
    commit_to_remote(api, "baton/r1/b", {"b.txt": "b"}, "b")
    commit_to_remote(web, "baton/r1/a", {"a": "a"}, "a")
    assert forge.open_pr("r1", "api", "baton/r1/a", "a", "", 0).number == 1
    assert forge.open_pr("r1", "api", "baton/r1/b", "b", "", 0).number == 2
    assert forge.open_pr("r1", "web", "baton/r1/a", "a", "", 1).number == 1


def test_open_pr_for_a_branch_not_on_the_remote_raises(forge: LocalForge) -> None:
    with pytest.raises(ForgeError, match="has no branch baton/r1/missing"):
        forge.open_pr("r1", "api", "baton/r1/missing", "t", "", 0)


def test_unknown_repo_raises_forge_error(forge: LocalForge) -> None:
    with pytest.raises(ForgeError, match="unknown repo 'nope'"):
        forge.find_pr("nope", BRANCH)


def test_find_pr_returns_none_when_no_pr_for_branch(forge: LocalForge) -> None:
    assert forge.find_pr("api", BRANCH) is None


def test_find_pr_finds_a_merged_pr(forge: LocalForge, api: Path) -> None:
    sha = open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    forge.merge(pr, sha)
    found = forge.find_pr("api", BRANCH)
    assert found is not None and found.state is ChangeState.merged and found.number == 1


def test_pr_record_keeps_title_and_body(forge: LocalForge, api: Path) -> None:
    open_feature(forge, api)
    record = forge.record("api", 1)
    assert (record.title, record.body) == ("Add feature", "Body text")


def test_refresh_reports_the_new_head_after_a_push(forge: LocalForge, api: Path) -> None:
    open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    newer = commit_to_remote(api, BRANCH, {"feature.txt": "v2\n"}, "more")
    assert forge.refresh(pr).head_sha == newer


# -- checks --------------------------------------------------------------------------------------


def test_checks_run_on_head_sha(forge: LocalForge, api: Path) -> None:
    open_feature(forge, api, "v1\n")
    stale = forge.find_pr("api", BRANCH)
    assert stale is not None
    head = commit_to_remote(api, BRANCH, {"feature.txt": "v2\n"}, "v2")
    outcome = forge.run_checks(stale)
    assert outcome.passed and outcome.sha == head
    assert "checked v2" in outcome.output_tail


def test_checks_result_is_saved_on_the_pr(forge: LocalForge, api: Path) -> None:
    open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None and pr.checks is ChecksState.unknown
    forge.run_checks(pr)
    after = forge.refresh(pr)
    assert after.checks is ChecksState.passed and "checked on" in after.checks_output


def test_failing_checks_report_failed_with_output_tail(
    forge: LocalForge, api: Path, repos: dict[str, RepoConfig]
) -> None:
    repos["api"] = repos["api"].model_copy(update={"checks": "seq 1 5000; echo boom >&2; exit 3"})
    open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    outcome = forge.run_checks(pr)
    assert not outcome.passed
    assert outcome.output_tail.endswith("5000\nboom") and len(outcome.output_tail) <= 4000
    assert forge.refresh(pr).checks is ChecksState.failed


def test_no_checks_command_means_passed(forge: LocalForge, api: Path, repos: dict[str, RepoConfig]) -> None:
    repos["api"] = repos["api"].model_copy(update={"checks": None})
    sha = open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    outcome = forge.run_checks(pr)
    assert outcome.passed and outcome.sha == sha


def test_checks_result_is_forgotten_when_the_head_moves(forge: LocalForge, api: Path) -> None:
    open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    forge.run_checks(pr)
    commit_to_remote(api, BRANCH, {"feature.txt": "v2\n"}, "v2")
    assert forge.refresh(pr).checks is ChecksState.unknown


def test_checks_that_run_too_long_are_killed_and_fail(tmp_path: Path, repos: dict[str, RepoConfig], api: Path) -> None:
    repos["api"] = repos["api"].model_copy(update={"checks": "echo started; sleep 30"})
    forge = make_forge(tmp_path, repos, checks_timeout_s=0.3)
    open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    outcome = forge.run_checks(pr)
    assert not outcome.passed and "timed out" in outcome.output_tail


def test_checks_see_only_their_checks_env_and_an_own_home_never_batons_environment(
    forge: LocalForge, api: Path, repos: dict[str, RepoConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-hidden-1")
    monkeypatch.setenv("MY_API_TOKEN", "tok-hidden-2")
    monkeypatch.setenv("HARMLESS_SETTING", "not listed")
    monkeypatch.setenv("NPM_TOKEN", "npm-listed-3")
    checks_env = {"CI": "true", "NPM_TOKEN": "${NPM_TOKEN}"}
    repos["api"] = repos["api"].model_copy(update={"checks": "env", "checks_env": checks_env})
    open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    output = forge.run_checks(pr).output_tail
    names = sorted(line.split("=", 1)[0] for line in output.splitlines())
    # What `sh -c env` shows: the base every confined process gets, the listed ones, and sh's PWD.
    assert names == ["CI", "HOME", "LANG", "LC_ALL", "NPM_TOKEN", "PATH", "PWD", "PYTHONDONTWRITEBYTECODE", "TMPDIR"]
    assert "NPM_TOKEN=[REDACTED]" in output  # listed, and redacted from what people see
    assert "hidden-1" not in output and "hidden-2" not in output and "not listed" not in output
    home = next(line.split("=", 1)[1] for line in output.splitlines() if line.startswith("HOME="))
    assert Path(home).is_relative_to(forge.workdir) and str(Path.home()) != home


# -- merging -------------------------------------------------------------------------------------


def test_merge_makes_a_no_ff_merge_on_the_default_branch(forge: LocalForge, api: Path) -> None:
    sha = open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    merged = forge.merge(pr, sha)
    assert merged.state is ChangeState.merged and merged.merge_sha == ref_sha(api, "main")
    assert read_file_on(api, "main", "feature.txt") == "on\n"
    git = ["--git-dir", str(api), "log", "-1", "--format=%P|%s|%an", "main"]
    parents, subject, author = run_git(git, api).split("|")
    assert parents.split()[1] == sha
    assert (subject, author) == ("Merge local://api/pull/1: Add feature", "Baton")


def test_merge_refused_when_head_moved_since_approval(forge: LocalForge, api: Path) -> None:
    approved = open_feature(forge, api)
    main_before = ref_sha(api, "main")
    moved = commit_to_remote(api, BRANCH, {"feature.txt": "sneaky\n"}, "after approval")
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    with pytest.raises(MergeRefused, match=f"expected {approved}, found {moved}"):
        forge.merge(pr, approved)
    assert ref_sha(api, "main") == main_before
    assert forge.refresh(pr).state is ChangeState.open


def test_merge_is_idempotent(forge: LocalForge, api: Path) -> None:
    sha = open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    first = forge.merge(pr, sha)
    main_after = ref_sha(api, "main")
    second = forge.merge(pr, sha)
    assert second.merge_sha == first.merge_sha
    assert ref_sha(api, "main") == main_after


def test_merge_conflict_leaves_remote_untouched(forge: LocalForge, api: Path) -> None:
    sha = commit_to_remote(api, BRANCH, {"README.md": "ours\n"}, "edit readme")
    commit_to_remote(api, "main", {"README.md": "theirs\n"}, "conflicting edit")
    main_before = ref_sha(api, "main")
    pr = forge.open_pr("r1", "api", BRANCH, "Edit", "", 0)
    with pytest.raises(MergeRefused, match=r"merge conflict in README\.md"):
        forge.merge(pr, sha)
    assert ref_sha(api, "main") == main_before
    after = forge.refresh(pr)
    assert after.state is ChangeState.open and after.merge_error and "conflict" in after.merge_error


def test_merge_rejected_by_the_remote_leaves_it_untouched(forge: LocalForge, api: Path) -> None:
    sha = open_feature(forge, api)
    main_before = ref_sha(api, "main")
    reject_pushes(api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    with pytest.raises(MergeRefused, match="rejected the merge"):
        forge.merge(pr, sha)
    assert ref_sha(api, "main") == main_before
    assert forge.refresh(pr).state is ChangeState.open


def test_merge_after_a_refusal_succeeds_and_clears_the_error(forge: LocalForge, api: Path) -> None:
    sha = open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    with pytest.raises(MergeRefused):
        forge.merge(pr, "0" * 40)
    merged = forge.merge(pr, sha)
    assert merged.state is ChangeState.merged and merged.merge_error is None


def test_a_merge_repeated_after_a_crash_before_it_was_recorded_adds_no_second_merge(
    forge: LocalForge, api: Path
) -> None:
    sha = open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    forge.merge(pr, sha)
    # The crash window: the merge reached the remote but the PR record still says "open".
    record = forge.state_dir / "api" / "1.json"
    record.write_text(record.read_text().replace('"merged"', '"open"'))
    reopened = forge.refresh(pr)
    assert reopened.state is ChangeState.open
    again = forge.merge(reopened, sha)
    assert again.state is ChangeState.merged
    merges = run_git(["rev-list", "--merges", "--count", "main"], api)
    assert merges == "1"


def test_close_closes_an_open_pr_once_and_leaves_a_merged_one_merged(forge: LocalForge, api: Path) -> None:
    open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None
    assert forge.close(pr).state is ChangeState.closed
    assert forge.close(pr).state is ChangeState.closed
    assert forge.refresh(pr).state is ChangeState.closed

    other = commit_to_remote(api, "baton/r2/other", {"other.txt": "x\n"}, "other")
    merged = forge.merge(forge.open_pr("r2", "api", "baton/r2/other", "Other", "", order=0), other)
    assert forge.close(merged).state is ChangeState.merged


def test_readiness_of_a_clean_pr_finds_nothing_in_the_way(forge: LocalForge, api: Path) -> None:
    open_feature(forge, api)
    pr = forge.find_pr("api", BRANCH)
    assert pr is not None

    ready = forge.readiness(pr)

    assert (ready.problem, ready.conflict) == (None, False)


def test_readiness_names_a_conflict_and_leaves_the_remote_untouched(forge: LocalForge, api: Path) -> None:
    commit_to_remote(api, BRANCH, {"README.md": "ours\n"}, "edit readme")
    commit_to_remote(api, "main", {"README.md": "theirs\n"}, "conflicting edit")
    main_before = ref_sha(api, "main")
    pr = forge.open_pr("r1", "api", BRANCH, "Edit", "", 0)

    ready = forge.readiness(pr)

    assert (ready.problem, ready.conflict) == ("merge conflict with main in README.md", True)
    assert ref_sha(api, "main") == main_before
