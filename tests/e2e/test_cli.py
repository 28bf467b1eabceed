"""The `baton` command as operators use it: doctor, runs list/show, decisions on unknown runs,
and `baton serve` answering over real HTTP with nothing configured."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.e2e.conftest import TOOL, agent_alive, lines, make_repos

BATON = [sys.executable, "-m", "bot"]


def _env(tmp_path: Path, config: str | None = None) -> dict[str, str]:
    path = tmp_path / "baton.yml"
    if config is not None:
        path.write_text(config)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GITHUB_", "LINEAR_"))}
    return {**clean, "BATON_HOME": str(tmp_path / ".baton"), "BATON_CONFIG": str(path)}


def _baton(tmp_path: Path, *args: str, config: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATON, *args], env=_env(tmp_path, config), capture_output=True, text=True, timeout=60)


def test_doctor_says_what_is_missing_without_a_config(tmp_path: Path) -> None:
    result = _baton(tmp_path, "doctor")
    assert "missing: no repos" in result.stdout
    assert "missing: no agents" in result.stdout
    assert "slack: disabled (set SLACK_SIGNING_SECRET to enable)" in result.stdout


def test_doctor_flags_an_agent_whose_command_is_absent(tmp_path: Path) -> None:
    config = "agents:\n  - name: ghost\n    command: [definitely-not-installed-xyz]\n"
    result = _baton(tmp_path, "doctor", config=config)
    assert result.returncode == 1
    assert "✗ ghost (script): definitely-not-installed-xyz not found" in result.stdout


def test_an_invalid_config_fails_at_start_naming_the_key(tmp_path: Path) -> None:
    result = _baton(tmp_path, "runs", "list", config="agents:\n  - name: a\n    command: x\n    timeout_s: -5\n")
    assert result.returncode == 2
    assert "agents[a].timeout_s" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_runs_list_json_is_an_empty_list_on_a_fresh_home(tmp_path: Path) -> None:
    result = _baton(tmp_path, "runs", "list", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_approving_an_unknown_run_is_refused_clearly(tmp_path: Path) -> None:
    result = _baton(tmp_path, "approve", "r-nope")
    assert result.returncode == 1
    assert result.stdout.strip() == "no run r-nope"


def test_a_run_naming_an_unknown_repo_fails_before_any_work(tmp_path: Path) -> None:
    config = f"repos:\n  - name: api\n    url: {tmp_path}/api.git\nagents:\n  - name: a\n    command: ['true']\n"
    result = _baton(tmp_path, "run", "do it", "--repo", "nope", "--yes", config=config)
    assert result.returncode == 1
    assert "Unknown repo `nope`. Valid repos: api." in result.stdout
    assert json.loads(_baton(tmp_path, "runs", "list", "--json").stdout) == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_starts_with_no_config_and_disabled_sources_answer_404(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [*BATON, "serve", "--port", str(port)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not come up"
                time.sleep(0.1)
        assert health.json() == {"ok": True}
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert "baton_runs" in httpx.get(f"{base}/metrics").text
        assert "No runs yet" in httpx.get(f"{base}/").text
        for path in ("/slack/events", "/github/webhook", "/linear/webhook"):
            assert httpx.post(f"{base}{path}", content=b"{}").status_code == 404
    finally:
        server.terminate()
        server.wait(10)


def test_baton_cancel_from_another_terminal_kills_the_running_agent(tmp_path: Path) -> None:
    remote = make_repos(tmp_path, ["api"])["api"]
    calls = tmp_path / "calls"
    tool = [sys.executable, str(TOOL), "--count", str(calls), "--block-until", str(tmp_path / "never")]
    slow = {"name": "slow", "command": tool, "isolation_writable": [str(tmp_path)]}
    config = {"repos": [{"name": "api", "url": str(remote)}], "agents": [slow]}
    env = _env(tmp_path, yaml.safe_dump(config))
    running = subprocess.Popen(
        [*BATON, "run", "slow work", "--repo", "api", "--yes"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not lines(calls):
            assert time.monotonic() < deadline, "the agent never started"
            time.sleep(0.05)
        pid = int(lines(calls)[0].split()[-1])
        run_id = json.loads(_baton(tmp_path, "runs", "list", "--json").stdout)[0]["run_id"]
        cancelled = _baton(tmp_path, "cancel", run_id)
        assert cancelled.stdout.strip() == f"run {run_id} cancelled"
        output, _ = running.communicate(timeout=30)
    finally:
        if running.poll() is None:
            running.kill()
    assert f"run {run_id} ended cancelled" in output
    deadline = time.monotonic() + 5
    while agent_alive(calls, pid):
        assert time.monotonic() < deadline, f"agent {pid} outlived the cancelled run"
        time.sleep(0.05)


def test_an_unreachable_database_is_one_line_without_a_traceback_or_password(tmp_path: Path) -> None:
    env = {**_env(tmp_path), "BATON_DATABASE_URL": "postgresql://baton:hunter2secret@127.0.0.1:9/nowhere"}
    result = subprocess.run([*BATON, "runs", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stdout.startswith("baton: OperationalError")
    assert "Traceback" not in result.stdout + result.stderr
    assert "hunter2secret" not in result.stdout + result.stderr
