"""An executable stand-in for an agent CLI: replays a recorded output stream, then exits.

Adapters start it exactly as they start the real CLI (their own flags and prompt appended), so
tests see the real subprocess path: process group, streaming, timeouts, cancellation. What it does
beyond replaying is chosen through environment variables (which the agent's `env` config passes):

    REPLAY_EXIT=N            exit status (default 0)
    REPLAY_RECORD=PATH       write {"argv": [...], "env": {...}, "cwd": ...} as JSON before replaying
    REPLAY_WRITE=REL=TEXT    write TEXT to REL in the working directory (";"-separated for several)
    REPLAY_HANG=1            after replaying, sleep until killed (a child process sleeps too)
    REPLAY_CHILD_PID=PATH    write the sleeping child's pid here (to check the group was killed)
    REPLAY_DELAY=S           pause S seconds between lines
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    recording = Path(sys.argv[1])
    record = os.environ.get("REPLAY_RECORD")
    if record:
        data = {"argv": sys.argv[2:], "env": dict(os.environ), "cwd": os.getcwd()}
        Path(record).write_text(json.dumps(data), encoding="utf-8")
    for spec in filter(None, os.environ.get("REPLAY_WRITE", "").split(";")):
        rel, _, text = spec.partition("=")
        target = Path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text + "\n", encoding="utf-8")
    delay = float(os.environ.get("REPLAY_DELAY", "0"))
    for line in recording.read_text(encoding="utf-8").splitlines():
        print(line, flush=True)
        if delay:
            time.sleep(delay)
    if os.environ.get("REPLAY_HANG"):
        pid_file = os.environ.get("REPLAY_CHILD_PID")
        # The pid file's path rides in the child's argv: in a sandbox's own PID namespace the pid
        # means nothing outside, so a test finds the child by this mark in /proc/*/cmdline.
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", pid_file or ""])
        if pid_file:
            Path(pid_file).write_text(str(child.pid), encoding="utf-8")
        time.sleep(600)
    return int(os.environ.get("REPLAY_EXIT", "0"))


if __name__ == "__main__":
    sys.exit(main())
