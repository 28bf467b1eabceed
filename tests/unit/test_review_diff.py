"""A PR's diff read from git by the local forge (no run facts), bounded per file and in all, and
written back out as one patch whose paths carry the repo, which `git apply -p2` applies."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from bot.agents.checks import ChecksRunner
from bot.agents.sandbox import default_sandbox
from bot.config.models import RepoConfig
from bot.domain.diffs import LIMIT_NOTE, STAT_ONLY, ChangeDiff, DiffLimits, FileStatus, PatchBudget
from bot.domain.models import ChangeSet
from bot.domain.ports import ForgeError
from bot.scm.git import run_git
from bot.scm.local import LocalForge
from bot.surfaces.review.patch import NOTE, run_patch
from tests.gitutil import commit_to_remote, make_remote, ref_sha

BRANCH = "baton/r1/change"
ENOUGH = DiffLimits(total=100_000)
BASE_FILES = {
    "README.md": "hello\nworld\n",
    "gone.txt": "bye\n",
    "with space.txt": "one\ntwo\n",
    'quo"te.txt': "q\n",
}


@pytest.fixture
def api(tmp_path: Path) -> Path:
    return make_remote(tmp_path, "api", BASE_FILES)


@pytest.fixture
def forge(tmp_path: Path, api: Path) -> LocalForge:
    repos = {"api": RepoConfig(name="api", url=str(api))}
    return LocalForge(
        tmp_path / "forge", repos.__getitem__, tmp_path / "work", ChecksRunner(default_sandbox(), tmp_path / "homes")
    )


def push_change(api: Path) -> str:
    """A branch that modifies, adds, deletes (via an emptied tree entry) and touches odd names."""
    files = {"README.md": "hello\nthere\n", "new.txt": "".join(f"line {i}\n" for i in range(10))}
    files |= {"with space.txt": "one\n2\n", 'quo"te.txt': "q\nr\n"}
    commit_to_remote(api, BRANCH, files, "change things")
    return _delete_on(api, BRANCH, "gone.txt")


def _delete_on(remote: Path, branch: str, path: str) -> str:
    git = ["--git-dir", str(remote)]
    tree = run_git([*git, "ls-tree", f"refs/heads/{branch}"], remote)
    kept = "\n".join(line for line in tree.splitlines() if not line.endswith(f"\t{path}")) + "\n"
    new_tree = subprocess.run(
        ["git", *git, "mktree"], input=kept, capture_output=True, text=True, check=True
    ).stdout.strip()
    parent = ref_sha(remote, f"refs/heads/{branch}")
    sha = run_git([*git, "commit-tree", new_tree, "-p", parent, "-m", f"delete {path}"], remote)
    run_git([*git, "update-ref", f"refs/heads/{branch}", sha], remote)
    return sha


def opened(forge: LocalForge, api: Path) -> ChangeSet:
    push_change(api)
    return forge.open_pr("r1", "api", BRANCH, "Change", "body", order=0)


def by_path(diff: ChangeDiff) -> dict[str, tuple[FileStatus, int, int]]:
    return {f.path: (f.status, f.additions, f.deletions) for f in diff.files}


def test_a_local_pr_diff_lists_every_file_with_its_status_and_line_counts(forge: LocalForge, api: Path) -> None:
    diff = forge.diff(opened(forge, api), ENOUGH)

    assert by_path(diff) == {
        "README.md": (FileStatus.modified, 1, 1),
        "gone.txt": (FileStatus.deleted, 0, 1),
        "new.txt": (FileStatus.added, 10, 0),
        'quo"te.txt': (FileStatus.modified, 1, 0),
        "with space.txt": (FileStatus.modified, 1, 1),
    }
    assert diff.stat.text() == "5 files +13 \u22123"
    readme = next(f for f in diff.files if f.path == "README.md")
    assert readme.patch == "@@ -1,2 +1,2 @@\n hello\n-world\n+there\n"
    assert not diff.truncated


def test_a_merged_local_pr_still_shows_what_it_merged(forge: LocalForge, api: Path) -> None:
    change = opened(forge, api)
    merged = forge.merge(change, change.head_sha)

    diff = forge.diff(merged, ENOUGH)

    assert by_path(diff)["README.md"] == (FileStatus.modified, 1, 1)
    assert diff.stat.files == 5
    assert diff.base == ref_sha(api, f"{merged.merge_sha}^1")


def test_a_file_over_the_per_file_cap_keeps_whole_lines_and_says_why(forge: LocalForge, api: Path) -> None:
    diff = forge.diff(opened(forge, api), DiffLimits(total=100_000, per_file=40))

    new = next(f for f in diff.files if f.path == "new.txt")
    assert new.patch == "@@ -0,0 +1,10 @@\n+line 0\n+line 1\n"
    assert (new.truncated, new.note, new.additions) == (True, "larger than 40 bytes", 10)
    readme = next(f for f in diff.files if f.path == "README.md")
    assert not readme.truncated


def test_files_past_the_whole_bound_keep_their_counts_and_lose_their_patch(forge: LocalForge, api: Path) -> None:
    diff = forge.diff(opened(forge, api), DiffLimits(total=40))

    kept = [f.path for f in diff.files if f.patch and not f.truncated]
    left_out = [f.path for f in diff.files if f.truncated]
    assert kept == ["README.md"]
    assert left_out == ["gone.txt", "new.txt", 'quo"te.txt', "with space.txt"]
    assert all(f.note == LIMIT_NOTE for f in diff.files if f.truncated)
    assert diff.truncated
    assert diff.stat.text() == "5 files +13 \u22123"


def test_stat_only_counts_every_file_and_reads_no_patch_text(forge: LocalForge, api: Path) -> None:
    diff = forge.diff(opened(forge, api), STAT_ONLY)

    assert [f.patch for f in diff.files] == [""] * 5
    assert diff.stat.text() == "5 files +13 \u22123"


def test_a_binary_file_is_counted_and_marked_binary(forge: LocalForge, api: Path) -> None:
    commit_to_remote(api, BRANCH, {"logo.png": "\x00\x01PNG\x00"}, "logo")
    diff = forge.diff(forge.open_pr("r1", "api", BRANCH, "Logo", "", order=0), ENOUGH)

    [logo] = diff.files
    assert (logo.path, logo.binary, logo.patch, logo.status) == ("logo.png", True, "", FileStatus.added)


def test_a_pr_whose_head_left_the_remote_is_refused_with_a_message(forge: LocalForge, api: Path) -> None:
    change = opened(forge, api).model_copy(update={"head_sha": "0" * 40})
    with pytest.raises(ForgeError, match="no longer in api's remote"):
        forge.diff(change, ENOUGH)


def test_a_head_that_is_not_a_sha_is_refused_before_git_sees_it(forge: LocalForge, api: Path) -> None:
    change = opened(forge, api).model_copy(update={"head_sha": "--output=/tmp/baton-diff-probe"})
    with pytest.raises(ForgeError, match="is not a commit SHA"):
        forge.diff(change, ENOUGH)


def test_a_remote_that_is_not_a_directory_here_is_read_through_a_mirror(tmp_path: Path, api: Path) -> None:
    # git finds `…/api.git` for `…/api`; Baton sees no directory there, so it fetches a mirror.
    repos = {"api": RepoConfig(name="api", url=str(api.with_suffix("")))}
    forge = LocalForge(
        tmp_path / "forge", repos.__getitem__, tmp_path / "work", ChecksRunner(default_sandbox(), tmp_path / "homes")
    )
    change = opened(forge, api)

    first = forge.diff(change, ENOUGH)
    commit_to_remote(api, BRANCH, {"later.txt": "pushed after\n"}, "later")
    second = forge.diff(forge.refresh(change), ENOUGH)

    assert first.stat.files == 5
    assert "later.txt" in [f.path for f in second.files]
    assert (tmp_path / "work" / "diff-mirrors" / "api.git").is_dir()


def _apply_in_clone(tmp_path: Path, remote: Path, base: str, patch: str) -> str:
    """Apply `patch` with -p2 in a clone at `base`; the tree it leaves, as git writes it."""
    work = tmp_path / "apply"
    run_git(["clone", "--quiet", str(remote), str(work)], tmp_path)
    run_git(["checkout", "--quiet", "--detach", base], work)
    (tmp_path / "run.patch").write_text(patch, encoding="utf-8")
    run_git(["apply", "-p2", str(tmp_path / "run.patch")], work)
    run_git(["add", "-A"], work)
    return run_git(["write-tree"], work)


def test_the_patch_prefixes_every_path_with_its_repo_and_applies_with_p2(
    forge: LocalForge, api: Path, tmp_path: Path
) -> None:
    change = opened(forge, api)
    diff = forge.diff(change, ENOUGH)

    patch = run_patch([diff])

    headers = [line for line in patch.splitlines() if line.startswith("diff --git")]
    assert headers == [
        "diff --git a/api/README.md b/api/README.md",
        "diff --git a/api/gone.txt b/api/gone.txt",
        "diff --git a/api/new.txt b/api/new.txt",
        'diff --git "a/api/quo\\"te.txt" "b/api/quo\\"te.txt"',
        "diff --git a/api/with space.txt b/api/with space.txt",
    ]
    assert "-world\n+there\n" in patch
    assert _apply_in_clone(tmp_path, api, diff.base, patch) == ref_sha(api, f"{change.head_sha}^{{tree}}")


def test_files_the_patch_cannot_hold_are_named_in_notes_and_the_rest_applies(
    forge: LocalForge, api: Path, tmp_path: Path
) -> None:
    change = opened(forge, api)
    diff = forge.diff(change, DiffLimits(total=100_000, per_file=40))

    patch = run_patch([diff], problems={"web": "the remote is gone"})

    notes = [line for line in patch.splitlines() if line.startswith(NOTE)]
    assert notes[1:] == [
        f"{NOTE}api/new.txt not included: larger than 40 bytes",
        f"{NOTE}web: diff not available: the remote is gone",
    ]
    tree = _apply_in_clone(tmp_path, api, diff.base, patch)
    applied = run_git(["ls-tree", "--name-only", tree], tmp_path / "apply").splitlines()
    assert "new.txt" not in applied
    assert "gone.txt" not in applied


def test_a_budget_keeps_whole_lines_within_the_file_and_total_bounds() -> None:
    budget = PatchBudget(DiffLimits(total=12, per_file=8))

    assert budget.keep("abc\ndef\nghi\n") == ("abc\ndef\n", True)
    assert budget.reason == "larger than 8 bytes"
    assert budget.keep("jk\nlm\n") == ("jk\n", True)
    assert budget.reason == LIMIT_NOTE
    assert budget.keep("") == ("", False)


def test_with_whole_files_a_file_that_would_be_cut_is_left_out_and_its_bytes_given_back() -> None:
    budget = PatchBudget(DiffLimits(total=12, per_file=8, whole_files=True))

    assert budget.keep("abc\ndef\nghi\n") == ("", True)
    assert budget.keep("jk\nlm\nno\nop\n") == ("", True)
    assert budget.keep("qr\nst\n") == ("qr\nst\n", False)
    assert budget.left == 6


def test_a_patch_leaves_out_a_file_too_big_to_hold_whole_and_keeps_every_file_after_it(
    forge: LocalForge, api: Path
) -> None:
    big = "".join(f"row {i}\n" for i in range(2000))
    commit_to_remote(api, BRANCH, {"a_big.csv": big, "b.txt": "b\n", "c.txt": "c\n"}, "big and small")
    change = forge.open_pr("r1", "api", BRANCH, "Big", "", order=0)

    diff = forge.diff(change, DiffLimits(total=4000, per_file=3000, whole_files=True))

    assert [(f.path, bool(f.patch), f.truncated) for f in diff.files] == [
        ("a_big.csv", False, True),
        ("b.txt", True, False),
        ("c.txt", True, False),
    ]
    assert diff.files[0].note == "larger than 2 KB"


def _local_forge(tmp_path: Path, repos: dict[str, RepoConfig]) -> LocalForge:
    checks = ChecksRunner(default_sandbox(), tmp_path / "homes")
    return LocalForge(tmp_path / "forge", repos.__getitem__, tmp_path / "work", checks)
