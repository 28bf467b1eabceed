"""The effects a campaign adds to a run's steps, over the engine's ports: weigh approvals wave by
wave, close a PR the campaign drops, keep its progress for the surfaces.

`runs.RunEngine` wraps each in a DBOS step; the decisions are in `campaign_plan`.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bot.domain.models import ChangeSet, ChangeState, utcnow
from bot.domain.people import People
from bot.engine.activities import Emitter
from bot.engine.approvals import GateVerdict
from bot.engine.campaign_plan import CAMPAIGN_FACT, CampaignState, approved_repos
from bot.engine.deps import EngineDeps
from bot.engine.merge_train import MergeOutcome, merge_step, refreshed


def wave_gate_step(deps: EngineDeps, run_id: str, repos: list[str]) -> GateVerdict:
    """`repos`' PRs read again from the forge (stale approvals void), then per PR whether
    approvals bind its current head and base."""
    run = deps.store.get_run(run_id)
    assert run is not None
    changes = refreshed(deps, run_id, repos)
    approvals = deps.store.approvals(run_id)
    people = People(deps.config.people)
    return approved_repos(deps.config.approval, changes, approvals, run.created_at, utcnow(), people)


def close_change(deps: EngineDeps, run_id: str, repo: str) -> ChangeSet:
    """Close the run's open PR in `repo` without merging it (once: a closed PR stays closed)."""
    change = next(c for c in deps.store.changes(run_id) if c.repo == repo)
    if change.state is not ChangeState.open:
        return change
    closed = deps.forge.close(change).model_copy(update={"order": change.order, "run_id": run_id})
    deps.store.save_change(closed)
    Emitter(deps, run_id)("pr_closed", {"repo": repo, "number": closed.number})
    return closed


def save_campaign(deps: EngineDeps, run_id: str, state: CampaignState, summary: dict[str, Any]) -> None:
    """The per-repo progress as the run's fact (the dashboard's table), the burndown as one event
    (every surface's summary: a fixed size whatever the number of repos)."""
    deps.store.put_fact(run_id, CAMPAIGN_FACT, state.model_dump(mode="json"))
    Emitter(deps, run_id)("campaign_progress", summary)


def merge_changes(deps: EngineDeps, run_id: str, heads: dict[str, str]) -> dict[str, MergeOutcome]:
    """Merge PRs that do not depend on one another at once, each guarded by its approved SHA
    (`merge_step`: never twice, so a step repeated after a crash merges only what is left)."""
    workers = max(1, min(len(heads), deps.config.concurrency.per_run))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # Each thread logs with the run's bound context (run_id) like the workflow does.
        futures = {
            repo: pool.submit(contextvars.copy_context().run, merge_step, deps, run_id, repo, sha)
            for repo, sha in heads.items()
        }
        return {repo: future.result() for repo, future in futures.items()}
