"""A run's agent steps on the repos' remotes: each finished step's commit pushed to its hidden ref
(bot/scm/hidden_refs.py), so a worker with another home continues the repo from the recorded SHA,
and the run's refs deleted when it ends. Used only where homes may differ (`homes_may_differ`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog

from bot.domain.models import AgentTask
from bot.domain.ports import ForgeError
from bot.engine.deps import EngineDeps
from bot.engine.repo_lease import homes_may_differ

log = structlog.get_logger(__name__)


def save(deps: EngineDeps, path: Path, task: AgentTask, sha: str) -> None:
    """Push the step's commit to its hidden ref before its outcome is recorded, so a worker on
    another machine that continues the repo finds the recorded SHA (a failed push leaves the run
    working here; only a takeover elsewhere would miss the commit)."""
    try:
        ref = deps.workspace.save_step(path, task.run_id, task.repo, task.step_key, sha)
    except ForgeError as err:
        why = str(err)[:300]
        log.warning("step_commit_not_saved", run_id=task.run_id, repo=task.repo, step=task.step_key, error=why)
        return
    log.info("step_commit_saved", run_id=task.run_id, repo=task.repo, step=task.step_key, ref=ref, sha=sha)


def drop(deps: EngineDeps, run_id: str) -> None:
    """The run ended: delete its agent steps' hidden refs from its repos' remotes (best effort:
    a remote that cannot be reached keeps them, harmless refs no branch points at)."""
    repos = sorted({step.repo for step in deps.store.steps(run_id) if step.repo and step.agent})
    try:
        dropped = deps.workspace.drop_saved(run_id, repos) if repos else 0
    except (ForgeError, LookupError) as err:
        log.warning("step_refs_kept", run_id=run_id, error=str(err)[:300])
        return
    if dropped:
        log.info("step_refs_dropped", run_id=run_id, refs=dropped)


def stop_run(deps: EngineDeps) -> Callable[[str], int]:
    """What a cancel does here once it stopped the run's workflows (no workflow code runs after
    that to end the run): kill the run's agents on this host, then drop its step refs."""

    def stop(run_id: str) -> int:
        stopped = deps.processes.stop_run(run_id)
        if homes_may_differ(deps.settings):
            drop(deps, run_id)
        return stopped

    return stop
