"""bot/preflight.py's judgements, one at a time: the nearest name, the program a checks command
starts, which agents a playbook starts in any case, and the sentence a refused request gets."""

from __future__ import annotations

import sys

import pytest

from bot.config.models import BatonFile, parse_baton_file
from bot.domain.models import RunSpec
from bot.engine.intake import build_spec
from bot.preflight import agents_used, checks_program, did_you_mean, refusal, suggestion
from handlers.cli import cli_trigger

PY = [sys.executable, "-c", "pass"]


def _readable(url: str) -> str | None:
    return None if url.startswith("/ok") else "fatal: repository not found"


def _spec(config: dict[str, object], repos: list[str], playbook: str | None = None) -> tuple[BatonFile, RunSpec]:
    parsed = parse_baton_file(config)
    return parsed, build_spec(cli_trigger("do it"), parsed, repos=repos, playbook=playbook)


def test_the_nearest_name_is_suggested_for_a_typo() -> None:
    assert suggestion("mathlb", ["docs", "mathlib"]) == "mathlib"
    assert suggestion("zzz", ["docs", "mathlib"]) is None
    assert did_you_mean(["zzz", "dcos"], ["docs"]) == " Did you mean `docs`?"


@pytest.mark.parametrize(
    ("command", "program"),
    [
        ("pytest -q", "pytest"),
        ("CI=1 LANG=C make test", "make"),
        ("./run-tests.sh", None),
        ("test ! -e BROKEN", None),
        ("cd api && pytest", None),
        ("$RUNNER check", None),
        ("'unterminated", None),
        ("", None),
    ],
)
def test_the_program_a_checks_command_starts(command: str, program: str | None) -> None:
    assert checks_program(command) == program


def test_a_fallback_starts_only_its_first_agent_and_a_handoff_its_start() -> None:
    agents = [{"name": n, "command": PY} for n in ("a", "b", "c", "d")]
    books = {
        "fb": {"per_repo": {"fallback": ["a", "b"]}},
        "ho": {"per_repo": {"handoff": {"start": "c", "routes": [{"to": "d"}]}}},
        "seq": {"per_repo": {"sequential": [{"agent": "a"}, {"verify": {"do": {"agent": "d"}}}]}},
    }
    config = {"repos": [{"name": "r", "url": "/ok"}], "agents": agents, "playbooks": books}
    parsed = parse_baton_file(config)
    used = {
        name: agents_used(parsed, build_spec(cli_trigger("x"), parsed, repos=["r"], playbook=name)) for name in books
    }
    assert used == {"fb": ["a"], "ho": ["c"], "seq": ["a", "d"]}


def test_a_request_with_nothing_wrong_is_not_refused() -> None:
    config, spec = _spec({"repos": [{"name": "r", "url": "/ok"}], "agents": [{"name": "a", "command": PY}]}, ["r"])
    assert refusal(config, spec, probe=_readable) is None


def test_several_problems_are_counted_after_the_first() -> None:
    agents = [{"name": "a", "command": ["baton-missing-1"]}]
    repos = [{"name": "r", "url": "/ok", "checks": "baton-missing-2"}]
    config, spec = _spec({"repos": repos, "agents": agents}, ["r"])
    said = refusal(config, spec, probe=_readable)
    assert said == (
        "Agent `a` runs `baton-missing-1`, which is not found on this machine's PATH "
        "(and 1 more; `baton doctor` lists them)."
    )


def test_an_unreadable_url_is_reported_with_its_credentials_hidden() -> None:
    repos = [{"name": "r", "url": "https://user:s3cret@git.example.com/r.git"}]
    config, spec = _spec({"repos": repos, "agents": [{"name": "a", "command": PY}]}, ["r"])
    said = refusal(config, spec, probe=_readable) or ""
    assert said == "Cannot read repo `r` at https://git.example.com/r.git: fatal: repository not found."
    assert "s3cret" not in said


def test_no_agent_to_route_to_is_refused_in_a_sentence() -> None:
    agents = [{"name": "a", "command": PY}, {"name": "b", "command": PY}]
    config, spec = _spec({"repos": [{"name": "r", "url": "/ok"}], "agents": agents}, ["r"])
    said = refusal(config, spec, probe=_readable) or ""
    assert said.startswith("No agent is routed for repo 'r'")
