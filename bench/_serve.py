"""`baton serve` as a child process for the recovery and idle benchmarks: start it on a home,
wait until it answers, read its threads, memory, CPU and file descriptors, and end it (kill -9
like a crash, or SIGTERM).

Also the small pieces both benchmarks build their worlds from: script agents, and (from engine.py)
bare git remotes and a git environment that ignores the user's configuration.
`make bench` runs every bench/*.py; run as a script this one does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
from engine import git_env, make_remote

__all__ = ["Serve", "baton_env", "free_port", "git_env", "make_remote", "open_fds", "shell_agent"]

ROOT = Path(__file__).resolve().parent.parent


def shell_agent(name: str, shell: str, timeout_s: float = 60) -> dict[str, Any]:
    return {"name": name, "kind": "script", "command": ["sh", "-c", shell], "timeout_s": timeout_s}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def baton_env(home: Path, config: Path, **extra: str) -> dict[str, str]:
    """The environment of a Baton process on `home`: no source's secrets unless given in `extra`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GITHUB_", "LINEAR_", "BATON_"))}
    return (
        clean | git_env() | {"BATON_HOME": str(home), "BATON_CONFIG": str(config), "BATON_LOG_FORMAT": "json"} | extra
    )


@dataclass
class Serve:
    """One `baton serve` process; `started` is its Popen time (time.time())."""

    process: subprocess.Popen[bytes]
    port: int
    started: float
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, env: dict[str, str], log: Path, port: int | None = None, argv: list[str] | None = None) -> Serve:
        """`argv`: another command that serves Baton on `port` (default `baton serve --port PORT`)."""
        port = port or free_port()
        out = log.open("ab")
        started = time.time()
        # BATON_BENCH_PID is the serve's own pid (`exec` keeps the shell's), for agents to name the
        # process that ran them: a confined agent, in its own PID namespace, cannot see its parent.
        serve = ["sh", "-c", 'export BATON_BENCH_PID=$$; exec "$0" "$@"', sys.executable, "-m", "bot", "serve"]
        process = subprocess.Popen(
            argv or [*serve, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        return cls(process, port, started, log)

    def wait_ready(self, timeout: float = 120) -> float:
        """Seconds from start until `/readyz` answers 200 (the store is reachable, DBOS launched)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"baton serve exited {self.process.returncode}; see {self.log}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return time.time() - self.started
            time.sleep(0.01)
        raise RuntimeError(f"baton serve not ready after {timeout:.0f}s; see {self.log}")

    def kill(self) -> float:
        """kill -9, as a crash; returns when it happened (time.time())."""
        at = time.time()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        return at

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), kill -9 if it has not ended in 15 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def psutil(self) -> psutil.Process:
        return psutil.Process(self.process.pid)


def open_fds(process: psutil.Process) -> int:
    try:
        return process.num_fds()
    except (psutil.AccessDenied, AttributeError):
        return len(os.listdir(f"/proc/{process.pid}/fd"))


if __name__ == "__main__":
    print("bench/_serve.py: shared helpers, nothing to measure", file=sys.stderr)
