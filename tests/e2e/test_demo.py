"""`baton demo`: the pitch, end to end through the real command — one request fans out to an API
and its clients, each repo's tests run, linked PRs wait for one approval, then merge API first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.demo.sandbox import API_REPO, CLIENT_NAMES
from tests.gitutil import read_file_on

BATON = [sys.executable, "-m", "bot"]
REPOS = (API_REPO, *CLIENT_NAMES)


def _baton(args: list[str], home: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BATON_HOME": str(home), "BATON_CONFIG": str(config)}
    return subprocess.run([*BATON, *args], env=env, capture_output=True, text=True, timeout=120)


def _only_run(root: Path) -> dict[str, Any]:
    """`baton runs list --json` of the demo's sandbox: the one run it made."""
    listing = _baton(["runs", "list", "--json"], root / ".baton", root / "baton.yml")
    runs: list[dict[str, Any]] = json.loads(listing.stdout)
    assert len(runs) == 1
    return runs[0]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One real `baton demo --yes` run, read by every test below."""
    root = tmp_path_factory.mktemp("demo") / "sandbox"
    result = subprocess.run(
        [*BATON, "demo", "--yes", "--dir", str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return result, root


def test_demo_merges_the_rename_into_every_remote(
    demo: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    result, root = demo
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ended merged" in result.stdout
    for name in REPOS:
        remote = root / "remotes" / f"{name}.git"
        tree = subprocess.run(["git", "grep", "-l", "/v1/products", "main"], cwd=remote, capture_output=True, text=True)
        assert tree.stdout.strip(), f"{name} main has no /v1/products"
        old = subprocess.run(["git", "grep", "-l", "/v1/items", "main"], cwd=remote, capture_output=True, text=True)
        assert old.stdout.strip() == "", f"{name} main still mentions /v1/items"


def test_demo_merges_the_api_before_its_clients(
    demo: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    result, root = demo
    assert result.returncode == 0, result.stdout + result.stderr
    run = _only_run(root)
    shown = _baton(["runs", "show", run["run_id"], "--json"], root / ".baton", root / "baton.yml")
    events = json.loads(shown.stdout)["events"]
    merged = [e["data"]["repo"] for e in events if e["kind"] == "merged"]
    assert merged[0] == "inventory-api"
    assert sorted(merged[1:]) == sorted(CLIENT_NAMES)


def test_demo_records_one_approval_bound_to_every_pr_head(
    demo: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    result, root = demo
    assert result.returncode == 0, result.stdout + result.stderr
    run = _only_run(root)
    assert len(run["approvals"]) == 1
    approval = run["approvals"][0]
    assert approval["head_shas"] == {pr["repo"]: pr["head_sha"] for pr in run["prs"]}
    assert all(pr["state"] == "merged" and pr["checks"] == "passed" for pr in run["prs"])


def test_demo_leaves_green_tests_on_every_default_branch(
    demo: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    result, root = demo
    assert result.returncode == 0, result.stdout + result.stderr
    for name in REPOS:
        work = tmp_path / "check" / name
        subprocess.run(["git", "clone", "-q", str(root / "remotes" / f"{name}.git"), str(work)], check=True)
        tests = subprocess.run(
            [sys.executable, "-B", "-m", "unittest", "discover", "-q"],
            cwd=work,
            capture_output=True,
            text=True,
        )
        assert tests.returncode == 0, tests.stderr
    assert "/v1/products" in read_file_on(root / "remotes" / "inventory-api.git", "main", "contract.json")


def test_demo_ends_with_the_commands_that_show_its_run_again(
    demo: tuple[subprocess.CompletedProcess[str], Path], tmp_path: Path
) -> None:
    result, root = demo
    run_id = _only_run(root)["run_id"]
    after = result.stdout[result.stdout.index("What next") :].splitlines()
    home = root.resolve() / ".baton"
    assert f"  run:        {run_id}" in after
    assert f"  see it:     baton --home {home} runs show {run_id}" in after
    assert any(line.startswith(f"  dashboard:  baton --home {home} serve") for line in after)
    assert any(line.startswith(f"  your own:   cp {root.resolve() / 'baton.yml'} baton.yml") for line in after)
    # The printed command, run from anywhere with no BATON_* set, shows the run.
    command = next(line for line in after if "see it:" in line).split("see it:")[1].split()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    shown = subprocess.run([*BATON, *command[1:]], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=60)
    assert shown.stdout.startswith(f"Run {run_id} — merged\n")
