"""A CLI agent's transcript file: every output line (secrets already redacted), capped in size.

A runaway CLI must not fill the disk under `$BATON_HOME/homes/`: past `cap` bytes the file keeps
its newest half (the end of a run is what explains how it ended), behind a line saying how much
earlier output was dropped.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType


class Transcript:
    """Appends lines to `path` (truncated on open), keeping at most about `cap` bytes of the tail."""

    def __init__(self, path: Path, cap: int) -> None:
        self.path = path
        self.cap = max(cap, 1024)
        self.dropped = 0
        self._size = 0
        self._out = path.open("wb")

    def write(self, line: str) -> None:
        data = (line + "\n").encode("utf-8", errors="replace")
        self._out.write(data)
        self._out.flush()
        self._size += len(data)
        if self._size > self.cap:
            self._keep_tail()

    def _keep_tail(self) -> None:
        self._out.close()
        keep = self.cap // 2
        with self.path.open("rb") as old:
            old.seek(max(0, self._size - keep))
            tail = old.read()
        cut = tail.find(b"\n") + 1  # start at a whole line
        tail = tail[cut:] if 0 < cut < len(tail) else tail
        self.dropped += self._size - len(tail)
        note = f"[baton: {self.dropped} earlier bytes of output dropped; the transcript keeps its tail]\n".encode()
        self._out = self.path.open("wb")
        self._out.write(note + tail)
        self._out.flush()
        self._size = len(note) + len(tail)

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> Transcript:
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
