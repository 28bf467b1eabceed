"""`baton skip RUN REPO` and `baton close RUN` as operators use them on a campaign, each command
its own process: the `baton run` that started the campaign died while it waited, nothing else runs
for that home, so the command carries itself out in the foreground (real git remotes, script
agents, real checks, the local forge). A skipped repo leaves the campaign, which then merges the
rest; a close ends it with its open PRs closed and nothing merged."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from bot.domain.models import ChangeState
from bot.scm.local import PullRecord
from tests.e2e.conftest import agent, make_repos, repo_entries
from tests.gitutil import read_file_on

BATON = [sys.executable, "-m", "bot"]


class Campaign:
    """A home with a campaign playbook over `repos`; `bad` repos get an agent that fails."""

    def __init__(self, root: Path, repos: list[str], bad: list[str], campaign: bool = True, **policy: Any) -> None:
        self.root = root
        self.remotes = make_repos(root, repos)
        config: dict[str, Any] = {
            "repos": repo_entries(self.remotes),
            "agents": [
                agent("steady", "--append", "NOTES.md", "renamed"),
                agent("bad", "--exit", "1"),
            ],
            "routing": {"default_agent": "steady", "rules": [{"repo": r, "agent": "bad"} for r in bad]},
        }
        if campaign:
            config["playbooks"] = {"default": {"campaign": {"canary": len(repos), **policy}}}
        (root / "baton.yml").write_text(yaml.safe_dump(config))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}

    def baton(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*BATON, *args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=120)

    def start_and_die_waiting(self) -> str:
        """`baton run` without a terminal follows the campaign until it waits for people, and is
        killed there: no Baton process is left for this home."""
        repos = [arg for name in self.remotes for arg in ("--repo", name)]
        proc = subprocess.Popen(
            [*BATON, "run", "rename the endpoint", *repos],
            cwd=self.root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                waiting = re.match(r"awaiting approval: run `baton approve (\S+)` to merge", line)
                if waiting:
                    return waiting.group(1)
            raise AssertionError(f"baton run ended without waiting: {proc.wait()}")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)

    def shown(self, run_id: str) -> dict[str, Any]:
        result = self.baton("runs", "show", run_id, "--json", "--events")
        assert result.returncode == 0, result.stdout + result.stderr
        shown: dict[str, Any] = json.loads(result.stdout)
        return shown

    def pull(self, repo: str) -> PullRecord:
        (path,) = (self.root / ".baton" / "forge" / repo).glob("*.json")
        return PullRecord.model_validate(json.loads(path.read_text()))


def test_skip_from_the_cli_drops_the_failed_repo_and_the_campaign_then_merges_the_rest(tmp_path: Path) -> None:
    campaign = Campaign(tmp_path, ["api", "web", "broken"], bad=["broken"])
    run_id = campaign.start_and_die_waiting()

    skipped = campaign.baton("skip", run_id, "broken")

    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert "carrying out `baton skip" in skipped.stdout
    assert f"run {run_id} is awaiting_approval" in skipped.stdout
    events = campaign.shown(run_id)["events"]
    assert [e["data"]["repo"] for e in events if e["kind"] == "campaign_skipped"] == ["broken"]
    approved = campaign.baton("approve", run_id)
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert campaign.shown(run_id)["state"] == "merged"
    assert [read_file_on(campaign.remotes[r], "main", "NOTES.md") for r in ("api", "web")] == ["renamed\n"] * 2
    assert not (tmp_path / ".baton" / "forge" / "broken").exists()


def test_close_from_the_cli_ends_the_campaign_closing_its_open_prs(tmp_path: Path) -> None:
    campaign = Campaign(tmp_path, ["api", "web"], bad=[], on_close="close")
    run_id = campaign.start_and_die_waiting()

    closed = campaign.baton("close", run_id)

    assert closed.returncode == 0, closed.stdout + closed.stderr
    assert f"run {run_id} is cancelled" in closed.stdout
    shown = campaign.shown(run_id)
    assert shown["state"] == "cancelled" and "0 merged" in (shown["error"] or "")
    assert [campaign.pull(r).change.state for r in ("api", "web")] == [ChangeState.closed] * 2
    assert [read_file_on(campaign.remotes[r], "main", "README.md") for r in ("api", "web")] == ["# api\n", "# web\n"]


def test_close_of_an_unknown_run_is_refused_with_exit_code_1(tmp_path: Path) -> None:
    campaign = Campaign(tmp_path, ["api"], bad=[])

    result = campaign.baton("close", "r-nope")

    assert result.returncode == 1
    assert result.stdout.strip() == "no run r-nope"


def test_close_of_a_run_that_is_not_a_campaign_is_refused_and_the_run_keeps_waiting(tmp_path: Path) -> None:
    plain = Campaign(tmp_path, ["api"], bad=[], campaign=False)
    run_id = plain.start_and_die_waiting()

    result = plain.baton("close", run_id)

    assert result.returncode == 1
    assert result.stdout.strip() == f"run {run_id} is not a campaign"
    assert plain.shown(run_id)["state"] == "awaiting_approval"
