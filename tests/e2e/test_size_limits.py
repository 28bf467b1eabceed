"""An agent that writes a 150 MB file, against a real `baton run` process: the step fails naming
the limit and the file, Baton's own memory stays small, and neither SQLite database grows.

Baton's peak RSS is its VmHWM, polled from /proc while it runs (the agent and git are other
processes). Database growth is measured against a first, ordinary run in the same home, so the
schemas and a run's usual rows are already there.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import TOOL
from tests.e2e.scale_support import baton_env
from tests.gitutil import make_remote

MB = 1024 * 1024
# 150 MB of text lines: a diff of it is as large as the file (a binary file's diff would be one line).
WRITE_BIG = (
    "line = 'x' * 99 + '\\n'\n"
    "with open('big.txt', 'w') as out:\n"
    "    for _ in range(150 * 1024 * 1024 // 100):\n"
    "        out.write(line)\n"
)


def _databases(home: Path) -> int:
    return sum(p.stat().st_size for name in ("baton.db", "dbos.db") for p in home.glob(name + "*"))


def _baton_run(env: dict[str, str], agent: str) -> tuple[int, int, str]:
    """(exit code, peak RSS in bytes, output) of `baton run` with `agent`."""
    argv = [sys.executable, "-m", "bot", "run", "make a change", "--repo", "api", "--agent", agent, "--yes"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        try:
            status = Path(f"/proc/{proc.pid}/status").read_text()
        except OSError:
            break
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]) * 1024)
        time.sleep(0.02)
    out, _ = proc.communicate(timeout=300)
    return proc.returncode, peak, out.decode("utf-8", "replace")


def test_an_agent_writing_a_150_mb_file_fails_its_step_by_the_limit_and_costs_baton_no_memory_or_database(
    tmp_path: Path,
) -> None:
    remote = make_remote(tmp_path, "api", {"README.md": "# api\n"})
    config = {
        "repos": [{"name": "api", "url": str(remote)}],
        "agents": [
            {"name": "small", "command": [sys.executable, str(TOOL), "--append", "README.md", "small"]},
            {"name": "big", "command": [sys.executable, "-c", WRITE_BIG], "timeout_s": 300},
        ],
        "routing": {"default_agent": "small"},
    }
    env = baton_env(tmp_path, config)
    home = tmp_path / ".baton"
    code, _, out = _baton_run(env, "small")
    assert code == 0, out[-2000:]
    before = _databases(home)

    code, peak, out = _baton_run(env, "big")
    grown = _databases(home) - before
    figures = f"peak RSS {peak / MB:.0f} MB, databases grew {grown / MB:.2f} MB"
    assert code != 0, figures
    assert "limits.max_file_bytes" in out and "big.txt" in out, out[-2000:]
    assert peak < 300 * MB, figures
    assert grown < 1 * MB, figures
