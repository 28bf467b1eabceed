"""How many git processes a step's workspace calls cost, counted by a `git` on PATH that logs each
call and runs the real git; and that the cheap paths keep the checkout exactly as the full ones."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config.models import RepoConfig
from bot.scm.git import run_git
from bot.scm.workspace import GitWorkspace
from tests.gitutil import make_remote

BRANCH = "baton/r1/steps"


@pytest.fixture
def ws(tmp_path: Path) -> GitWorkspace:
    remote = make_remote(tmp_path, "api", {"README.md": "hello\n"})
    repos = {"api": RepoConfig(name="api", url=str(remote))}
    return GitWorkspace(tmp_path / "runs", repos.__getitem__)


@pytest.fixture
def git_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A `git` first on PATH that appends its subcommand line to a log, then runs the real git."""
    real = shutil.which("git")
    assert real is not None
    bindir, log = tmp_path / "bin", tmp_path / "git-calls.log"
    bindir.mkdir()
    wrapper = bindir / "git"
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    log.write_text("")
    yield log


def calls(log: Path) -> int:
    return len(log.read_text().splitlines())


def test_reset_to_a_clean_checkout_at_its_own_head_costs_one_git_process(ws: GitWorkspace, git_log: Path) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    head = ws.head(path)
    git_log.write_text("")
    ws.reset_to(path, head)
    assert calls(git_log) == 1


def test_commit_all_with_nothing_changed_costs_one_git_process(ws: GitWorkspace, git_log: Path) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    git_log.write_text("")
    assert ws.commit_all(path, "nothing") is None
    assert calls(git_log) == 1


def test_reset_to_removes_an_ignored_file_left_in_a_checkout_at_its_head(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    (path / "__pycache__").mkdir()
    (path / "__pycache__" / "x.pyc").write_bytes(b"\x00")
    ws.reset_to(path, ws.head(path))
    assert not (path / "__pycache__").exists()


def test_reset_to_moves_a_clean_checkout_back_to_an_earlier_commit(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    base = ws.head(path)
    (path / "kept.txt").write_text("x\n")
    ws.commit_all(path, "to be undone")
    ws.reset_to(path, base)
    assert (ws.head(path), (path / "kept.txt").exists()) == (base, False)


def test_commit_all_commits_a_change_the_agent_only_staged(ws: GitWorkspace) -> None:
    path = ws.prepare("r1", "api", BRANCH)
    (path / "staged.txt").write_text("s\n")
    run_git(["add", "staged.txt"], path)
    sha = ws.commit_all(path, "staged work")
    assert sha is not None
    assert run_git(["show", "--name-only", "--format=", sha], path).split() == ["staged.txt"]
