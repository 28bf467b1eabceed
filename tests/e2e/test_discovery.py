"""`baton run --discover` end to end over real git: the search picks exactly the repos whose
default branch matches plus their providers, never a decoy; consumers' PRs say what they depend on
and their agents are told about the provider's change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from bot.domain.models import Decision, RunState
from bot.scm.git import run_git
from tests.e2e.conftest import APPROVER, CHECKS, RuntimeFactory, agent, event_data, submit, until, wait_for
from tests.gitutil import make_remote

BATON = [sys.executable, "-m", "bot"]
USES = 'def items():\n    return get("/v1/items")\n'
DECOY = 'def items():\n    return get("/v2/items")  # already moved\n'
CONSUMERS = ["web", "mobile", "billing"]
DECOYS = ["docs", "search", "admin"]


def _setup(tmp_path: Path) -> tuple[dict[str, Path], dict[str, object]]:
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    files = {"api": {"server.py": "ROUTE = 'items'\n"}}
    files |= {n: {"src/client.py": USES} for n in CONSUMERS}
    files |= {n: {"src/client.py": DECOY} for n in DECOYS}
    made = {n: make_remote(remotes, n, f) for n, f in files.items()}
    # Consumers and one decoy depend on the API; the decoy must stay out (it does not match).
    depends = {n: ["api"] for n in [*CONSUMERS, "admin"]}
    tasks = tmp_path / "tasks" / "log"
    tasks.parent.mkdir()
    coder = agent("coder", "--append", "CHANGED.md", "renamed", "--plan-to", str(tasks), "--summary", "ROUTE renamed")
    config: dict[str, object] = {
        "repos": [
            {"name": n, "url": str(p), "checks": CHECKS, "depends_on": depends.get(n, [])} for n, p in made.items()
        ],
        "agents": [coder],
        "routing": {"default_agent": "coder"},
    }
    return made, config


def _baton_run(tmp_path: Path, config: dict[str, object], *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "baton.yml").write_text(yaml.safe_dump(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GITHUB_", "LINEAR_"))}
    env |= {"BATON_HOME": str(tmp_path / ".baton"), "BATON_CONFIG": str(tmp_path / "baton.yml")}
    return subprocess.run(
        [*BATON, "run", "Rename /v1/items to /v1/products", *args, "--yes"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )


def _branches(remote: Path) -> list[str]:
    return run_git(["for-each-ref", "--format=%(refname)", "refs/heads"], remote).split()


def _bodies(tmp_path: Path, repo: str) -> list[str]:
    folder = tmp_path / ".baton" / "forge" / repo
    return [json.loads(p.read_text())["body"] for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def test_discover_runs_on_exactly_the_matching_repos_and_their_provider(tmp_path: Path) -> None:
    remotes, config = _setup(tmp_path)
    before = {n: run_git(["rev-parse", "refs/heads/main"], remotes[n]) for n in DECOYS}
    result = _baton_run(tmp_path, config, "--discover", "/v1/items")
    assert result.returncode == 0, result.stdout + result.stderr
    touched = sorted(n for n, r in remotes.items() if len(_branches(r)) > 1 or _bodies(tmp_path, n))
    assert touched == sorted(["api", *CONSUMERS])
    assert {n: run_git(["rev-parse", "refs/heads/main"], remotes[n]) for n in DECOYS} == before
    assert all(_branches(remotes[n]) == ["refs/heads/main"] for n in DECOYS)


def test_discover_shows_the_matching_lines_in_the_terminal_plan(tmp_path: Path) -> None:
    _remotes, config = _setup(tmp_path)
    result = _baton_run(tmp_path, config, "--discover", "/v1/items")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count('src/client.py:2: return get("/v1/items")') == len(CONSUMERS)
    assert "api: provider of web, mobile, billing" in result.stdout


def test_discovered_consumers_prs_depend_on_the_provider_pr(tmp_path: Path) -> None:
    _remotes, config = _setup(tmp_path)
    assert _baton_run(tmp_path, config, "--discover", "/v1/items").returncode == 0
    for name in CONSUMERS:
        (body,) = _bodies(tmp_path, name)
        assert [ln for ln in body.splitlines() if ln.startswith("Depends-On:")] == ["Depends-On: local://api/pull/1"]
    (provider,) = _bodies(tmp_path, "api")
    assert "Depends-On:" not in provider


def test_discovered_consumers_agents_are_told_the_provider_change(tmp_path: Path) -> None:
    _remotes, config = _setup(tmp_path)
    assert _baton_run(tmp_path, config, "--discover", "/v1/items").returncode == 0
    tasks = (tmp_path / "tasks" / "log").read_text()
    assert tasks.count("consumes changes made in the same run") == len(CONSUMERS)
    assert tasks.count("- api: PR local://api/pull/1") == len(CONSUMERS)
    assert tasks.count("> ROUTE renamed") == len(CONSUMERS)


def test_a_pattern_git_rejects_fails_the_run_saying_why(tmp_path: Path) -> None:
    _remotes, config = _setup(tmp_path)
    result = _baton_run(tmp_path, config, "--discover", "(v1")
    assert result.returncode == 1
    assert "git grep rejected the pattern '(v1'" in result.stdout


# -- in one process: a plan awaiting approval, a planner ---------------------------------------------
def _runtime_config(config: dict[str, object], **playbook: object) -> dict[str, object]:
    return {**config, "playbooks": {"rename": {"discover": "/v1/items", **playbook}}}


def test_a_repo_dropped_from_a_discovered_plan_gets_no_pr(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes, config = _setup(tmp_path)
    runtime = start_runtime(_runtime_config(config, approve_plan=True))
    run_id = submit(runtime, "Rename /v1/items", [], playbook="rename")
    assert wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30).run.waiting_for == "plan"
    assert runtime.runs.drop_repo(run_id, APPROVER, "mobile").accepted
    until("the plan without mobile", lambda: bool(event_data(runtime, run_id, "repo_dropped")))
    assert runtime.runs.decide(run_id, APPROVER, Decision.approve).accepted
    until("the PRs", lambda: runtime.store.get_run(run_id).waiting_for == "approval")  # type: ignore[union-attr]
    assert sorted(c.repo for c in runtime.store.changes(run_id)) == ["api", "billing", "web"]
    assert _branches(remotes["mobile"]) == ["refs/heads/main"]
    assert [p["order"] for p in event_data(runtime, run_id, "plan_ready")][-1] == ["api", "web", "billing"]


def test_a_repo_cannot_be_dropped_once_the_plan_is_approved(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    _remotes, config = _setup(tmp_path)
    runtime = start_runtime(_runtime_config(config))
    run_id = submit(runtime, "Rename /v1/items", [], playbook="rename")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    refused = runtime.runs.drop_repo(run_id, APPROVER, "mobile")
    assert (refused.accepted, "repos drop only from a plan" in refused.message) == (False, True)


def test_a_planner_receives_the_hits_and_may_narrow_the_repos(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    _remotes, config = _setup(tmp_path)
    seen = tmp_path / "tasks" / "plan"
    narrowed = {"subtasks": [{"repo": "api"}, {"repo": "web", "depends_on": ["api"]}]}
    planner = agent("planner", "--plan", json.dumps(narrowed), "--plan-to", str(seen))
    runtime = start_runtime(_runtime_config({**config, "agents": [*config["agents"], planner]}, planner="planner"))  # type: ignore[list-item]
    run_id = submit(runtime, "Rename /v1/items", [], playbook="rename")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    hits = json.loads(seen.read_text())["hits"]
    assert sorted(hits) == sorted(["api", *CONSUMERS])
    assert hits["web"] == [{"path": "src/client.py", "line": 2, "text": 'return get("/v1/items")'}]
    assert sorted(c.repo for c in runtime.store.changes(run_id)) == ["api", "web"]


def test_a_planner_cannot_widen_beyond_the_discovered_repos(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    _remotes, config = _setup(tmp_path)
    widened = {"subtasks": [{"repo": "web"}, {"repo": "docs"}]}
    planner = agent("planner", "--plan", json.dumps(widened))
    runtime = start_runtime(_runtime_config({**config, "agents": [*config["agents"], planner]}, planner="planner"))  # type: ignore[list-item]
    run_id = submit(runtime, "Rename /v1/items", [], playbook="rename")
    view = wait_for(runtime, run_id, RunState.failed, timeout=60)
    assert view.run.error is not None and view.run.error.startswith("the plan names repos outside this run: docs")
    assert runtime.store.changes(run_id) == []
