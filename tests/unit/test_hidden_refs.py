"""A finished step's commit on the repo's remote under a hidden ref: a checkout on another home
continues from the recorded SHA, and the run's refs go when it ends. Real git, bare remotes."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.models import RepoConfig
from bot.scm.git import GitError, run_git
from bot.scm.workspace import GitWorkspace
from tests.gitutil import make_remote

BRANCH = "baton/r1/add-feature"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_remote(tmp_path, "api", {"README.md": "hello\n"})


def _home(tmp_path: Path, remote: Path, name: str) -> GitWorkspace:
    """A worker's workspace folder: each home has its own."""
    repos = {"api": RepoConfig(name="api", url=str(remote))}
    return GitWorkspace(tmp_path / name / "workspaces", repos.__getitem__)


def _step_commit(ws: GitWorkspace, run_id: str, text: str) -> tuple[Path, str]:
    path = ws.locate(run_id, "api", BRANCH)
    (path / "NOTES.md").write_text(text)
    sha = ws.commit_all(path, text)
    assert sha is not None
    return path, sha


def _remote_refs(remote: Path) -> list[str]:
    return run_git(["--git-dir", str(remote), "for-each-ref", "--format=%(refname)"], remote).splitlines()


def test_a_checkout_on_another_home_resets_to_a_commit_a_saved_step_made(tmp_path: Path, remote: Path) -> None:
    first, second = _home(tmp_path, remote, "a"), _home(tmp_path, remote, "b")
    path, sha = _step_commit(first, "r1", "implemented\n")
    first.save_step(path, "r1", "api", "svc:sequential:0", sha)

    elsewhere = second.locate("r1", "api", BRANCH)
    second.reset_to(elsewhere, sha)
    assert second.head(elsewhere) == sha
    assert (elsewhere / "NOTES.md").read_text() == "implemented\n"


def test_a_commit_never_saved_is_missing_on_another_home(tmp_path: Path, remote: Path) -> None:
    first, second = _home(tmp_path, remote, "a"), _home(tmp_path, remote, "b")
    _, sha = _step_commit(first, "r1", "implemented\n")
    elsewhere = second.locate("r1", "api", BRANCH)
    with pytest.raises(GitError):
        second.reset_to(elsewhere, sha)


def test_a_saved_step_is_a_hidden_ref_not_a_branch(tmp_path: Path, remote: Path) -> None:
    ws = _home(tmp_path, remote, "a")
    path, sha = _step_commit(ws, "r1", "implemented\n")
    ref = ws.save_step(path, "r1", "api", "svc:sequential:0", sha)
    assert ref.startswith("refs/baton/steps/r1/api/")
    assert sorted(_remote_refs(remote)) == sorted(["refs/heads/main", ref])


def test_a_step_ref_moved_by_someone_else_is_never_checked_out(tmp_path: Path, remote: Path) -> None:
    first, second = _home(tmp_path, remote, "a"), _home(tmp_path, remote, "b")
    base = first.head(first.locate("r1", "api", BRANCH))
    path, recorded = _step_commit(first, "r1", "implemented\n")
    ref = first.save_step(path, "r1", "api", "svc:sequential:0", recorded)
    first.reset_to(path, base)
    _, theirs = _step_commit(first, "r1", "someone else's code\n")  # not built on the recorded commit
    run_git(["push", "--quiet", "origin", f"+{theirs}:{ref}"], path)
    # The recorded SHA is no longer reachable from any ref there: the reset fails, it never
    # settles for the ref's new tip.
    run_git(["--git-dir", str(remote), "gc", "--quiet", "--prune=now"], remote)
    elsewhere = second.locate("r1", "api", BRANCH)
    with pytest.raises(GitError):
        second.reset_to(elsewhere, recorded)
    assert second.head(elsewhere) != theirs


def test_dropping_a_runs_saved_steps_leaves_other_runs_refs(tmp_path: Path, remote: Path) -> None:
    ws = _home(tmp_path, remote, "a")
    for run_id in ("r1", "r2"):
        path, sha = _step_commit(ws, run_id, f"{run_id}\n")
        ws.save_step(path, run_id, "api", "svc:sequential:0", sha)
        ws.save_step(path, run_id, "api", "svc:sequential:1", sha)
    assert ws.drop_saved("r1", ["api"]) == 2
    assert [r for r in _remote_refs(remote) if r.startswith("refs/baton/")] == [
        r for r in _remote_refs(remote) if r.startswith("refs/baton/steps/r2/")
    ]
    assert len([r for r in _remote_refs(remote) if r.startswith("refs/baton/steps/r2/")]) == 2


def test_a_home_without_the_runs_checkout_drops_its_saved_steps(tmp_path: Path, remote: Path) -> None:
    first, second = _home(tmp_path, remote, "a"), _home(tmp_path, remote, "b")
    path, sha = _step_commit(first, "r1", "implemented\n")
    first.save_step(path, "r1", "api", "svc:sequential:0", sha)
    assert second.drop_saved("r1", ["api"]) == 1
    assert _remote_refs(remote) == ["refs/heads/main"]
    assert second.run_ids() == []  # its scratch repository is no run's workspace
