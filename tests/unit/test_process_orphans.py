"""An agent outlives nothing: `kill -9` of the Baton process that started it kills it too (the
worker that takes the repo over must not find a stray agent still writing)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.unit.test_process import read_pid, wait_dead

BATON_LIKE = """
import os, sys
from pathlib import Path
from bot.agents.process import run_process
run_process(["sh", "-c", "echo $$ > " + sys.argv[1] + "; exec sleep 60"], Path(sys.argv[2]),
            {"PATH": os.environ["PATH"]}, 60, lambda: False)
"""


def test_an_agent_dies_with_the_killed_process_that_started_it(tmp_path: Path) -> None:
    pidfile = tmp_path / "agent.pid"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    baton = subprocess.Popen([sys.executable, "-c", BATON_LIKE, str(pidfile), str(tmp_path)], env=env)
    try:
        agent = read_pid(pidfile, within_s=20)
        baton.send_signal(signal.SIGKILL)
        baton.wait(10)
        assert wait_dead(agent, within_s=5)
    finally:
        if baton.poll() is None:
            baton.kill()
        left = pidfile.read_text().strip() if pidfile.exists() else ""
        if left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(left), signal.SIGKILL)  # only when the test failed: no stray sleep
