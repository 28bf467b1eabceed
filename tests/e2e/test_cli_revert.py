"""`baton runs revert RUN` as operators use it, each command its own process: on a merged run it
starts the revert run and follows it until another terminal's `baton approve` merges the revert
PR; on a run that did not merge it is refused in one line with exit code 1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

from bot.engine.revert_spec import revert_run_id
from tests.e2e.conftest import TOOL, make_repos
from tests.e2e.test_cli import BATON, _baton, _env
from tests.gitutil import read_file_on


def _config(tmp_path: Path) -> tuple[str, Path]:
    remote = make_repos(tmp_path, ["api"])["api"]
    coder = {"name": "coder", "command": [sys.executable, str(TOOL), "--append", "README.md", "use /v2/items"]}
    config = {"repos": [{"name": "api", "url": str(remote)}], "agents": [coder]}
    return yaml.safe_dump(config), remote


def _runs(tmp_path: Path) -> dict[str, str]:
    listed = json.loads(_baton(tmp_path, "runs", "list", "--json").stdout)
    return {str(r["run_id"]): str(r["state"]) for r in listed}


def test_runs_revert_follows_the_revert_run_until_another_terminals_approval_merges_it(tmp_path: Path) -> None:
    config, remote = _config(tmp_path)
    merged = _baton(tmp_path, "run", "move to /v2/items", "--repo", "api", "--yes", config=config)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    [run_id] = _runs(tmp_path)
    assert "use /v2/items" in read_file_on(remote, "main", "README.md")

    following = subprocess.Popen(
        [*BATON, "runs", "revert", run_id],
        env=_env(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        revert_id = revert_run_id(run_id)
        deadline = time.monotonic() + 60
        while _runs(tmp_path).get(revert_id) != "awaiting_approval":
            assert time.monotonic() < deadline, "the revert run never asked for approval"
            time.sleep(0.2)
        assert read_file_on(remote, "main", "README.md") != "# api\n"  # not merged before the approval
        approved = _baton(tmp_path, "approve", revert_id)
        assert approved.returncode == 0, approved.stdout + approved.stderr
        output, _ = following.communicate(timeout=60)
    finally:
        if following.poll() is None:
            following.kill()
    assert following.returncode == 0, output
    assert f"revert run {revert_id} opens revert PRs for api" in output
    assert _runs(tmp_path)[revert_id] == "merged"
    assert read_file_on(remote, "main", "README.md") == "# api\n"


def test_runs_revert_on_an_unknown_run_is_refused_in_one_line(tmp_path: Path) -> None:
    result = _baton(tmp_path, "runs", "revert", "r-nope")
    assert result.returncode == 1
    assert result.stdout.strip() == "no run r-nope"
