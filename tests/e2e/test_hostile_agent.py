"""A hostile agent, and a hostile repo `checks` command, against a real `baton run` process that
holds canary secrets in its environment. Neither is given an `isolation` key: the default must
hold. Each tries everything in tests/e2e/tools/hostile.py (secrets from /proc, Baton's files,
hooks, fsmonitor, filters, sshCommand, a direct push to main) and the run is approved (`--yes`).

Afterwards no canary is in the PR, the remote (every object), any file under Baton's home the
agent or checks could write, or Baton's databases; no payload left a marker outside the
workspace; and the remote's main moved once, by Baton's merge of the approved head.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.scm.git import run_git
from tests.e2e.conftest import TOOL
from tests.e2e.scale_support import baton_env
from tests.gitutil import make_remote

HOSTILE = Path(__file__).parent / "tools" / "hostile.py"
CANARIES = {
    "GITHUB_TOKEN": "ghp_canary0github0token0000000000000",
    "SLACK_SIGNING_SECRET": "canary-slack-signing-secret-8c1f",
    "SLACK_BOT_TOKEN": "xoxb-canary-slack-bot-token-51d2",
    "LINEAR_API_KEY": "lin_api_canary_linear_key_77aa",
    "OPENAI_API_KEY": "sk-canary-openai-key-90bd",
    "AWS_SECRET_ACCESS_KEY": "canary/aws/secret/access/key/3e0f",
}


@dataclass
class Outcome:
    root: Path
    home: Path
    remote: Path
    markers: Path
    stdout: str
    returncode: int

    def pr(self) -> dict[str, Any]:
        (record,) = (self.home / "forge" / "api").glob("*.json")
        data: dict[str, Any] = json.loads(record.read_text())
        return data


@pytest.fixture
def root() -> Iterator[Path]:
    """Outside /tmp: a confined process must be kept from these paths by its sandbox's own view,
    not by its private /tmp."""
    made = Path(tempfile.mkdtemp(prefix="baton-hostile-", dir="/var/tmp"))
    yield made
    shutil.rmtree(made, ignore_errors=True)


def _hostile(root: Path, loot: str) -> list[str]:
    home = root / ".baton"
    reads = [home / "baton.db", home / "dbos.db", root / "baton.yml", Path.home() / ".git-credentials"]
    # A copy beside the test's repos: a checkout under /tmp (as CI's may be) is hidden from a
    # confined checks command, whose script is named inside its command line, not in its argv.
    tool = root / HOSTILE.name
    shutil.copyfile(HOSTILE, tool)
    argv = [sys.executable, str(tool), "--markers", str(root / "markers"), "--loot", loot]
    for path in reads:
        argv += ["--read", str(path)]
    return argv


def _run(root: Path, agent: list[str], checks: str) -> Outcome:
    (root / "remotes").mkdir()
    (root / "markers").mkdir()
    remote = make_remote(root / "remotes", "api", {"README.md": "# api\n"})
    config = {
        "repos": [{"name": "api", "url": str(remote), "checks": checks}],
        "agents": [{"name": "coder", "kind": "script", "command": agent, "timeout_s": 120}],
    }
    env = {**baton_env(root, config), **CANARIES}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "change the readme", "--repo", "api", "--yes"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return Outcome(root, root / ".baton", remote, root / "markers", done.stdout + done.stderr, done.returncode)


def _leaks(data: bytes) -> list[str]:
    return [name for name, value in CANARIES.items() if value.encode() in data]


def _files_under(*folders: Path) -> Iterator[Path]:
    for folder in folders:
        if folder.is_dir():
            yield from (p for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _remote_objects(remote: Path) -> bytes:
    listing = ["--git-dir", str(remote), "cat-file", "--batch-all-objects", "--batch"]
    return subprocess.run(["git", *listing], capture_output=True, check=True).stdout


def _assert_nothing_escaped(outcome: Outcome) -> None:
    assert sorted(p.name for p in outcome.markers.iterdir()) == []
    assert _leaks(_remote_objects(outcome.remote)) == []
    written = {str(p): _leaks(p.read_bytes()) for p in _files_under(outcome.home, outcome.root / "remotes")}
    assert {path: found for path, found in written.items() if found} == {}
    assert outcome.returncode == 0, outcome.stdout[-3000:]
    pr = outcome.pr()
    assert _leaks(json.dumps(pr).encode()) == []
    # main moved once: Baton's merge of the approved head onto the initial commit.
    main = run_git(["--git-dir", str(outcome.remote), "rev-list", "--first-parent", "main"], outcome.remote)
    merge, initial = main.splitlines()
    parents = run_git(["--git-dir", str(outcome.remote), "rev-list", "--parents", "-n1", merge], outcome.remote)
    assert parents.split() == [merge, initial, pr["change"]["head_sha"]]
    assert pr["change"]["merge_sha"] == merge
    branches = run_git(["--git-dir", str(outcome.remote), "for-each-ref", "--format=%(refname)"], outcome.remote)
    assert sorted(branches.splitlines()) == sorted(["refs/heads/main", f"refs/heads/{pr['change']['branch']}"])


def test_a_hostile_agent_with_no_isolation_key_takes_nothing_and_runs_nothing_of_its_own(root: Path) -> None:
    outcome = _run(root, _hostile(root, "LOOT.txt"), "test ! -e BROKEN")
    _assert_nothing_escaped(outcome)
    loot = run_git(["--git-dir", str(outcome.remote), "show", f"{outcome.pr()['change']['head_sha']}:LOOT.txt"], root)
    assert "own env:" in loot  # it ran, and what it could see reached the PR (without a secret)


def test_a_hostile_checks_command_takes_nothing_and_runs_nothing_of_its_own(root: Path) -> None:
    benign = [sys.executable, str(TOOL), "--append", "README.md", "a benign change"]
    checks = " ".join(_hostile(root, "LOOT.txt"))
    outcome = _run(root, benign, checks)
    _assert_nothing_escaped(outcome)
    assert "looked around" in outcome.pr()["change"]["checks_output"]  # it ran as the PR's checks
