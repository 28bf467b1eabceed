"""The GitHub forge's diff: `GET /pulls/{n}/files`, every page, against the fake GitHub (real HTTP
over real bare repos, GitHub's file objects): counts, hunks, renames, files GitHub sends no patch
for, merged PRs, and a patch that applies with `git apply -p2`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.diffs import DiffLimits, FileStatus
from bot.scm.git import run_git
from bot.scm.github import GitHubForge
from bot.scm.github_diff import NO_PATCH
from bot.surfaces.review.patch import run_patch
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import api_for, baton_config, start_fake
from tests.gitutil import commit_to_remote, ref_sha

BRANCH = "baton/r1/rename-items"
ENOUGH = DiffLimits(total=1_000_000)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeGitHub, dict[str, Path]]]:
    fake, remotes = start_fake(tmp_path, ["api"])
    yield fake, remotes
    fake.stop()


def _forge(world: tuple[FakeGitHub, dict[str, Path]]) -> GitHubForge:
    fake, remotes = world
    return GitHubForge(api_for(fake, baton_config(remotes)), baton_config(remotes))


def test_every_page_of_a_prs_files_is_read(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    fake, remotes = world
    files = {f"src/f{i:03d}.txt": f"{i}\n" for i in range(130)}
    commit_to_remote(remotes["api"], BRANCH, files, "many files")
    forge = _forge(world)
    change = forge.open_pr("r1", "api", BRANCH, "[baton] many", "", 0)

    diff = forge.diff(change, ENOUGH)

    assert [f.path for f in diff.files] == sorted(files)
    assert diff.stat.text() == "130 files +130 \u22120"
    assert len(fake.calls("GET", r"/pulls/\d+/files$")) == 2
    assert diff.files[0].patch == "@@ -0,0 +1 @@\n+0\n"


def _push_rename(api: Path, tmp_path: Path) -> str:
    """A branch that moves docs/guide.md to docs/manual.md and changes one line of it."""
    body = "".join(f"line {i}\n" for i in range(20))
    commit_to_remote(api, "main", {"docs/guide.md": body}, "guide")
    work = tmp_path / "author"
    run_git(["clone", "--quiet", str(api), str(work)], tmp_path)
    run_git(["checkout", "--quiet", "-b", BRANCH], work)
    run_git(["mv", "docs/guide.md", "docs/manual.md"], work)
    (work / "docs" / "manual.md").write_text(body.replace("line 3\n", "line three\n"), encoding="utf-8")
    run_git(["commit", "--quiet", "-am", "rename the guide"], work)
    run_git(["push", "--quiet", "origin", BRANCH], work)
    return ref_sha(api, f"refs/heads/{BRANCH}")


def test_a_renamed_file_keeps_its_previous_name_and_the_patch_applies(
    world: tuple[FakeGitHub, dict[str, Path]], tmp_path: Path
) -> None:
    _fake, remotes = world
    api = remotes["api"]
    head = _push_rename(api, tmp_path)
    forge = _forge(world)
    change = forge.open_pr("r1", "api", BRANCH, "[baton] rename", "", 0)

    diff = forge.diff(change, ENOUGH)

    [renamed] = diff.files
    assert (renamed.status, renamed.old_path, renamed.path) == (FileStatus.renamed, "docs/guide.md", "docs/manual.md")
    assert (renamed.additions, renamed.deletions) == (1, 1)
    work = tmp_path / "apply"
    run_git(["clone", "--quiet", str(api), str(work)], tmp_path)
    (tmp_path / "pr.patch").write_text(run_patch([diff]), encoding="utf-8")
    run_git(["apply", "-p2", str(tmp_path / "pr.patch")], work)
    run_git(["add", "-A"], work)
    assert run_git(["write-tree"], work) == ref_sha(api, f"{head}^{{tree}}")


def test_a_file_github_sends_no_patch_for_is_counted_and_says_why(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    _fake, remotes = world
    commit_to_remote(remotes["api"], BRANCH, {"logo.png": "\x00PNG\x00", "README.md": "# api\nv2\n"}, "logo")
    forge = _forge(world)
    diff = forge.diff(forge.open_pr("r1", "api", BRANCH, "[baton] logo", "", 0), ENOUGH)

    logo = next(f for f in diff.files if f.path == "logo.png")
    readme = next(f for f in diff.files if f.path == "README.md")
    assert (logo.patch, logo.truncated, logo.note) == ("", True, NO_PATCH)
    assert (readme.patch, readme.truncated) == ("@@ -1 +1,2 @@\n # api\n+v2\n", False)
    assert "not included: " + NO_PATCH in run_patch([diff])


def test_a_merged_github_pr_still_lists_what_it_merged(world: tuple[FakeGitHub, dict[str, Path]]) -> None:
    _fake, remotes = world
    commit_to_remote(remotes["api"], BRANCH, {"README.md": "# api\nuse /v2/items\n"}, "rename")
    forge = _forge(world)
    change = forge.open_pr("r1", "api", BRANCH, "[baton] rename", "", 0)
    merged = forge.merge(forge.refresh(change), change.head_sha)

    diff = forge.diff(merged, ENOUGH)

    assert [(f.path, f.additions, f.deletions) for f in diff.files] == [("README.md", 1, 0)]
