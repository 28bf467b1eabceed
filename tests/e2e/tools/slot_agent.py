"""An agent for scale-out tests that records what it did and whether its repo was over its limit.

Each invocation appends `start <run> <repo> <id> <parent pid>` to `<log>/invocations.log` (the id is
its own, unique; the parent is the Baton process that ran it, from `PARENT_PID` in its environment:
confined, its own pids are its sandbox's), then
takes one of `--slots` lock files of its repo (`flock`, released by the kernel however the process
ends, even by `kill -9`); finding them all held means more agents of that repo run at once than the
limit allows, and it appends `overlap <run> <repo>` to `<log>/overlaps.log`. It then sleeps, writes
`done/<run>.txt` in the workspace (one file per run: the PR carries it), reports through the script
agent's protocol, and only after that report was written appends `end <run> <repo> <id>` — an
orphan whose Baton process died cannot write its report (the pipe is gone), so it never ends.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import sys
import time
import uuid
from pathlib import Path
from typing import IO


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")


def _take_slot(locks: Path, repo: str, slots: int) -> IO[str] | None:
    """A held slot of `repo`, or None when every slot stays held. A kill -9'ed predecessor's lock
    goes with its process a moment after the kill; the short retry lets it go."""
    deadline = time.monotonic() + 0.3
    while True:
        for number in range(slots):
            handle = (locks / f"{repo}.{number}").open("a", encoding="utf-8")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            return handle
        if time.monotonic() > deadline:
            return None
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--slots", required=True, type=int)
    parser.add_argument("--sleep", type=float, default=1.0)
    args = parser.parse_args()
    run, repo = os.environ["BATON_RUN_ID"], os.environ["BATON_REPO"]
    locks = args.log / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    me = uuid.uuid4().hex
    parent = os.environ.get("PARENT_PID") or str(os.getppid())
    _append(args.log / "invocations.log", f"start {run} {repo} {me} {parent}")
    slot = _take_slot(locks, repo, args.slots)
    if slot is None:
        _append(args.log / "overlaps.log", f"overlap {run} {repo}")
    time.sleep(args.sleep)
    Path("done").mkdir(exist_ok=True)
    Path("done", f"{run}.txt").write_text(f"{run}\n", encoding="utf-8")
    print(f"BATON_SUMMARY marked {run} in {repo}", flush=True)
    _append(args.log / "invocations.log", f"end {run} {repo} {me}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
