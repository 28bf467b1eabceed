"""Which agent processes of which run are alive on this host: one pidfile per running step (host and
process group), so a cancel kills every agent of a run — even one started by a process that is about
to exit — and a step re-run after a crash first kills what its previous incarnation left running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from pathlib import Path


class PidFiles:
    """Pidfiles under `root/<run_id>/<step>.pid` (the `AgentProcesses` port)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def started(self, run_id: str, step_key: str, pgid: int) -> None:
        path = self._path(run_id, step_key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{socket.gethostname()} {pgid}")

    def finished(self, run_id: str, step_key: str) -> None:
        self._path(run_id, step_key).unlink(missing_ok=True)

    def stop_leftover(self, run_id: str, step_key: str) -> None:
        """Kill what an earlier incarnation of this step left running here."""
        self._stop(self._path(run_id, step_key))

    def stop_run(self, run_id: str) -> int:
        """Kill every agent of a run still running on this host; how many were stopped."""
        pidfiles = sorted((self.root / run_id).glob("*.pid"))
        for pidfile in pidfiles:
            self._stop(pidfile)
        return len(pidfiles)

    def _path(self, run_id: str, step_key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in step_key)
        return self.root / run_id / f"{safe}.pid"

    @staticmethod
    def _stop(pidfile: Path) -> None:
        try:
            host, pgid = pidfile.read_text().split()
        except (FileNotFoundError, ValueError):
            return
        if host == socket.gethostname():  # a process group id means nothing on another host
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(int(pgid), signal.SIGKILL)
        pidfile.unlink(missing_ok=True)
