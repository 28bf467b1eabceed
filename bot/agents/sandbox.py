"""Agent isolation: the bubblewrap (`bwrap`) command line an agent with `isolation: bwrap` runs under.

`Sandbox.wrap` turns an agent's argv into `bwrap ... -- argv`, where the agent sees:

- the system read-only (`/` bound read-only), a fresh `/dev`, its own `/proc` (a new PID namespace:
  Baton's processes and their environments are not there), a private empty `/tmp` and `/run`;
- its run's workspace and its own HOME writable, and the git directories the workspace needs (a
  worktree's shared `.git`, object alternates) — nothing else of Baton's home;
- Baton's home (databases, every run's workspace, every agent's home), its config file, SQLite
  files kept elsewhere and the operator's credential files (`~/.ssh`, `~/.config`, ...) hidden;
- no network at all (its own network namespace, loopback only) unless its config says
  `isolation_network: host`, which a CLI needs to reach its model endpoint.

The environment is the scrubbed one the adapter already builds: it reaches bwrap through `exec`,
never its argv (an argv is readable by every user on the host in /proc). The process group, the
timeout and the cancel still work: bwrap is the group leader, the agent stays in its group (no
`--new-session`; `run_process` already gave the group a session without a terminal), and
`--die-with-parent` plus the PID namespace take every sandboxed process down with bwrap.

Without a bwrap that works here (none on PATH, or one the kernel or a container's seccomp profile
refuses namespaces to: `problem` tries it once), `wrap` returns the argv unchanged (the agent runs as
before: scrubbed environment, own HOME), logs why, and `baton doctor` says so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import structlog

from bot.config import AgentConfig

log = structlog.get_logger(__name__)

CREDENTIAL_FILES = (
    ".ssh",
    ".gnupg",
    ".aws",
    ".azure",
    ".config",
    ".docker",
    ".kube",
    ".netrc",
    ".git-credentials",
    ".gitconfig",
    ".pgpass",
    ".npmrc",
    ".pypirc",
)
"""What, in the home of the user Baton runs as, an agent never sees (its own HOME is elsewhere)."""

_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_files(url: str) -> list[Path]:
    """The files behind a `sqlite:///path` URL (the database and its journals); none for a server."""
    if not url.startswith("sqlite:///"):
        return []
    db = Path(url.removeprefix("sqlite:///")).resolve()
    return [db] + [db.with_name(db.name + side) for side in _SQLITE_SIDE_FILES]


@dataclass(frozen=True)
class Sandbox:
    """How agents are confined on this machine: the bwrap executable (None: not installed) and the
    paths of Baton's own that no agent may see."""

    bwrap: str | None
    hidden: tuple[Path, ...] = ()

    @classmethod
    def detect(cls, hidden: Iterable[Path], *, search_path: str | None = None) -> Sandbox:
        """bwrap as found on `search_path` (default: PATH); `hidden` plus the user's credential files."""
        user_home = Path.home()
        everything = [*hidden, *(user_home / name for name in CREDENTIAL_FILES)]
        return cls(shutil.which("bwrap", path=search_path), tuple(dict.fromkeys(p.resolve() for p in everything)))

    @cached_property
    def problem(self) -> str | None:
        """Why agents cannot be confined on this machine, or None when they can (tried once)."""
        if self.bwrap is None:
            return "not found on PATH (install bubblewrap to confine agents with `isolation: bwrap`)"
        probe = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--unshare-all", "--die-with-parent", "true"]
        try:
            done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"{self.bwrap} does not run: {type(err).__name__}"
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            return f"{self.bwrap} cannot make a sandbox here: {said[:200]}"
        return None

    def confines(self, config: AgentConfig) -> bool:
        """Whether `wrap` really confines this agent (it asked for bwrap and bwrap works here)."""
        return config.isolation == "bwrap" and self.problem is None

    def wrap(self, argv: list[str], workdir: Path, home: Path, config: AgentConfig) -> list[str]:
        """`argv` to run `config`'s agent in `workdir` with HOME `home`, confined when it asks to be."""
        if config.isolation != "bwrap":
            return argv
        if self.problem is not None:
            log.warning("agent.isolation_unavailable", agent=config.name, reason=self.problem, effect="runs unconfined")
            return argv
        assert self.bwrap is not None
        workdir, home = workdir.resolve(), home.resolve()
        args = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for program in _programs_in_tmp(argv):
            # Before the hidden paths' mounts, which therefore still cover anything inside these.
            args += ["--ro-bind", str(program), str(program)]
        args += _private_run()
        dirs = [p for p in self.hidden if p.is_dir()]
        for hidden in dirs:
            args += ["--tmpfs", str(hidden)]
        for path in (home, workdir):
            args += ["--bind", str(path), str(path)]
        for git_dir, writable in _git_dirs(workdir):
            args += ["--bind" if writable else "--ro-bind", str(git_dir), str(git_dir)]
        for hidden in self.hidden:
            # A file is masked unless a hidden directory already removed it from view.
            if hidden.is_file() and not any(hidden.is_relative_to(d) for d in dirs):
                args += ["--ro-bind", "/dev/null", str(hidden)]
        args += ["--unshare-all"]
        if config.isolation_network == "host":
            args += ["--share-net"]
        args += ["--die-with-parent", "--chdir", str(workdir), "--", *argv]
        return args


