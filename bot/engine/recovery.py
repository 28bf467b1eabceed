"""Crash recovery across processes: each Baton process is a DBOS executor with its own id and a
heartbeat; a process that finds a dead executor (its pid gone on this host, or its heartbeat
stale) claims it once and re-enqueues its pending runs, which continue from their last step.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from dbos import DBOS

from bot.domain.models import utcnow
from bot.store.store import Store

log = structlog.get_logger(__name__)

HEARTBEAT_S = 2.0
STALE_AFTER = timedelta(seconds=30)


def new_executor_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _gone(host: str, pid: int, beat: datetime, here: str, now: datetime) -> bool:
    """An executor is dead when its pid is gone on this host, or its heartbeat is stale."""
    return (host == here and not _pid_alive(pid)) or now - beat > STALE_AFTER


def live_executors(store: Store) -> list[tuple[str, str, int]]:
    """(executor id, host, pid) of every process executing runs on this store now (`serve`,
    `worker`, `run`, `demo`): the ones that will carry out a decision recorded in it."""
    here, now = socket.gethostname(), utcnow()
    return [
        (executor_id, host, pid)
        for executor_id, host, pid, beat, recovered in store.executors()
        if not recovered and not _gone(host, pid, beat, here, now)
    ]


class ExecutorLease:
    def __init__(self, store: Store, executor_id: str, on_beat: Callable[[], object] | None = None) -> None:
        """`on_beat`: also called at every heartbeat (the queue pace's `settle`)."""
        self.store = store
        self.executor_id = executor_id
        self.on_beat = on_beat
        self.host = socket.gethostname()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.store.heartbeat(self.executor_id, self.host, os.getpid())
        self.sweep()
        self._thread = threading.Thread(target=self._loop, name="baton-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.store.heartbeat(self.executor_id, self.host, os.getpid())
                self.sweep()
                if self.on_beat is not None:
                    self.on_beat()
            except Exception as err:  # a lost heartbeat must not kill the process
                log.warning("lease.heartbeat_failed", error=str(err))

    def dead_executors(self) -> list[str]:
        now = utcnow()
        dead = []
        for executor_id, host, pid, beat, recovered in self.store.executors():
            if executor_id == self.executor_id or recovered:
                continue
            if _gone(host, pid, beat, self.host, now):
                dead.append(executor_id)
        return dead

    def sweep(self) -> list[str]:
        """Recover the pending workflows of every executor that died; returns their ids."""
        taken = []
        for executor_id in self.dead_executors():
            if self.store.mark_recovered(executor_id):
                handles = DBOS._recover_pending_workflows([executor_id])
                log.info("lease.recovered", executor=executor_id, workflows=len(handles))
                taken.append(executor_id)
        return taken
