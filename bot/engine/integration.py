"""Integration checks on the combined change set: a playbook's `integration_checks` command, run over
every repo of the run checked out at its PR head side by side (`BATON_SET_DIR/<repo>`), before the
approval is offered and again before the merge, at the approved heads.

Zuul gives this cross-repo gate with `Depends-On`; here it needs no CI of its own. The set is
laid out as detached work trees of the run's own workspaces (no clone per check) with their `.git`
link removed — the command sees files only — run through the `ChecksRunner` port (confined, no
secrets), and torn down after. The outcome is kept per run as a
fact bound to the heads it checked — the approval service refuses an approval while the current
heads' result is red — and as a step ("integration checks", its detail the output's tail), which
is how the card, the status comment and the dashboard show it.
"""

from __future__ import annotations

import re
import shutil
from contextlib import suppress
from pathlib import Path

import structlog

from bot.domain.models import ChangeState, utcnow
from bot.domain.records import Step, StepState
from bot.engine.activities import Emitter, _stop_check
from bot.engine.deps import EngineDeps
from bot.engine.integration_gate import FACT, STEP_NAME, IntegrationOutcome

log = structlog.get_logger(__name__)

TIMEOUT_S = 900.0
TAIL = 1500
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def run_integration(deps: EngineDeps, run_id: str, stage: str, key: str) -> IntegrationOutcome | None:
    """Run the run's playbook's `integration_checks` over its open PRs' heads; None when the
    playbook has none. `key` names this check's step and directory (unique within the run)."""
    run = deps.store.get_run(run_id)
    assert run is not None, run_id
    command = deps.config.playbook(run.spec.playbook).integration_checks
    if not command:
        return None
    changes = [c for c in deps.store.changes(run_id) if c.state is not ChangeState.closed]
    heads = {c.repo: c.head_sha for c in changes}
    step = Step(run_id=run_id, key=f"integration/{key}", name=STEP_NAME)
    deps.store.save_step(step)
    set_dir = deps.settings.home / "integration" / _UNSAFE.sub("_", run_id) / _UNSAFE.sub("_", key)
    shutil.rmtree(set_dir, ignore_errors=True)
    set_dir.mkdir(parents=True)
    trees: list[tuple[Path, Path]] = []
    try:
        for change in changes:
            # prepare fetches, so a head someone else pushed to the PR is there to check out.
            main = deps.workspace.prepare(run_id, change.repo, change.branch)
            tree = deps.workspace.add_worktree(main, set_dir / change.repo, change.head_sha)
            trees.append((main, tree))
            # Files only: without its `.git` link the command can neither read nor write the
            # workspace's git (the worktree's metadata is pruned once the directory is gone).
            (tree / ".git").unlink(missing_ok=True)
        result = deps.checks.run_set(
            command, set_dir, key=f"{run_id}/integration", timeout_s=TIMEOUT_S, should_stop=_stop_check(deps, run_id)
        )
        passed, output = result.passed, result.output_tail
    except Exception as err:  # a set that cannot be laid out is red, saying why; it never merges
        log.warning("integration.layout_failed", run_id=run_id, error=str(err)[:300])
        passed, output = False, f"the change set could not be laid out: {str(err)[:500]}"
    finally:
        shutil.rmtree(set_dir, ignore_errors=True)
        for main, tree in trees:
            with suppress(Exception):  # the next check of this key lays the set out afresh anyway
                deps.workspace.remove_worktree(main, tree)
    outcome = IntegrationOutcome(passed=passed, heads=heads, output=output[-TAIL:], stage=stage)
    step.state = StepState.succeeded if passed else StepState.failed
    step.finished_at = utcnow()
    step.detail = "passed" if passed else outcome.output
    deps.store.save_step(step)
    deps.store.put_fact(run_id, FACT, outcome.model_dump(mode="json"))
    Emitter(deps, run_id)("integration_checks", outcome.model_dump(mode="json"))
    log.info("integration", run_id=run_id, stage=stage, passed=passed, repos=sorted(heads))
    return outcome