def _programs_in_tmp(argv: list[str]) -> list[Path]:
    """What the agent runs that the private /tmp would hide (read-only): the Python environment
    Baton runs from, the executable's virtualenv, and the files its argv names by absolute path
    (a checkout under /tmp, as CI's, would otherwise leave `execvp: No such file`)."""
    tmp = Path("/tmp").resolve()
    wanted = [Path(sys.prefix)]
    exe = shutil.which(argv[0]) if argv else None
    if exe:
        wanted.append(_venv_root(Path(exe)) or Path(exe))
    # Files only: an argument naming a directory (say, /tmp itself) is data, not the program.
    wanted += [Path(arg) for arg in argv[1:] if arg.startswith("/") and Path(arg).is_file()]
    found: list[Path] = []
    for path in wanted:
        inside = path.absolute().is_relative_to(tmp) and path.absolute() != tmp
        if path.exists() and inside and path.absolute() not in found:
            found.append(path.absolute())
    return found


def _venv_root(exe: Path) -> Path | None:
    """The virtualenv an executable lives in (the directory with `pyvenv.cfg` above its `bin/`)."""
    root = exe.absolute().parent.parent
    return root if (root / "pyvenv.cfg").is_file() else None


def _private_run() -> list[str]:
    """An empty /run (its sockets — Docker's, PostgreSQL's — are ways out), keeping DNS's resolver
    files where /etc/resolv.conf points into it."""
    run = Path("/run")
    if not run.is_dir() or run.is_symlink():
        return []
    args = ["--tmpfs", "/run"]
    resolv = Path("/etc/resolv.conf")
    if resolv.is_symlink():
        target = resolv.resolve()
        if target.is_relative_to(run) and target.exists():
            args += ["--ro-bind", str(target.parent), str(target.parent)]
    return args


def _git_dirs(workdir: Path) -> list[tuple[Path, bool]]:
    """Git directories outside `workdir` its git needs: a worktree's own and common dirs (writable:
    the index and refs live there) and object alternates (read-only)."""
    found: list[tuple[Path, bool]] = []
    dot_git = workdir / ".git"
    common = dot_git
    if dot_git.is_file():
        text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            own = (workdir / text.removeprefix("gitdir:").strip()).resolve()
            common = own
            commondir = own / "commondir"
            if commondir.is_file():
                common = (own / commondir.read_text(encoding="utf-8").strip()).resolve()
            found += [(common, True)] if own.is_relative_to(common) else [(own, True), (common, True)]
    alternates = common / "objects" / "info" / "alternates"
    if alternates.is_file():
        for line in alternates.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                path = (common / "objects" / line).resolve()
                if path.is_dir():
                    found.append((path, False))
    return [(p, w) for p, w in found if not p.is_relative_to(workdir)]
