"""The change set in the terminal: `baton run` on a terminal shows each PR's diffstat under the
approval prompt, `d` pages every PR's diff through `$PAGER` (here a script that writes what it is
given to a file) and asks again; `baton runs show RUN --diff` prints the same diff."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.e2e.conftest import agent, make_repos, repo_entries
from tests.e2e.test_terminal_approval import _read_until
from tests.gitutil import read_file_on

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _world(tmp_path: Path) -> dict[str, str]:
    remotes = make_repos(tmp_path, ["api", "web"])
    coder = agent("coder", "--append", "README.md", "use /v2/items", "--summary", "pointed at /v2")
    config = {"repos": repo_entries(remotes, {"web": ["api"]}), "agents": [coder]}
    (tmp_path / "baton.yml").write_text(yaml.safe_dump(config))
    pager = tmp_path / "pager.py"
    pager.write_text(f"import sys\nopen({str(tmp_path / 'paged.txt')!r}, 'ab').write(sys.stdin.buffer.read())\n")
    return {
        **os.environ,
        "BATON_HOME": str(tmp_path / ".baton"),
        "BATON_CONFIG": str(tmp_path / "baton.yml"),
        "PAGER": f"{sys.executable} {pager}",
        "COLUMNS": "120",
        "TERM": "xterm",
    }


def _run_on_a_terminal(env: dict[str, str], answers: list[bytes]) -> tuple[bytes, str]:
    """`baton run` on a pty: answer each prompt in turn; (what the terminal showed, the run id)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "point at /v2", "--repo", "api", "--repo", "web"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    seen = b""
    try:
        for answer in answers:
            seen += _read_until(leader, b"[y/N/c(ancel)/d(iff)]", 90)
            os.write(leader, answer)
        seen += _read_until(leader, b"ended merged", 90)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    run_id = re.search(rb"run (\S+) started", seen)
    assert run_id is not None
    return seen, run_id.group(1).decode()


def test_d_at_the_prompt_pages_every_prs_diff_then_asks_again(tmp_path: Path) -> None:
    env = _world(tmp_path)

    seen, _ = _run_on_a_terminal(env, [b"d\n", b"y\n"])

    shown = ANSI.sub("", seen.decode("utf-8", errors="replace"))
    assert "1. api #1  1 file +1 \u22120" in shown
    assert "2. web #1  1 file +1 \u22120" in shown
    assert shown.count("Approve and merge these PRs? [y/N/c(ancel)/d(iff)]") == 2
    paged = (tmp_path / "paged.txt").read_text(encoding="utf-8")
    assert "\x1b[32m+use /v2/items\x1b[0m" in paged  # coloured for `less -R`
    plain = ANSI.sub("", paged)
    headers = [line for line in plain.splitlines() if line.startswith("diff --git")]
    assert headers == ["diff --git a/api/README.md b/api/README.md", "diff --git a/web/README.md b/web/README.md"]
    assert read_file_on(tmp_path / "remotes" / "api.git", "main", "README.md").endswith("use /v2/items\n")


def test_runs_show_diff_prints_every_prs_diff_with_repo_prefixed_paths(tmp_path: Path) -> None:
    env = _world(tmp_path)
    _, run_id = _run_on_a_terminal(env, [b"y\n"])

    shown = subprocess.run(
        [sys.executable, "-m", "bot", "runs", "show", run_id, "--diff"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )

    assert shown.returncode == 0, shown.stderr
    assert "\x1b[" not in shown.stdout  # not a terminal: plain, ready for `git apply -p2`
    lines = shown.stdout.splitlines()
    assert [line for line in lines if line.startswith(("diff --git", "+use"))] == [
        "diff --git a/api/README.md b/api/README.md",
        "+use /v2/items",
        "diff --git a/web/README.md b/web/README.md",
        "+use /v2/items",
    ]
    assert not (tmp_path / "paged.txt").exists()
