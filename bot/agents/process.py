"""Running an agent's process: the one place that starts, watches, feeds and kills agent CLIs.

Every adapter goes through `run_process`, so every agent gets the same guarantees: its own process
group (a timeout or a cancel kills grandchildren too), no inherited stdin, output streamed line by
line while it runs, a bounded tail kept in memory, and death with Baton: the kernel kills the
agent when the thread that started it dies (`kill -9` of a worker leaves no orphan writing a
workspace another worker may be continuing; a confined agent's bwrap does the same for its tree).
`scrubbed_env` builds the only environment an agent sees, and `redact` blanks secret values out of
anything shown to people.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from bot.config.env_refs import expand

OUTPUT_CAP_CHARS = 64 * 1024
"""How much combined output `ProcessOutcome.output` keeps (the tail)."""

_POLL_S = 0.1
_READ_CHUNK = 64 * 1024  # a "line" longer than this is delivered in pieces, never buffered whole
_QUEUE_LINES = 10_000
_DRAIN_S = 2.0  # how long to wait for the output pipe to close once the process group is gone
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the thread that started it dies (kept across exec)."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


class ProcessStartError(RuntimeError):
    """The command could not be started at all (missing executable, missing cwd, no permission)."""


@dataclass(frozen=True)
class ProcessOutcome:
    exit_code: int | None
    """The exit status; negative when a signal ended it (as in `subprocess`)."""
    timed_out: bool
    cancelled: bool
    output: str
    """Combined stdout and stderr, at most `OUTPUT_CAP_CHARS` of the tail."""
    duration_s: float
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.cancelled


class _Tail:
    """The last `cap` characters of output, as whole lines where possible."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._lines: deque[str] = deque()
        self._size = 0
        self.truncated = False

    def add(self, line: str) -> None:
        self._lines.append(line)
        self._size += len(line) + 1
        while self._size > self._cap and len(self._lines) > 1:
            self._size -= len(self._lines.popleft()) + 1
            self.truncated = True

    def text(self) -> str:
        text = "\n".join(self._lines)
        if len(text) > self._cap:
            self.truncated = True
            text = text[-self._cap :]
        return text


def _read_lines(stream: IO[bytes], lines: queue.Queue[str | None], abandoned: threading.Event) -> None:
    """Feed lines to the bounded queue (a flood of output blocks the writer, not our memory)."""

    def put(item: str | None) -> bool:
        while not abandoned.is_set():
            try:
                lines.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    try:
        for raw in iter(lambda: stream.readline(_READ_CHUNK), b""):
            if not put(raw.decode("utf-8", errors="replace").rstrip("\r\n")):
                return
    except (OSError, ValueError):
        pass  # the pipe went away under us: nothing more to read
    put(None)


def _write_stdin(stream: IO[bytes], text: str) -> None:
    try:
        stream.write(text.encode("utf-8"))
    except (BrokenPipeError, OSError, ValueError):
        pass  # the process stopped reading; its exit status tells the story
    finally:
        with contextlib.suppress(OSError):
            stream.close()


def _leader_exited(pid: int) -> bool:
    """True once the process has exited, without reaping it (so its pid and group id stay ours)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _stop_group(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the whole group, give it `grace_s` to go, then SIGKILL whatever is left."""
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and not _leader_exited(proc.pid):
        time.sleep(0.02)
    # The leader is unreaped (a zombie at worst), so the group id cannot have been reused.
    _signal_group(proc.pid, signal.SIGKILL)


