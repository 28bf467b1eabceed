"""Which agent does a piece of work: the configured agents by name, routing rules, and fallback.

`AgentRegistry` turns `baton.yml`'s `agents:` and `routing:` into answers: the agent for a request
(`route`), the order to try agents in when one fails (`chain`), and the adapter object for a name
(`get`, built once per name by the factory registered for its `kind`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from bot.agents.aider import AiderAgent
from bot.agents.claude_code import ClaudeCodeAgent
from bot.agents.cli import CliAgent
from bot.agents.codex import CodexAgent
from bot.agents.cursor import CursorAgent
from bot.agents.opencode import OpencodeAgent
from bot.config.agents import AgentConfig
from bot.config.base import ConfigError
from bot.config.models import BatonFile, RoutingRule
from bot.config.playbooks import ROUTED_AGENT
from bot.domain.ports import Agent, UnknownAgent

AgentFactory = Callable[[AgentConfig], Agent]

CLI_ADAPTERS: dict[str, type[CliAgent]] = {
    "claude_code": ClaudeCodeAgent,
    "codex": CodexAgent,
    "aider": AiderAgent,
    "opencode": OpencodeAgent,
    "cursor": CursorAgent,
}
"""The adapter class for each coding-agent CLI kind; each is built with `(config, home_root=...)`."""


class AgentUnavailable(UnknownAgent):
    """The agent is configured, but this Baton has no adapter for its kind."""


def _norm_channel(channel: str) -> str:
    return channel.strip().lstrip("#").casefold()


def rule_matches(rule: RoutingRule, repo: str, labels: list[str], channel: str | None) -> bool:
    """Every condition the rule sets holds; a rule that sets none matches everything."""
    if rule.repo is not None and rule.repo != repo:
        return False
    if rule.label is not None and rule.label.casefold() not in {x.casefold() for x in labels}:
        return False
    return rule.channel is None or (channel is not None and _norm_channel(rule.channel) == _norm_channel(channel))


class AgentRegistry:
    def __init__(self, config: BatonFile, factories: Mapping[str, AgentFactory]) -> None:
        self._configs: dict[str, AgentConfig] = {}
        for agent in config.agents:
            if agent.name in self._configs:
                raise ConfigError(f"agents: '{agent.name}' is configured more than once")
            self._configs[agent.name] = agent
        self._routing = config.routing
        self._factories = dict(factories)
        self._built: dict[str, Agent] = {}
        self._lock = threading.Lock()

    def known(self) -> list[str]:
        """Configured agent names, in config order."""
        return list(self._configs)

    def config(self, name: str) -> AgentConfig:
        self._require(name)
        return self._configs[name]

    def get(self, name: str) -> Agent:
        """The adapter for `name`, built on first use and reused after."""
        self._require(name)
        with self._lock:
            if name not in self._built:
                config = self._configs[name]
                factory = self._factories.get(config.kind)
                if factory is None:
                    kinds = ", ".join(sorted(self._factories)) or "none"
                    raise AgentUnavailable(
                        f"agent '{name}' is of kind '{config.kind}', which this Baton cannot run "
                        f"(available kinds: {kinds})"
                    )
                self._built[name] = factory(config)
            return self._built[name]

    def route(self, repo: str, labels: list[str], channel: str | None, explicit: str | None) -> str:
        """The agent for work on `repo`: `agent=` in the request, else the first matching rule,
        else `routing.default_agent`, else the only configured agent."""
        if explicit:
            self._require(explicit)
            return explicit
        for rule in self._routing.rules:
            if rule.agent != ROUTED_AGENT and rule_matches(rule, repo, labels, channel):
                return rule.agent
        default = self._routing.default_agent
        if default and default != ROUTED_AGENT:
            return default
        if len(self._configs) == 1:
            return next(iter(self._configs))
        if not self._configs:
            raise UnknownAgent("no agents are configured: add one under `agents:` in baton.yml")
        raise UnknownAgent(
            f"no agent is routed for repo '{repo}': set routing.default_agent in baton.yml or "
            f"name one with agent=<name> (known agents: {self._names()})"
        )

    def chain(self, primary: str) -> list[str]:
        """`primary`, then `routing.fallback`, each once, in that order."""
        self._require(primary)
        names = [primary] + [primary if a == ROUTED_AGENT else a for a in self._routing.fallback]
        return list(dict.fromkeys(names))

    def _require(self, name: str) -> None:
        if name not in self._configs:
            raise UnknownAgent(f"unknown agent '{name}' (known agents: {self._names()})")

    def _names(self) -> str:
        return ", ".join(self._configs) or "none configured"
