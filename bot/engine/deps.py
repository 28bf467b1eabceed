"""What the engine is given by the composition root: configuration, store and the ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.agents.checks import ChecksRunner
from bot.agents.registry import AgentRegistry
from bot.agents.sandbox import default_sandbox
from bot.config.models import BatonFile, Settings
from bot.domain.ports import Forge, Workspace
from bot.observability.tracing import Tracer
from bot.store.store import Store


@dataclass
class EngineDeps:
    settings: Settings
    config: BatonFile
    store: Store
    forge: Forge
    workspace: Workspace
    agents: AgentRegistry
    tracer: Tracer = field(default_factory=Tracer.disabled)
    checks_runner: ChecksRunner | None = None

    @property
    def checks(self) -> ChecksRunner:
        """How a repo's checks command runs (confined; the composition root's sandbox)."""
        if self.checks_runner is None:
            self.checks_runner = ChecksRunner(default_sandbox(), self.settings.home.resolve() / "homes")
        return self.checks_runner

    @property
    def scratch(self) -> Path:
        """Where planners and other repo-less agents work."""
        return self.settings.home / "scratch"
