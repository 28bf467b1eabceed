"""Confinement: the bubblewrap (`bwrap`) command line an agent or a repo's checks run under.

Every agent is confined unless its config says `isolation: none`; a repo's `checks` command too,
unless `checks_isolation: none`. `Sandbox.wrap` turns an argv into `bwrap ... -- argv`, where the
process sees:

- the system read-only (`/` bound read-only), a fresh `/dev`, its own `/proc` (a new PID namespace:
  Baton's processes and their environments are not there), a private empty `/tmp` and `/run`;
- its run's workspace and its own HOME writable — except the workspace's `.git`, and the git
  directories a worktree needs (its own, the shared one, object alternates), which are read-only:
  it reads the history, Baton alone commits, and nothing it writes there can run in Baton's git;
- Baton's home (databases, every run's workspace, every agent's home), its config file, SQLite
  files kept elsewhere, the bare remotes of configured local repos and the operator's credential
  files (`~/.ssh`, `~/.config`, `~/.git-credentials`, cloud credentials, ...) hidden;
- the paths its config lists under `isolation_writable` writable (anything of the above inside
  them stays hidden);
- no network at all (its own network namespace, loopback only) unless its config says
  `isolation_network: host` (`checks_network: host`), which a CLI needs to reach its model endpoint.

The environment is the scrubbed one the caller builds: it reaches bwrap through `exec`, never its
argv (an argv is readable by every user on the host in /proc). The process group, the timeout and
the cancel still work: bwrap is the group leader, the process stays in its group (no
`--new-session`; `run_process` already gave the group a session without a terminal), and
`--die-with-parent` plus the PID namespace take every sandboxed process down with bwrap.

Without a bwrap that works here (none on PATH, or one the kernel or a container's seccomp profile
refuses namespaces to: `problem` tries it once), `wrap` raises `ConfinementUnavailable` naming the
fix; a confined process never silently runs unconfined. `baton doctor` says the same up front.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from bot.config.agents import AgentConfig
from bot.config.models import BatonFile, RepoConfig
from bot.scm.gitguard import git_dirs
from bot.store.intake import intake_file

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
    ".terraform.d",
    ".oci",
    ".local/share/keyrings",
)
"""What, in the home of the user Baton runs as, an agent never sees (its own HOME is elsewhere)."""

_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_files(url: str) -> list[Path]:
    """The files behind a `sqlite:///path` URL (the database and its journals); none for a server."""
    if not url.startswith("sqlite:///"):
        return []
    db = Path(url.removeprefix("sqlite:///")).resolve()
    files = [db, intake_file(db)]  # the store's, and its intake's (webhook bodies) beside it
    return [f.with_name(f.name + side) for f in files for side in ("", *_SQLITE_SIDE_FILES)]


def local_remotes(config: BatonFile) -> list[Path]:
    """The bare repositories behind configured repos whose `url` is a local path or `file://`."""
    found = []
    for repo in config.repos:
        url = repo.url.removeprefix("file://")
        if url.startswith("/"):
            found.append(Path(url))
    return found


class ConfinementUnavailable(RuntimeError):
    """A process that must be confined cannot be here; the message names what to do."""


@dataclass(frozen=True)
class Confinement:
    """How one kind of process is confined: `isolation`, `network`, extra writable paths, and who
    it is and which key turns it off (for messages)."""

    who: str
    off_switch: str
    isolation: str = "bwrap"
    network: str = "none"
    writable: tuple[Path, ...] = ()

    @classmethod
    def of_agent(cls, config: AgentConfig) -> Confinement:
        return cls(
            who=f"agent {config.name}",
            off_switch=f"`isolation: none` on agent {config.name}",
            isolation=config.isolation,
            network=config.isolation_network,
            writable=tuple(Path(p) for p in config.isolation_writable),
        )

    @classmethod
    def of_checks(cls, repo: RepoConfig) -> Confinement:
        return cls(
            who=f"the checks of {repo.name}",
            off_switch=f"`checks_isolation: none` on repo {repo.name}",
            isolation=repo.checks_isolation,
            network=repo.checks_network,
        )


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
        """Why processes cannot be confined on this machine, or None when they can (tried once)."""
        if self.bwrap is None:
            return "bwrap is not found on PATH"
        # As agents are run: a /proc of its own too, which a container that hides parts of /proc refuses.
        probe = [
            self.bwrap,
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--unshare-all",
            "--die-with-parent",
            "true",
        ]
        try:
            done = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            return f"{self.bwrap} does not run: {type(err).__name__}"
        if done.returncode != 0:
            said = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
            return f"{self.bwrap} cannot make a sandbox here: {said[:200]}"
        return None

    def unavailable(self, confinement: Confinement) -> str:
        """Why `confinement` cannot be had here: the three ways out first (a step's summary is cut
        at 300 characters), then what bwrap said."""
        return (
            f"{confinement.who} must run confined and cannot start: install bubblewrap, let this container "
            "create namespaces (e.g. --security-opt seccomp=unconfined), or write "
            f"{confinement.off_switch} in baton.yml (bwrap: {self.problem})"
        )

    def wrap(self, argv: list[str], workdir: Path, home: Path, confinement: Confinement) -> list[str]:
        """`argv` to run in `workdir` with HOME `home`, confined as `confinement` says; raises
        `ConfinementUnavailable` when it must be confined and cannot be."""
        if confinement.isolation == "none":
            return argv
        if self.problem is not None:
            raise ConfinementUnavailable(self.unavailable(confinement))
        assert self.bwrap is not None
        workdir, home = workdir.resolve(), home.resolve()
        args = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for program in _programs_in_tmp(argv):
            # Before the hidden paths' mounts, which therefore still cover anything inside these.
            args += ["--ro-bind", str(program), str(program)]
        args += _private_run()
        for extra in confinement.writable:
            if extra.is_dir() or extra.is_file():
                args += ["--bind", str(extra.resolve()), str(extra.resolve())]
        dirs = [p for p in self.hidden if p.is_dir()]
        for hidden in dirs:
            args += ["--tmpfs", str(hidden)]
        for path in (home, workdir):
            args += ["--bind", str(path), str(path)]
        # Its history to read, never to write: `.git` itself (a directory, or a worktree's file).
        dot_git = workdir / ".git"
        if dot_git.exists() and not dot_git.is_symlink():
            args += ["--ro-bind", str(dot_git), str(dot_git)]
        for git_dir in _git_dirs(workdir):
            args += ["--ro-bind", str(git_dir), str(git_dir)]
        for hidden in self.hidden:
            # A file is masked unless a hidden directory already removed it from view.
            if hidden.is_file() and not any(hidden.is_relative_to(d) for d in dirs):
                args += ["--ro-bind", "/dev/null", str(hidden)]
        args += ["--unshare-all"]
        if confinement.network == "host":
            args += ["--share-net"]
        args += ["--die-with-parent", "--chdir", str(workdir), "--", *argv]
        return args


@lru_cache(maxsize=1)
def default_sandbox() -> Sandbox:
    """The machine's bwrap hiding only the operator's credential files: for adapters and runners
    built without the composition root's sandbox (which also hides Baton's home and remotes)."""
    return Sandbox.detect([])


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


def _git_dirs(workdir: Path) -> list[Path]:
    """Git directories outside `workdir` its git needs to read: a worktree's own and common dirs,
    and object alternates."""
    found: list[Path] = []
    dirs = git_dirs(workdir)
    if dirs is None:
        return []
    own, common = dirs
    found += [common] if own.is_relative_to(common) else [own, common]
    alternates = common / "objects" / "info" / "alternates"
    if alternates.is_file():
        for line in alternates.read_text(encoding="utf-8", errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                path = (common / "objects" / line).resolve()
                if path.is_dir():
                    found.append(path)
    return [p for p in dict.fromkeys(found) if not p.is_relative_to(workdir)]
