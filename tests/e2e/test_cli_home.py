"""Where the `baton` command finds its state and what it says about it: the home beside the nearest
baton.yml, the global --config/--home/--version, help that loads no runtime, an empty home said
as such, `runs show` with the summary first, and `serve` saying where it listens."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import yaml

from tests.e2e.conftest import agent, make_repos, repo_entries

BATON = [sys.executable, "-m", "bot"]


def _clean_env() -> dict[str, str]:
    """The environment without any BATON_* setting: the defaults decide."""
    return {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}


def _baton(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BATON, *args], cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout)


def test_version_prints_the_package_version() -> None:
    result = subprocess.run([*BATON, "--version"], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (0, f"baton {version('baton')}\n")


def test_help_says_what_baton_is_and_loads_no_runtime() -> None:
    probe = (
        "import sys\n"
        "from bot.cli.main import app\n"
        "try:\n"
        "    app(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in ('dbos', 'bot.app', 'sqlalchemy', 'bot.config.models') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    *help_lines, loaded = result.stdout.strip().splitlines()
    text = "\n".join(help_lines)
    assert loaded == "[]"
    assert "self-hosted ChatOps control plane for coding agents" in text
    assert "--config" in text and "--home" in text and "--version" in text
    assert "<bool>" not in text


def test_a_subcommands_flags_show_no_type_noise() -> None:
    result = subprocess.run([*BATON, "runs", "list", "--help"], capture_output=True, text=True, timeout=60)
    assert "--json" in result.stdout
    assert "<bool>" not in result.stdout


def test_runs_list_on_an_empty_home_says_so_and_creates_nothing(tmp_path: Path) -> None:
    result = _baton("--home", str(tmp_path / "state"), "runs", "list", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, f"no runs in {tmp_path / 'state'}\n")
    assert not (tmp_path / "state").exists()


def test_the_home_is_beside_the_nearest_baton_yml_above_the_working_directory(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "src" / "deep").mkdir(parents=True)
    (project / "baton.yml").write_text("repos: []\n")
    result = _baton("runs", "list", cwd=project / "src" / "deep")
    assert result.stdout == f"no runs in {project / '.baton'}\n"


def test_the_home_follows_the_config_named_with_the_global_option(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "baton.yml").write_text("")
    result = _baton("--config", str(tmp_path / "elsewhere" / "baton.yml"), "runs", "list", cwd=tmp_path)
    assert result.stdout == f"no runs in {tmp_path / 'elsewhere' / '.baton'}\n"


def test_showing_an_unknown_run_says_where_it_looked(tmp_path: Path) -> None:
    result = _baton("--home", str(tmp_path / "h"), "runs", "show", "r-nope", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr == f"no run r-nope in {tmp_path / 'h'}\n"


def _merged_run(tmp_path: Path) -> tuple[Path, str]:
    """A project whose one run merged; returns (its baton.yml, the run id)."""
    remotes = make_repos(tmp_path, ["api"])
    config = {"repos": repo_entries(remotes), "agents": [agent("writer", "--append", "NOTES.md", "hi")]}
    path = tmp_path / "baton.yml"
    path.write_text(yaml.safe_dump(config))
    ran = _baton("run", "write a note", "--repo", "api", "--yes", cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    [run] = json.loads(_baton("runs", "list", "--json", cwd=tmp_path).stdout)
    return path, str(run["run_id"])


def test_runs_show_puts_the_summary_first_and_the_events_behind_a_flag(tmp_path: Path) -> None:
    _config, run_id = _merged_run(tmp_path)
    short = _baton("runs", "show", run_id, cwd=tmp_path).stdout
    full = _baton("runs", "show", run_id, "--events", cwd=tmp_path).stdout

    assert short.index("totals: merged") < short.index("Steps (")
    assert re.search(r"^Events: \d+ \(`baton runs show \S+ --events` lists them\)$", short, re.MULTILINE)
    assert " run_created" not in short and "state  " not in short
    assert full.index("Approvals (") < full.index("Events (")
    assert re.search(r"^  1\. ", full, re.MULTILINE)


def test_runs_list_has_a_header_and_a_row_per_run_with_its_age(tmp_path: Path) -> None:
    _config, run_id = _merged_run(tmp_path)
    listing = _baton("runs", "list", cwd=tmp_path).stdout.splitlines()
    assert listing[0].split()[:4] == ["run", "state", "age", "source"]
    [row] = [line for line in listing if line.startswith(run_id)]
    assert row.split()[1] == "merged"
    assert "write a note" in row


def _serve(tmp_path: Path, log_format: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*BATON, "--home", str(tmp_path / "h"), "serve", "--port", "0"],
        cwd=tmp_path,
        env=_clean_env() | {"BATON_LOG_FORMAT": log_format},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_prints_the_address_it_listens_on_and_the_dashboards(tmp_path: Path) -> None:
    server = _serve(tmp_path, "console")
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        dashboard = server.stdout.readline()
        match = re.fullmatch(r"Baton is listening on (http://127\.0\.0\.1:(\d+))\n", first)
        assert match, first
        base = match.group(1)
        assert dashboard.startswith(f"  dashboard: {base}/ (this machine only")
        assert httpx.get(f"{base}/healthz", timeout=10).json() == {"ok": True}
        assert "No runs yet" in httpx.get(f"{base}/", timeout=10).text
    finally:
        server.terminate()
        server.wait(15)


def test_serve_with_json_logs_says_the_same_in_one_json_line(tmp_path: Path) -> None:
    server = _serve(tmp_path, "auto")  # stderr is a pipe: JSON logs, and stdout stays empty
    try:
        assert server.stderr is not None
        said = next(json.loads(line) for line in server.stderr if '"serve.listening"' in line)
        assert httpx.get(f"{said['url']}/healthz", timeout=10).json() == {"ok": True}
        assert (
            said["dashboard"] == f"{said['url']}/ (this machine only; set BATON_DASHBOARD_TOKEN to open it to others)"
        )
        assert said["runs"] == f"{tmp_path / 'h'}; runs execute here"
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=15)
    assert out == ""


def test_serve_refuses_a_busy_port_without_claiming_to_listen(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*BATON, "--home", str(tmp_path / "h"), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert "listening" not in result.stdout