def run_process(
    argv: list[str],
    cwd: Path,
    env: dict[str, str],
    timeout_s: float,
    should_stop: Callable[[], bool],
    on_line: Callable[[str], None] | None = None,
    stdin_text: str | None = None,
    *,
    kill_grace_s: float = 2.0,
    on_start: Callable[[int], None] | None = None,
) -> ProcessOutcome:
    """Run `argv` (no shell) to completion, a timeout, or a stop request; see the module docstring.

    `on_line` is called on the calling thread for each output line, in order. Leftover members of
    the process group (background jobs the command did not wait for) are killed when it exits.
    """
    if not argv:
        raise ProcessStartError("empty command")
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL if stdin_text is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            preexec_fn=_die_with_parent,  # one prctl call in the child: takes no lock a thread could hold
        )
    except OSError as err:
        reason = err.strerror or str(err)
        raise ProcessStartError(f"cannot start {argv[0]!r} in {cwd}: {reason}") from err

    if on_start is not None:
        on_start(proc.pid)  # the process group id: lets a restarted Baton stop an orphan
    assert proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue(maxsize=_QUEUE_LINES)
    abandoned = threading.Event()
    reader = threading.Thread(
        target=_read_lines,
        args=(proc.stdout, lines, abandoned),
        name=f"output-{proc.pid}",
        daemon=True,
    )
    reader.start()
    if stdin_text is not None:
        assert proc.stdin is not None
        writer = threading.Thread(target=_write_stdin, args=(proc.stdin, stdin_text), name="stdin", daemon=True)
        writer.start()

    tail = _Tail(OUTPUT_CAP_CHARS)
    timed_out = cancelled = False
    eof = False
    deadline = started + timeout_s

    def take(line: str | None) -> None:
        nonlocal eof
        if line is None:
            eof = True
            return
        tail.add(line)
        if on_line is not None:
            on_line(line)

    try:
        while True:
            try:
                take(lines.get(timeout=_POLL_S))
                slice_end = time.monotonic() + _POLL_S  # a flood must not starve the checks
                while not eof and time.monotonic() < slice_end:
                    take(lines.get_nowait())
            except queue.Empty:
                pass
            if _leader_exited(proc.pid):
                break
            if should_stop():
                cancelled = True
                break
            if time.monotonic() >= deadline:
                timed_out = True
                break
    except BaseException:
        abandoned.set()
        raise
    finally:
        if timed_out or cancelled or not _leader_exited(proc.pid):
            _stop_group(proc, kill_grace_s)
        else:
            _signal_group(proc.pid, signal.SIGKILL)  # leftovers only: the leader is done
        exit_code = proc.wait()

    drain_until = time.monotonic() + _DRAIN_S
    while not eof:
        remaining = drain_until - time.monotonic()
        if remaining <= 0:
            break  # something outside the group still holds the pipe; stop listening
        try:
            take(lines.get(timeout=min(remaining, _POLL_S)))
        except queue.Empty:
            continue
    abandoned.set()
    if eof:
        proc.stdout.close()

    output = tail.text()
    return ProcessOutcome(
        exit_code=exit_code,
        timed_out=timed_out,
        cancelled=cancelled,
        output=output,
        duration_s=round(time.monotonic() - started, 3),
        truncated=tail.truncated,
    )


def scrubbed_env(
    allowed: Mapping[str, str],
    home: Path,
    *,
    source: Mapping[str, str] | None = None,
    what: str = "agent environment",
) -> dict[str, str]:
    """The complete environment for an agent: a minimal base plus exactly what its config lists.

    Base: PATH from Baton's own, HOME=`home`, LANG/LC_ALL=C.UTF-8, TMPDIR=`home`/tmp (both
    directories are created). Listed values may use `${NAME}` to take NAME from Baton's environment
    (`source`, default `os.environ`); a missing NAME raises `AgentEnvError` naming it (no values).
    Listed keys override the base. Nothing else is inherited, so Baton's own SLACK_*, GITHUB_*,
    LINEAR_* and BATON_* secrets reach an agent only when its config lists them.
    """
    parent = os.environ if source is None else source
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": parent.get("PATH", os.defpath),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TMPDIR": str(tmp),
    }
    for key, value in allowed.items():
        env[key] = expand(key, value, parent, what)
    return env
