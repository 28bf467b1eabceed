"""The image test's harness: `make image` run for real, and Baton containers on the machine's Docker
engine, on the host's network (so they reach the machine's PostgreSQL and the stand-ins on loopback,
and nothing else), each removed afterwards whatever happened."""

from __future__ import annotations

import hashlib
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
BATON_UID = 10001
"""The image's `baton` user (Dockerfile: useradd --uid 10001, USER 10001:10001)."""

# This checkout's own tag: another checkout building on the same engine at the same time cannot
# swap the image under this test (`make image` builds baton:local unless told otherwise).
IMAGE = f"baton:test-{hashlib.sha256(str(ROOT).encode()).hexdigest()[:10]}"


def build_image(log: Path) -> str:
    """`make image` for this checkout; fails the test with what it said when it cannot."""
    with log.open("wb") as out:
        done = subprocess.run(
            ["make", "--no-print-directory", "-C", str(ROOT), "image", f"IMAGE={IMAGE}"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=1200,
            check=False,
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        pytest.fail(
            f"`make image` failed (exit {done.returncode}): no image to test. Docker must work on this "
            f"machine (docker/engine.sh installs and starts it as root). Its output ends:\n{tail}",
            pytrace=False,
        )
    return IMAGE


def worker_security_options() -> list[str]:
    """The security options docker-compose.yml gives the workers (what bwrap needs), as `docker run`
    arguments: the test runs with exactly what the deployment file ships."""
    compose: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    options: list[str] = compose["services"]["worker-1"]["security_opt"]
    return [arg for option in options for arg in ("--security-opt", option)]


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )


class Containers:
    """Containers of the image started by one test, all on the host network; `remove_all` removes
    them (printing each one's log tail, which pytest shows when the test failed)."""

    def __init__(self, image: str) -> None:
        self.image = image
        self.prefix = f"baton-test-{uuid.uuid4().hex[:8]}"
        self.names: list[str] = []

    def start(self, role: str, *command: str, options: tuple[str, ...] = ()) -> str:
        """A detached container named after `role` running `command` (the image's CMD when empty)."""
        name = f"{self.prefix}-{role}"
        self.names.append(name)  # before `run`: a half-created container is removed too
        created = docker("run", "--detach", "--name", name, "--network", "host", *options, self.image, *command)
        assert created.returncode == 0, created.stderr
        return name

    def run(self, *command: str, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        """`command` in a throwaway container of the image (removed when it exits)."""
        name = f"{self.prefix}-once-{len(self.names)}"
        self.names.append(name)
        return docker("run", "--rm", "--name", name, "--network", "host", *options, self.image, *command)

    def running(self, name: str) -> bool:
        state = docker("inspect", "--format", "{{.State.Running}}", name)
        return state.stdout.strip() == "true"

    def process_uids(self, name: str) -> set[int]:
        """The real, effective, saved and filesystem uids of the container's first process, read
        from the host's /proc (what it runs as, not what `docker exec` would)."""
        pid = int(docker("inspect", "--format", "{{.State.Pid}}", name).stdout.strip())
        status = Path(f"/proc/{pid}/status").read_text()
        [uids] = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")]
        return {int(uid) for uid in uids}

    def logs(self, name: str) -> str:
        said = docker("logs", "--tail", "60", name)
        return said.stdout + said.stderr

    def remove_all(self) -> None:
        for name in self.names:
            if docker("inspect", name).returncode != 0:
                continue
            print(f"---- {name}\n{self.logs(name)}")
            docker("rm", "--force", "--volumes", name)


def own_for_container(path: Path) -> None:
    """Hand the bare repos under `path` to the image's user: its git refuses a repo another user owns
    (safe.directory). They stay writable for this (root) process's git, and what it adds (the
    stand-in's merges) stays writable for the container's (core.sharedRepository)."""
    for repo in path.glob("*.git"):
        subprocess.run(
            ["git", "--git-dir", str(repo), "config", "core.sharedRepository", "0666"], check=True, timeout=30
        )
    for root, _, files in os.walk(path):
        for entry in [root, *(os.path.join(root, f) for f in files)]:
            os.chown(entry, BATON_UID, BATON_UID)
