"""GitWorkspace and branch names over real git: bare remotes in tmp_path, no mocks."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config.models import Limits, RepoConfig
from bot.domain.models import DiffStats
from bot.domain.naming import branch_name
from bot.domain.ports import ChangeTooLarge, PushRejected
from bot.observability.redaction import strip_url_credentials as redact
from bot.scm.git import GitError, git_result, run_git
from bot.scm.workspace import GitWorkspace
from tests.gitutil import commit_to_remote, make_remote, read_file_on, ref_sha

BRANCH = "baton/r1/add-feature"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_remote(tmp_path, "api", {"README.md": "hello\n", "src/app.py": "print(1)\n"})


@pytest.fixture
def ws(tmp_path: Path, remote: Path) -> GitWorkspace:
    repos = {"api": RepoConfig(name="api", url=str(remote))}
    return GitWorkspace(tmp_path / "runs", repos.__getitem__)


def reject_pushes(remote: Path) -> None:
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected: pushes are closed' >&2\nexit 1\n")
    hook.chmod(0o755)


# -- branch names --------------------------------------------------------------------------------


def test_branch_name_is_run_id_and_slug_of_request() -> None:
    assert branch_name("r1", "Add a /healthz endpoint!") == "baton/r1/add-a-healthz-endpoint"


def test_branch_name_is_deterministic() -> None:
    assert branch_name("r1", "Fix the login bug") == branch_name("r1", "Fix the login bug")


HOSTILE = [
    "../../x; rm -rf / `whoami` ~^:?*[\\",
    "@{-1}",
    "refs/heads/main.lock",
    "a..b//c/.d",
    "-leading dash",
    "trailing dot.",
    "emoji 🚀 and ünïcödé",
    "\x00\x07\n\t control",
    "x" * 500,
]


@pytest.mark.parametrize("request_text", HOSTILE)
def test_branch_name_is_a_valid_ref_for_hostile_input(request_text: str, tmp_path: Path) -> None:
    name = branch_name("r1", request_text)
    assert re.fullmatch(r"baton/r1/[a-z0-9]+(-[a-z0-9]+)*", name), name
    run_git(["check-ref-format", "--branch", name], tmp_path)
    run_git(["check-ref-format", f"refs/heads/{name}"], tmp_path)


def test_branch_name_sanitises_a_hostile_run_id(tmp_path: Path) -> None:
    name = branch_name("../r1 ~^:", "fix")
    assert name == "baton/r1/fix"
    run_git(["check-ref-format", f"refs/heads/{name}"], tmp_path)


@pytest.mark.parametrize("request_text", ["", "!!!", "日本語", "   "])
def test_branch_name_slug_is_never_empty(request_text: str) -> None:
    assert branch_name("r1", request_text) == "baton/r1/change"


def test_branch_name_slug_is_at_most_40_chars() -> None:
    slug = branch_name("r1", "word " * 50).split("/")[-1]
    assert len(slug) <= 40
    assert not slug.endswith("-")


# -- prepare -------------------------------------------------------------------------------------


def test_prepare_creates_branch_from_default_branch(ws: GitWorkspace, remote: Path) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    assert path == ws.root / "r1" / "api"
    assert run_git(["symbolic-ref", "--short", "HEAD"], path) == BRANCH
    assert ws.head(path) == ref_sha(remote, "main")
    assert ws.base_sha(path) == ref_sha(remote, "main")


def test_prepare_is_idempotent_after_restart(tmp_path: Path, ws: GitWorkspace, remote: Path) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    (path / "new.txt").write_text("work in progress\n")
    sha = ws.commit_all(path, "wip")
    restarted = GitWorkspace(ws.root, {"api": RepoConfig(name="api", url=str(remote))}.__getitem__)
    again = restarted.prepare("r1", "api", BRANCH)
    assert again == path
    assert restarted.head(again) == sha
    assert run_git(["symbolic-ref", "--short", "HEAD"], again) == BRANCH


def test_prepare_checks_out_branch_already_on_remote(ws: GitWorkspace, remote: Path) -> None:
    pushed = commit_to_remote(remote, BRANCH, {"feature.txt": "on"}, "earlier attempt")
    path = ws.prepare("r1", "api", BRANCH)
    assert ws.head(path) == pushed
    assert ws.base_sha(path) == ref_sha(remote, "main")


def test_prepare_replaces_a_half_made_clone(ws: GitWorkspace, remote: Path) -> None:
    half = ws.path_for("r1", "api")
    half.mkdir(parents=True)
    run_git(["init", "--quiet", str(half)], half)
    (half / "junk.txt").write_text("left over\n")
    path = ws.prepare("r1", "api", BRANCH)
    assert not (path / "junk.txt").exists()
    assert ws.head(path) == ref_sha(remote, "main")


def test_prepare_switches_back_to_the_run_branch(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    run_git(["checkout", "--quiet", "-b", "elsewhere"], path)
    ws.prepare("r1", "api", BRANCH)
    assert run_git(["symbolic-ref", "--short", "HEAD"], path) == BRANCH


def test_base_sha_stays_the_fork_point_when_default_moves(ws: GitWorkspace, remote: Path) -> None:
    start = ref_sha(remote, "main")
    path = ws.prepare("r1", "api", BRANCH)
    commit_to_remote(remote, "main", {"other.txt": "x"}, "someone else merged")
    ws.prepare("r1", "api", BRANCH)
    assert ws.base_sha(path) == start


# -- commit, diff, reset -------------------------------------------------------------------------


def test_commit_all_returns_none_when_nothing_changed(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    assert ws.commit_all(path, "nothing") is None


def test_commit_all_commits_everything_as_the_bot(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    (path / "README.md").write_text("changed\n")
    (path / "src" / "app.py").unlink()
    (path / "added.txt").write_text("new\n")
    sha = ws.commit_all(path, "agent work")
    assert sha == ws.head(path)
    author = run_git(["log", "-1", "--format=%an <%ae>|%cn <%ce>|%s"], path)
    assert author == "Baton <baton@localhost>|Baton <baton@localhost>|agent work"
    assert run_git(["status", "--porcelain"], path) == ""


def test_commit_all_leaves_out_the_build_litter_an_agent_running_tests_leaves_behind(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    (path / "src" / "__pycache__").mkdir()
    (path / "src" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"\x00")
    (path / ".pytest_cache").mkdir()
    (path / ".pytest_cache" / "README.md").write_text("cache\n")
    (path / "src" / "app.py").write_text("print('v2')\n")

    sha = ws.commit_all(path, "agent work")

    assert sha is not None
    assert run_git(["show", "--name-only", "--format=", sha], path).split() == ["src/app.py"]


def test_a_build_litter_file_the_repo_tracks_is_still_committed(tmp_path: Path) -> None:
    tracked = make_remote(tmp_path, "legacy", {"README.md": "x\n", "vendored/lib.pyc": "old"})
    ws = GitWorkspace(tmp_path / "ws", lambda name: RepoConfig(name=name, url=str(tracked)))
    path = ws.prepare("r1", "legacy", BRANCH)
    (path / "vendored" / "lib.pyc").write_text("new")

    sha = ws.commit_all(path, "agent work")

    assert sha is not None
    assert run_git(["show", "--name-only", "--format=", sha], path).split() == ["vendored/lib.pyc"]


def test_diff_includes_committed_uncommitted_and_untracked(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    base = ws.base_sha(path)
    (path / "committed.txt").write_text("one\n")
    ws.commit_all(path, "first")
    (path / "README.md").write_text("edited\n")
    (path / "untracked.txt").write_text("two\n")
    text, files = ws.diff(path, base)
    assert files == ["README.md", "committed.txt", "untracked.txt"]
    assert "+edited" in text and "+one" in text and "+two" in text
    assert "?? untracked.txt" in run_git(["status", "--porcelain"], path)


def test_diff_stats_between_two_commits_count_and_name_every_file_they_change(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    base = ws.head(path)
    (path / "README.md").write_text("edited\n")
    (path / "src" / "app.py").unlink()
    (path / "new file.txt").write_text("two\n")
    head = ws.commit_all(path, "work")
    assert head is not None
    stats, files = ws.diff_stats(path, base, head)
    assert files == ["README.md", "new file.txt", "src/app.py"]
    assert stats == DiffStats(files=3, insertions=2, deletions=2)
    text = ws.diff_text(path, base, head, max_bytes=10_000)
    assert "+edited" in text and "-print(1)" in text and "+two" in text


def test_diff_text_is_cut_at_its_limit_and_says_so(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    base = ws.head(path)
    (path / "long.txt").write_text("a line of text\n" * 1000)
    head = ws.commit_all(path, "long")
    assert head is not None
    text = ws.diff_text(path, base, head, max_bytes=500)
    assert text.endswith("\n[diff cut at 500 bytes]\n") and len(text) == 500 + len("\n[diff cut at 500 bytes]\n")


def _limited(tmp_path: Path, remote: Path, **limits: int) -> GitWorkspace:
    repos = {"api": RepoConfig(name="api", url=str(remote))}
    return GitWorkspace(tmp_path / "runs", repos.__getitem__, Limits(**limits))


def test_a_changed_file_over_max_file_bytes_is_refused_before_git_reads_it(tmp_path: Path, remote: Path) -> None:
    ws = _limited(tmp_path, remote, max_file_bytes=1000)
    path = ws.prepare("r1", "api", BRANCH)
    base = ws.head(path)
    (path / "small.txt").write_text("fine\n")
    (path / "data").mkdir()
    (path / "data" / "big.bin").write_bytes(b"\0" * 1001)
    with pytest.raises(ChangeTooLarge) as refused:
        ws.commit_all(path, "too big")
    assert str(refused.value) == (
        "data/big.bin is 1001 bytes, over limits.max_file_bytes (1000 bytes); nothing was committed"
    )
    assert ws.head(path) == base
    blob = run_git(["hash-object", "data/big.bin"], path)  # computed here, not written
    assert git_result(["cat-file", "-e", blob], path).returncode != 0  # git never stored it


def test_a_diff_over_max_diff_bytes_is_refused_by_name(tmp_path: Path, remote: Path) -> None:
    ws = _limited(tmp_path, remote, max_diff_bytes=2000)
    path = ws.prepare("r1", "api", BRANCH)
    base = ws.head(path)
    for i in range(10):
        (path / f"part{i}.txt").write_text("x" * 300 + "\n")
    head = ws.commit_all(path, "many parts")
    assert head is not None
    with pytest.raises(ChangeTooLarge, match=r"^the change's diff is over limits.max_diff_bytes \(2000 bytes\)$"):
        ws.diff_stats(path, base, head)


def test_reset_to_discards_uncommitted_and_untracked(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    base = ws.head(path)
    (path / "kept.txt").write_text("x\n")
    ws.commit_all(path, "to be undone")
    (path / "README.md").write_text("dirty\n")
    (path / "stray.txt").write_text("y\n")
    ws.reset_to(path, base)
    assert ws.head(path) == base
    assert run_git(["status", "--porcelain", "--ignored"], path) == ""
    assert (path / "README.md").read_text() == "hello\n"


# -- push, cleanup -------------------------------------------------------------------------------


def test_push_returns_sha_and_updates_remote(ws: GitWorkspace, remote: Path) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    (path / "feature.txt").write_text("on\n")
    sha = ws.commit_all(path, "feature")
    assert ws.push(path, "api", BRANCH) == sha
    assert ref_sha(remote, BRANCH) == sha
    assert read_file_on(remote, BRANCH, "feature.txt") == "on\n"


def test_push_may_rewrite_the_bots_own_branch(ws: GitWorkspace, remote: Path) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    base = ws.head(path)
    (path / "feature.txt").write_text("attempt 1\n")
    ws.commit_all(path, "attempt 1")
    ws.push(path, "api", BRANCH)
    ws.reset_to(path, base)
    (path / "feature.txt").write_text("attempt 2\n")
    retry = ws.commit_all(path, "attempt 2")
    assert ws.push(path, "api", BRANCH) == retry
    assert ref_sha(remote, BRANCH) == retry


def test_push_refuses_to_overwrite_a_commit_pushed_by_someone_else(ws: GitWorkspace, remote: Path) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    (path / "feature.txt").write_text("bot\n")
    ws.commit_all(path, "bot")
    ws.push(path, "api", BRANCH)
    human = commit_to_remote(remote, BRANCH, {"human.txt": "fixup"}, "human fixup")
    (path / "feature.txt").write_text("bot again\n")
    ws.commit_all(path, "bot again")
    with pytest.raises(PushRejected, match="rejected"):
        ws.push(path, "api", BRANCH)
    assert ref_sha(remote, BRANCH) == human


def test_push_refuses_to_overwrite_a_fetched_commit_it_did_not_build_on(ws: GitWorkspace, remote: Path) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    (path / "feature.txt").write_text("bot\n")
    ws.commit_all(path, "bot")
    ws.push(path, "api", BRANCH)
    human = commit_to_remote(remote, BRANCH, {"human.txt": "fixup"}, "human fixup")
    run_git(["fetch", "--quiet", "origin"], path)
    (path / "feature.txt").write_text("bot again\n")
    ws.commit_all(path, "bot again")
    with pytest.raises(PushRejected):
        ws.push(path, "api", BRANCH)
    assert ref_sha(remote, BRANCH) == human


def test_prepare_builds_on_commits_pushed_on_top_of_the_bots_branch(ws: GitWorkspace, remote: Path) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    (path / "feature.txt").write_text("bot\n")
    ws.commit_all(path, "bot")
    ws.push(path, "api", BRANCH)
    human = commit_to_remote(remote, BRANCH, {"human.txt": "fixup"}, "human fixup")
    ws.prepare("r1", "api", BRANCH)
    assert ws.head(path) == human
    (path / "feature.txt").write_text("bot again\n")
    sha = ws.commit_all(path, "bot again")
    assert ws.push(path, "api", BRANCH) == sha


def test_push_rejected_raises_push_rejected(ws: GitWorkspace, remote: Path) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    (path / "feature.txt").write_text("on\n")
    ws.commit_all(path, "feature")
    reject_pushes(remote)
    with pytest.raises(PushRejected) as err:
        ws.push(path, "api", BRANCH)
    assert "rejected by the remote" in str(err.value)
    assert "protected: pushes are closed" in str(err.value)


def test_cleanup_removes_the_runs_directory(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    ws.cleanup("r1")
    assert not path.exists() and not (ws.root / "r1").exists()
    ws.cleanup("r1")  # twice is fine


# -- the git helper --------------------------------------------------------------------------------


def test_redact_strips_credentials_from_urls() -> None:
    text = "fatal: unable to access 'https://x-access-token:ghs_SECRET@github.com/o/r.git/'"
    assert redact(text) == "fatal: unable to access 'https://github.com/o/r.git/'"


def test_git_error_names_the_command_without_credentials(tmp_path: Path) -> None:
    url = "https://user:hunter2@127.0.0.1:9/nothing.git"
    with pytest.raises(GitError) as err:
        run_git(["ls-remote", url], tmp_path)
    message = str(err.value)
    assert "git ls-remote https://127.0.0.1:9/nothing.git" in message
    assert "hunter2" not in message and "user:" not in message
