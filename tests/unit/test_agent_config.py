"""The coding-agent keys of `agents[]`: what each kind accepts, its default executable, and that
the composition root can build an adapter for every kind it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.agents.registry import CLI_ADAPTERS
from bot.app import Runtime
from bot.config.agents import AgentConfig
from bot.config.base import ConfigError
from bot.config.models import parse_baton_file
from bot.config.settings import Settings


def agent(**fields: object) -> AgentConfig:
    return AgentConfig.model_validate({"name": "a", **fields})


@pytest.mark.parametrize(
    ("kind", "program"),
    [
        ("claude_code", "claude"),
        ("codex", "codex"),
        ("aider", "aider"),
        ("opencode", "opencode"),
        ("cursor", "cursor-agent"),
    ],
)
def test_a_cli_kind_without_command_runs_its_usual_executable(kind: str, program: str) -> None:
    assert agent(kind=kind).argv_prefix == [program]


def test_a_command_string_is_split_like_a_shell_line() -> None:
    assert agent(kind="aider", command="aider --edit-format 'diff'").argv_prefix == ["aider", "--edit-format", "diff"]


def test_a_script_agent_still_needs_a_command() -> None:
    with pytest.raises(ConfigError, match="a script agent needs `command`"):
        parse_baton_file({"agents": [{"name": "s", "kind": "script"}]})


def test_aider_takes_no_mcp_servers() -> None:
    with pytest.raises(ValueError, match="aider agents take no mcp_servers"):
        agent(kind="aider", mcp_servers={"x": {"command": "srv"}})


def test_max_turns_is_claude_codes_alone() -> None:
    assert agent(kind="claude_code", max_turns=3).max_turns == 3
    with pytest.raises(ValueError, match="max_turns is only supported by claude_code"):
        agent(kind="codex", max_turns=3)


def test_an_unknown_sandbox_is_refused_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"agents\[c\]\.sandbox"):
        parse_baton_file({"agents": [{"name": "c", "kind": "codex", "sandbox": "yolo"}]})


def test_the_runtime_builds_an_adapter_for_every_cli_kind(tmp_path: Path) -> None:
    kinds = sorted(CLI_ADAPTERS)
    config = parse_baton_file({"agents": [{"name": kind.replace("_", "-"), "kind": kind} for kind in kinds]})
    runtime = Runtime(Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml"), config)
    try:
        built = {runtime.deps.agents.get(a.name).__class__ for a in config.agents}
    finally:
        runtime.shutdown()
    assert built == set(CLI_ADAPTERS.values())


def test_an_agent_is_confined_unless_its_config_says_isolation_none() -> None:
    assert (agent(command="fix").isolation, agent(command="fix", isolation="none").isolation) == ("bwrap", "none")


def test_a_repos_checks_are_confined_with_no_network_and_no_environment_by_default() -> None:
    (repo,) = parse_baton_file({"repos": [{"name": "api", "url": "/r/api", "checks": "make test"}]}).repos
    assert (repo.checks_isolation, repo.checks_network, repo.checks_env) == ("bwrap", "none", {})


def test_isolation_writable_takes_absolute_paths_only() -> None:
    with pytest.raises(ConfigError, match="isolation_writable takes absolute paths; got cache"):
        parse_baton_file({"agents": [{"name": "a", "command": "fix", "isolation_writable": ["cache", "/ok"]}]})
