"""Installs the real agent CLIs for the real-binary test tier, pinned, into a cache outside the clone.

`~/.cache/baton/tools` (or `BATON_TOOLS_DIR`) holds one directory per tool and version:
`codex-0.169.0/` and `opencode-1.18.33/` (npm prefixes), `aider-chat-0.86.2/` (a venv). A tool is
installed into a scratch directory and renamed into place only when it works (`--version`
answers), with a marker file recording how long the install took; a file lock per tool lets
parallel test workers share one install. A cold cache takes about a minute (aider dominates);
a warm one costs a lock and a stat. Anything that cannot be installed raises `ToolInstallError`
with the command and its output: the tier fails loudly, it is never skipped.

Claude Code is proprietary: it is installed (never vendored) only when BATON_TEST_CLAUDE=1.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

MARKER = ".baton-installed"
INSTALL_TIMEOUT_S = 900


class ToolInstallError(RuntimeError):
    """A pinned CLI could not be installed; the message says which command failed and why."""


@dataclass(frozen=True)
class Tool:
    name: str
    package: str
    version: str
    manager: str  # npm | pip
    entry: str  # the npm bin name, or the python module to run with -m

    @property
    def dirname(self) -> str:
        return f"{self.name}-{self.version}"


TOOLS = {
    "codex": Tool("codex", "@openai/codex", "0.169.0", "npm", "codex"),
    "opencode": Tool("opencode", "opencode-ai", "1.18.33", "npm", "opencode"),
    "aider": Tool("aider-chat", "aider-chat", "0.86.2", "pip", "aider"),
    "claude": Tool("claude-code", "@anthropic-ai/claude-code", "2.1.197", "npm", "claude"),
}


def tools_dir() -> Path:
    return Path(os.environ.get("BATON_TOOLS_DIR") or Path.home() / ".cache" / "baton" / "tools").expanduser()


def command_for(tool: Tool, root: Path) -> list[str]:
    """The argv prefix that starts the installed CLI."""
    if tool.manager == "npm":
        return [str(root / "node_modules" / ".bin" / tool.entry)]
    return [str(root / "bin" / "python"), "-m", tool.entry]


def install(key: str) -> list[str]:
    """Install `TOOLS[key]` if the cache lacks it; return the argv prefix that starts it."""
    tool = TOOLS[key]
    base = tools_dir()
    base.mkdir(parents=True, exist_ok=True)
    final = base / tool.dirname
    with (base / f".lock-{tool.dirname}").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (final / MARKER).exists():
            _install_fresh(tool, base, final)
    return command_for(tool, final)


def install_record(key: str) -> dict[str, object]:
    """What the marker says about an install (its duration in seconds, when it was made)."""
    marker = tools_dir() / TOOLS[key].dirname / MARKER
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _install_fresh(tool: Tool, base: Path, final: Path) -> None:
    scratch = base / f".tmp-{tool.dirname}-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.rmtree(final, ignore_errors=True)  # a half-made directory from an interrupted install
    started = time.monotonic()
    if tool.manager == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise ToolInstallError(f"cannot install {tool.package}: npm is not on PATH (the tier needs node 20 + npm)")
        scratch.mkdir(parents=True)
        spec = f"{tool.package}@{tool.version}"
        _run([npm, "install", "--prefix", str(scratch), "--no-audit", "--no-fund", "--loglevel=error", spec], tool)
    else:
        _run([sys.executable, "-m", "venv", str(scratch)], tool)
        pip = [str(scratch / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        _run([*pip, f"{tool.package}=={tool.version}"], tool)
    seconds = round(time.monotonic() - started, 1)
    version = _run([*command_for(tool, scratch), "--version"], tool, timeout=60)
    if tool.version not in version:
        raise ToolInstallError(f"{tool.package} installed, but `--version` says {version.strip()!r}")
    (scratch / MARKER).write_text(json.dumps({"seconds": seconds, "at": time.time(), "version": tool.version}))
    scratch.rename(final)


def _run(argv: list[str], tool: Tool, timeout: float = INSTALL_TIMEOUT_S) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ToolInstallError(f"installing {tool.package}=={tool.version}: `{' '.join(argv)}` failed: {err}") from err
    if proc.returncode != 0:
        tail = (proc.stderr + proc.stdout).strip()[-2000:]
        raise ToolInstallError(
            f"installing {tool.package}=={tool.version}: `{' '.join(argv)}` exited {proc.returncode}:\n{tail}"
        )
    return proc.stdout + proc.stderr


if __name__ == "__main__":  # `python -m tests.agent_tools codex aider ...`: warm the cache by hand
    for name in sys.argv[1:] or ["codex", "opencode", "aider"]:
        started = time.monotonic()
        print(name, install(name), f"{time.monotonic() - started:.1f}s", install_record(name))
