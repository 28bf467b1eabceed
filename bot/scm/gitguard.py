"""What keeps code a repository controls out of Baton's own git, and out of a step's aftermath.

- `HARDENING` goes before every git command Baton runs (bot/scm/git.py): command-line config beats
  every file, so no hook runs (`core.hooksPath=/dev/null`), no fsmonitor, no embedded repository
  is entered (`diff.ignoreSubmodules=dirty`), and the `ext::` transport is refused.
- `check_repo_config` reads a repository's own config files as data (`git config --file`, cached
  per file version) before each call there and refuses, naming the key, when they set anything
  that runs a program or sends Baton's data elsewhere (`core.sshCommand`, pagers and editors,
  `diff.external`, textconv, filter and merge drivers, credential helpers, includes, ...). The
  operator's own global and system config are theirs and apply as usual.
- `GitSnapshot` checksums what of a `.git` can make git run code — `config`, `hooks/`, `info/`,
  a worktree's own files — before an agent or checks step; `changes` afterwards names what the
  step altered and puts it back. A confined step cannot write there at all (its `.git` is
  read-only); this is what catches a step run with `isolation: none`.
- `remote_auth_env`: a push credential as an `http.extraHeader` for one URL, in the environment of
  the one git call that talks to that remote — never in a clone's config or a file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from bot.domain.ports import ForgeError

HARDENING = (
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "diff.ignoreSubmodules=dirty",
    "-c",
    "submodule.recurse=false",
    "-c",
    "protocol.ext.allow=never",
)
"""Put before every git command Baton runs; see the module docstring."""

# Keys of a repository's own config that make git run a program, read elsewhere, or send data elsewhere.
_UNSAFE_LOCAL_KEY = re.compile(
    r"^(core\.(sshcommand|gitproxy|askpass|editor|pager|hookspath|fsmonitor|worktree|attributesfile"
    r"|excludesfile|alternaterefscommand)"
    r"|sequence\.editor|diff\.external|diff\..+\.(command|textconv)|merge\..+\.driver|filter\..+"
    r"|credential(\..+)?\.helper|include\.path|includeif\..+|gpg(\..+)?\.program|pager\..+"
    r"|remote\..+\.(uploadpack|receivepack|vcs|proxy|pushurl)|url\..+\.(insteadof|pushinsteadof)"
    r"|http(\..+)?\.(proxy|extraheader|sslcainfo|sslcert|sslkey|cookiefile)|uploadpack\.packobjectshook"
    r"|ssh\.variant|interactive\.difffilter)$"
)


class UnsafeRepoConfig(ForgeError):
    """A repository's own config asks git to run a program; Baton's git refuses to work there."""


def remote_auth_env(url: str, token: str) -> dict[str, str]:
    """What to add to `git_env` for one call that talks to `url` (https) as `token`'s owner: an
    `Authorization` header for that URL only, given in the call's environment (never a file)."""
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{url}.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


def git_dirs(workdir: Path) -> tuple[Path, Path] | None:
    """(its own git dir, the common one) of the work tree at `workdir` — the same directory for a
    clone, `.git/worktrees/<name>` and the main `.git` for a worktree; None outside a work tree."""
    dot_git = workdir / ".git"
    if dot_git.is_dir() and not dot_git.is_symlink():
        return dot_git, dot_git
    if not dot_git.is_file():
        return None
    text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
    if not text.startswith("gitdir:"):
        return None
    own = (workdir / text.removeprefix("gitdir:").strip()).resolve()
    common = own
    if (own / "commondir").is_file():
        common = (own / (own / "commondir").read_text(encoding="utf-8").strip()).resolve()
    return own, common


def _config_files(cwd: Path) -> list[Path]:
    """The repository config files git would read for a command run in `cwd` (Baton runs git at
    the top of a work tree, or outside any: `GIT_CEILING_DIRECTORIES` keeps it from looking up)."""
    dirs = git_dirs(cwd)
    if dirs is None:
        # A bare repository (a mirror, bot/scm/mirrors.py): git reads its own `config`.
        return [cwd / "config"] if (cwd / "HEAD").is_file() and (cwd / "objects").is_dir() else []
    own, common = dirs
    return [common / "config", own / "config.worktree"]


