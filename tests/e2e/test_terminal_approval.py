"""`baton run` without `--yes` on a terminal: the live view, then a prompt that approves."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.e2e.conftest import agent, make_repos, repo_entries
from tests.gitutil import read_file_on


def _read_until(fd: int, needle: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"no {needle!r} on the terminal; saw {seen[-600:]!r}")
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_answering_yes_at_the_prompt_approves_and_merges(tmp_path: Path) -> None:
    remotes = make_repos(tmp_path, ["api"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("writer", "--append", "NOTES.md", "from the terminal")],
    }
    (tmp_path / "baton.yml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "BATON_HOME": str(tmp_path / ".baton"),
        "BATON_CONFIG": str(tmp_path / "baton.yml"),
        "COLUMNS": "120",
        "TERM": "xterm",
    }
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "write a note", "--repo", "api"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    try:
        _read_until(leader, b"Approve and merge these PRs?", 60)
        os.write(leader, b"y\n")
        tail = _read_until(leader, b"ended merged", 60)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    assert b"approve recorded" in tail
    assert read_file_on(remotes["api"], "main", "NOTES.md") == "from the terminal\n"
