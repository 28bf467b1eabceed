"""What the engine is given by the composition root: configuration, store and the ports."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.config.models import BatonFile
from bot.config.settings import Settings
from bot.domain.ports import AgentPool, AgentProcesses, ChecksRunner, Forge, RepoSearch, Workspace
from bot.observability.tracing import Tracer
from bot.store.store import Store


@dataclass
class EngineDeps:
    settings: Settings
    config: BatonFile
    store: Store
    forge: Forge
    workspace: Workspace
    agents: AgentPool
    checks: ChecksRunner
    """How a repo's checks command runs (confined, by the composition root's sandbox)."""
    processes: AgentProcesses
    """Which agents run on this host (a cancel or a re-run step stops them)."""
    tracer: Tracer = field(default_factory=Tracer.disabled)
    search: RepoSearch | None = None
    """Searches every configured repo's default branch (discovery); None: runs must name their repos."""

    @property
    def scratch(self) -> Path:
        """Where planners and other repo-less agents work."""
        return self.settings.home / "scratch"