@lru_cache(maxsize=4096)  # one per mirror and workspace: hundreds in a campaign
def _unsafe_keys(path: str, _version: tuple[int, int, int]) -> tuple[str, ...]:
    """The unsafe keys set in the config file `path` (as of `_version`: inode, size, mtime)."""
    done = subprocess.run(
        ["git", "config", "--file", path, "--no-includes", "--name-only", "--list", "-z"],
        env={"PATH": os.environ.get("PATH", os.defpath), "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull},
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return (f"(unreadable: {done.stderr.decode('utf-8', 'replace').strip()[-200:]})",)
    names = done.stdout.decode("utf-8", "replace").split("\0")
    return tuple(sorted({n for n in names if n and _UNSAFE_LOCAL_KEY.match(n.lower())}))


def check_repo_config(cwd: Path) -> None:
    """Raise `UnsafeRepoConfig` when the repository at `cwd` sets a key that runs a program."""
    for path in _config_files(cwd):
        try:
            st = path.stat()
        except OSError:
            continue
        found = _unsafe_keys(str(path), (st.st_ino, st.st_size, st.st_mtime_ns))
        if found:
            raise UnsafeRepoConfig(
                f"{path} sets {', '.join(found)}, which could make git run a program or send data "
                "elsewhere; Baton's git does not work in this repository"
            )


_WATCHED_COMMON = ("config", "config.worktree", "hooks", "info")
_WATCHED_OWN = ("config.worktree", "commondir", "gitdir", "info")


@dataclass(frozen=True)
class _Entry:
    digest: str
    mode: int
    content: bytes | None  # kept to put the file back (None for a directory)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            sha.update(chunk)
    return sha.hexdigest()


def _scan(roots: list[Path], keep: bool) -> dict[Path, _Entry]:
    """Every file, directory and symlink at or under `roots` (symlinks are not followed)."""
    found: dict[Path, _Entry] = {}
    pending = list(roots)
    while pending:
        path = pending.pop()
        try:
            info = path.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            found[path] = _Entry("dir", info.st_mode, None)
            pending += sorted(path.iterdir())
        elif stat.S_ISREG(info.st_mode):
            found[path] = _Entry(_digest(path), info.st_mode, path.read_bytes() if keep else None)
        else:
            found[path] = _Entry(f"other:{os.readlink(path) if stat.S_ISLNK(info.st_mode) else info.st_mode}", 0, None)
    return found


@dataclass(frozen=True)
class GitSnapshot:
    """What of a work tree's git directories could make git run code, as a step found it."""

    workdir: Path
    roots: list[Path]
    entries: dict[Path, _Entry] = field(default_factory=dict)

    @classmethod
    def take(cls, workdir: Path) -> GitSnapshot:
        """The snapshot of `workdir`'s `.git` (none to take outside a work tree)."""
        dirs = git_dirs(workdir)
        if dirs is None:
            return cls(workdir, [])
        own, common = dirs
        roots = [common / name for name in _WATCHED_COMMON]
        if own != common:
            roots += [own / name for name in _WATCHED_OWN] + [workdir / ".git"]
        return cls(workdir, roots, _scan(roots, keep=True))

    def changes(self) -> list[str]:
        """What changed since the snapshot (`path (added|removed|modified)`), each put back."""
        now = _scan(self.roots, keep=False)
        changed = sorted(p for p in self.entries.keys() | now.keys() if _key(self.entries.get(p)) != _key(now.get(p)))
        for path in changed:
            self._put_back(path, now.get(path))
        return [f"{self._name(p)} ({_how(self.entries.get(p), now.get(p))})" for p in changed]

    def _put_back(self, path: Path, now: _Entry | None) -> None:
        if now is not None and now.digest == "dir" and path not in self.entries:
            shutil.rmtree(path, ignore_errors=True)
        elif now is not None and now.digest != "dir":
            path.unlink(missing_ok=True)
        was = self.entries.get(path)
        if was is None:
            return
        if was.digest == "dir":
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                path.unlink()
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, stat.S_IMODE(was.mode))
        elif was.content is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(was.content)
            os.chmod(path, stat.S_IMODE(was.mode))

    def _name(self, path: Path) -> str:
        return str(path.relative_to(self.workdir)) if path.is_relative_to(self.workdir) else str(path)


def _key(entry: _Entry | None) -> tuple[str, int] | None:
    return None if entry is None else (entry.digest, entry.mode)


def _how(was: _Entry | None, now: _Entry | None) -> str:
    if was is None:
        return "added"
    return "removed" if now is None else "modified"
