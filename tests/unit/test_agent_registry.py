"""AgentRegistry: building adapters by kind, routing a request to an agent, and fallback chains."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.agents.registry import AgentRegistry, AgentUnavailable
from bot.agents.script import ScriptAgent
from bot.config.agents import AgentConfig
from bot.config.base import ConfigError
from bot.config.models import BatonFile
from bot.domain.ports import Agent, UnknownAgent


def baton(agents: list[str], routing: dict[str, Any] | None = None, **kinds: str) -> BatonFile:
    return BatonFile.model_validate(
        {
            "agents": [{"name": name, "kind": kinds.get(name, "script"), "command": ["true"]} for name in agents],
            "routing": routing or {},
        }
    )


def registry(config: BatonFile, tmp_path: Path | None = None) -> AgentRegistry:
    home = (tmp_path or Path("/nonexistent")) / "homes"

    def script(cfg: AgentConfig) -> Agent:
        return ScriptAgent(cfg, home)

    return AgentRegistry(config, {"script": script})


RULES = {
    "default_agent": "general",
    "rules": [
        {"agent": "frontend", "repo": "web"},
        {"agent": "docs", "label": "documentation"},
        {"agent": "ops", "channel": "C-OPS"},
        {"agent": "frontend", "repo": "api", "label": "ui"},
    ],
    "fallback": ["general", "docs"],
}
FOUR = ["general", "frontend", "docs", "ops"]


def test_get_builds_the_adapter_for_the_agents_kind(tmp_path: Path) -> None:
    agent = registry(baton(["codemod"]), tmp_path).get("codemod")
    assert isinstance(agent, ScriptAgent) and agent.name == "codemod"


def test_get_reuses_the_adapter_it_built() -> None:
    reg = registry(baton(["codemod"]))
    assert reg.get("codemod") is reg.get("codemod")


def test_unknown_agent_error_lists_the_known_names() -> None:
    with pytest.raises(UnknownAgent, match=r"unknown agent 'gpt'.*general, frontend, docs, ops"):
        registry(baton(FOUR)).get("gpt")


def test_agent_kind_without_an_adapter_is_unavailable() -> None:
    reg = registry(baton(["claude"], claude="claude_code"))
    with pytest.raises(AgentUnavailable, match="kind 'claude_code'"):
        reg.get("claude")


def test_known_lists_agents_in_config_order() -> None:
    assert registry(baton(FOUR)).known() == FOUR


def test_duplicate_agent_names_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'twice'"):
        registry(baton(["twice", "twice"]))


def test_explicit_agent_wins_over_rules() -> None:
    reg = registry(baton(FOUR, RULES))
    assert reg.route("web", ["documentation"], "C-OPS", explicit="ops") == "ops"


def test_explicit_unknown_agent_is_refused_with_the_known_names() -> None:
    with pytest.raises(UnknownAgent, match="known agents: general, frontend, docs, ops"):
        registry(baton(FOUR, RULES)).route("web", [], None, explicit="nope")


def test_first_matching_rule_wins() -> None:
    reg = registry(baton(FOUR, RULES))
    assert reg.route("web", ["documentation"], None, explicit=None) == "frontend"


def test_rule_matches_by_label_ignoring_case() -> None:
    assert registry(baton(FOUR, RULES)).route("api", ["Documentation"], None, None) == "docs"


def test_rule_matches_by_channel() -> None:
    assert registry(baton(FOUR, RULES)).route("api", [], "C-OPS", None) == "ops"


def test_rule_needs_every_condition_it_sets() -> None:
    reg = registry(baton(FOUR, RULES))
    assert reg.route("api", ["ui"], None, None) == "frontend"
    assert reg.route("cli", ["ui"], None, None) == "general"


def test_default_agent_when_no_rule_matches() -> None:
    assert registry(baton(FOUR, RULES)).route("api", [], "C-OTHER", None) == "general"


def test_the_only_agent_is_chosen_without_routing() -> None:
    assert registry(baton(["solo"])).route("api", [], None, None) == "solo"


def test_no_route_among_several_agents_is_a_clear_error() -> None:
    with pytest.raises(UnknownAgent, match=r"routing\.default_agent.*agent=<name>"):
        registry(baton(["a", "b"])).route("api", [], None, None)


def test_no_agents_configured_is_a_clear_error() -> None:
    with pytest.raises(UnknownAgent, match="no agents are configured"):
        registry(baton([])).route("api", [], None, None)


def test_chain_is_primary_then_fallback_without_duplicates() -> None:
    reg = registry(baton(FOUR, RULES))
    assert reg.chain("frontend") == ["frontend", "general", "docs"]
    assert reg.chain("general") == ["general", "docs"]


def test_chain_of_an_unknown_agent_is_refused() -> None:
    with pytest.raises(UnknownAgent):
        registry(baton(FOUR, RULES)).chain("nope")


def test_routed_placeholder_in_fallback_stands_for_the_primary() -> None:
    reg = registry(baton(FOUR, {"fallback": ["docs", "@routed", "ops"]}))
    assert reg.chain("frontend") == ["frontend", "docs", "ops"]
