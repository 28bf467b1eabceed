"""`baton doctor` also checks what would refuse every run: each repo's URL readable by git, each
checks program on PATH, each `${VAR}` an agent's environment takes from Baton's set — and says
where runs are kept."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.config.settings import Settings
from bot.doctor import doctor_report

PY = [sys.executable, "-c", "pass"]


def _bare(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.git"
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True)
    return path


def _report(tmp_path: Path, config: dict[str, object]) -> tuple[str, bool]:
    path = tmp_path / "baton.yml"
    path.write_text(yaml.safe_dump(config))
    return doctor_report(Settings(config=path, home=tmp_path / ".baton"))


def test_a_repo_url_git_cannot_read_is_flagged(tmp_path: Path) -> None:
    repos = [{"name": "api", "url": str(_bare(tmp_path, "api"))}, {"name": "web", "url": str(tmp_path / "no.git")}]
    text, ok = _report(tmp_path, {"repos": repos, "agents": [{"name": "a", "command": PY}]})
    flagged = [line for line in text.splitlines() if "cannot read repo" in line]
    assert [line.split("`")[1] for line in flagged] == ["web"]
    assert not ok


def test_a_checks_program_not_on_path_is_flagged(tmp_path: Path) -> None:
    repos = [{"name": "api", "url": str(_bare(tmp_path, "api")), "checks": "baton-no-such-checker -q"}]
    text, ok = _report(tmp_path, {"repos": repos, "agents": [{"name": "a", "command": PY}]})
    assert "  ✗ the checks of `api` run `baton-no-such-checker`, which is not found on this machine's PATH" in text
    assert not ok


def test_an_unset_variable_an_agent_needs_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATON_DOCTOR_UNSET", raising=False)
    monkeypatch.setenv("BATON_DOCTOR_SET", "x")
    agents = [
        {"name": "fine", "command": PY, "env": {"K": "${BATON_DOCTOR_SET}"}},
        {"name": "needy", "command": PY, "env": {"TOKEN": "Bearer ${BATON_DOCTOR_UNSET}"}},
    ]
    text, ok = _report(tmp_path, {"repos": [{"name": "api", "url": str(_bare(tmp_path, "api"))}], "agents": agents})
    flagged = [line for line in text.splitlines() if "which is not set" in line]
    assert flagged == [
        "  ✗ agent `needy` needs ${BATON_DOCTOR_UNSET} (for TOKEN), which is not set in Baton's environment"
    ]
    assert not ok


def test_a_healthy_config_passes_and_says_where_runs_are_kept(tmp_path: Path) -> None:
    repos = [{"name": "api", "url": str(_bare(tmp_path, "api")), "checks": "git --version"}]
    text, ok = _report(tmp_path, {"repos": repos, "agents": [{"name": "a", "command": PY}]})
    assert f"runs kept in: {tmp_path / '.baton'}" in text
    assert ok, text
