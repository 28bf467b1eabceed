"""What every GitHub event handler shares: the router they register on (`ROUTER`), their answer
(`Handled`), and the base class holding the run service, the API and the helpers that claim a
delivery once, tell Baton's own comments from people's, and say whether a run is still going.
The handlers are pulls.py (pull requests, reviews, checks) and events.py (issues and comments).
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING

import structlog
from pydantic import BaseModel

from bot.domain.ports import ForgeError
from bot.services.github.client import GitHubApi
from bot.services.github.issues import is_baton_comment
from handlers.github import models as m
from handlers.github.checks import ChecksTracker
from handlers.github.router import Router
from handlers.github.runs import GitHubRuns

if TYPE_CHECKING:
    from bot.engine.commands import RunCommands

log = structlog.get_logger(__name__)


class Handled(BaseModel):
    ok: bool = True
    action: str
    run_id: str | None = None


ROUTER = Router()
"""Every GitHub event Baton handles, registered on the handler that handles it."""
ROUTER.ignores("issue_comment", "ignored: only new comments count")
ROUTER.ignores("issues", "ignored: not Baton's label")


class GitHubEventsBase:
    def __init__(self, runs: RunCommands, api: GitHubApi, github: GitHubRuns, checks: ChecksTracker) -> None:
        self.runs = runs
        self.api = api
        self.github = github
        self.checks = checks
        self.config = runs.config.github
        # Keys being handled in this process now: a copy arriving while the first is still starting
        # the run is a duplicate, not a first copy whose run was lost in a crash.
        self._handling: Counter[str] = Counter()
        self._handling_lock = threading.Lock()
        self._claimed = threading.local()  # the keys this thread's current delivery claimed

    # -- helpers ------------------------------------------------------------------------------------
    def _first(self, key: str, starts_run: str | None = None) -> bool:
        """Claim `key`; False when it was handled before (a trigger whose run was never recorded
        counts as new, so a crash between claim and run does not lose the request)."""
        with self._handling_lock:
            self._handling[key] += 1
            self._claimed.keys.append(key)
        claimed = self.runs.store.claim_delivery(key, starts_run)
        if claimed is None:
            return True
        with self._handling_lock:
            if self._handling[key] > 1:  # its first copy is being handled right now
                return False
        return bool(starts_run) and claimed == starts_run and self.runs.store.get_run(starts_run) is None

    def _keep_days(self) -> float:
        return self.runs.config.retention.deliveries_days

    def _bot_login(self) -> str | None:
        try:
            return self.api.bot_login()
        except ForgeError as err:
            log.warning("github.bot_login_unknown", error=str(err)[:200])
            return self.config.bot_login

    def _from_bot(self, sender: m.User, body: str | None) -> bool:
        if sender.type == "Bot" or is_baton_comment(body or ""):
            return True
        own = self._bot_login()
        return own is not None and sender.login.lower() == own.lower()

    def _live(self, run_id: str | None) -> bool:
        run = self.runs.store.get_run(run_id) if run_id else None
        return run is not None and not run.state.terminal
