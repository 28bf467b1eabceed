"""`baton run` refuses a request that could only fail, before anything is recorded: an unknown repo
or agent (with the nearest name), an agent whose program is missing, a repo URL git cannot read, a
checks program that is not on PATH, a `${VAR}` the agent's environment needs that is unset. Each
exits 1 with one sentence, and leaves no run (not even a home) behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import agent, make_repos, repo_entries

BATON = [sys.executable, "-m", "bot"]


def _config(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    remotes = make_repos(tmp_path, ["mathlib", "docs"])
    config: dict[str, Any] = {"repos": repo_entries(remotes), "agents": [agent("coder", "--append", "README.md", "x")]}
    config.update(changes)
    return config


def _run(tmp_path: Path, config: dict[str, Any], *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    path = tmp_path / "project" / "baton.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")} | (env or {})
    result = subprocess.run(
        [*BATON, "--config", str(path), "run", "tidy the docs", *args, "--yes"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return result.returncode, " ".join((result.stdout + result.stderr).split())


def _nothing_recorded(tmp_path: Path) -> bool:
    """No home beside the config: no database, no run, no workspace."""
    return not (tmp_path / "project" / ".baton").exists()


def test_a_misspelt_repo_is_refused_with_the_nearest_name(tmp_path: Path) -> None:
    code, out = _run(tmp_path, _config(tmp_path), "--repo", "mathlb")
    assert code == 1
    assert "not started: Unknown repo `mathlb`. Did you mean `mathlib`? Valid repos: mathlib, docs." in out
    assert _nothing_recorded(tmp_path)


def test_a_misspelt_agent_is_refused_with_the_nearest_name(tmp_path: Path) -> None:
    code, out = _run(tmp_path, _config(tmp_path), "--repo", "docs", "--agent", "coders")
    assert code == 1
    assert "Unknown agent `coders`. Did you mean `coder`? Valid agents: coder." in out
    assert _nothing_recorded(tmp_path)


def test_an_agent_whose_program_is_missing_is_refused(tmp_path: Path) -> None:
    ghost = {"name": "ghost", "command": ["baton-no-such-agent-xyz", "{task}"]}
    code, out = _run(tmp_path, _config(tmp_path, agents=[ghost]), "--repo", "docs")
    assert code == 1
    assert (
        "not started: Agent `ghost` runs `baton-no-such-agent-xyz`, which is not found on this machine's PATH." in out
    )
    assert _nothing_recorded(tmp_path)


def test_a_repo_url_git_cannot_read_is_refused_with_what_git_said(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["repos"][1]["url"] = str(tmp_path / "nowhere" / "docs.git")
    code, out = _run(tmp_path, config, "--repo", "docs")
    assert code == 1
    assert f"not started: Cannot read repo `docs` at {tmp_path}/nowhere/docs.git:" in out
    assert "does not appear to be a git repository" in out
    assert _nothing_recorded(tmp_path)


def test_a_checks_program_not_on_path_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path)
    config["repos"][1]["checks"] = "CI=1 baton-no-such-checker --all"
    code, out = _run(tmp_path, config, "--repo", "docs")
    assert code == 1
    assert (
        "not started: The checks of `docs` run `baton-no-such-checker`, which is not found on this machine's PATH"
        in out
    )
    assert _nothing_recorded(tmp_path)


def test_an_unset_variable_the_agent_needs_is_refused(tmp_path: Path) -> None:
    needy = agent("needy", "--append", "README.md", "x", env={"API_KEY": "${BATON_TEST_UNSET_KEY}"})
    code, out = _run(tmp_path, _config(tmp_path, agents=[needy]), "--repo", "docs")
    assert code == 1
    assert "Agent `needy` needs ${BATON_TEST_UNSET_KEY} (for API_KEY), which is not set in Baton's environment." in out
    assert _nothing_recorded(tmp_path)


def test_a_request_with_nothing_wrong_starts_and_merges(tmp_path: Path) -> None:
    code, out = _run(tmp_path, _config(tmp_path), "--repo", "docs")
    assert code == 0, out
    assert "ended merged" in out
