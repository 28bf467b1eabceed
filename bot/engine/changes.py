"""A repo's work becomes a pull request: the checks in its workspace, the push of exactly the
settled commit, the PR opened (or found), its checks at the forge and its diffstat, and the PR's body.
Each function is the body of one durable step (runs.py), safe to run again after a crash.

Checks run once per head: a passing workspace outcome is recorded per (repo, head SHA) in the
run's facts, and the PR's checks at that same head are offered it (`Forge.run_checks(known=)`);
a forge whose PR checks are that command (the local forge) reuses it, a new head runs them again.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from bot.domain.checks import missing_report
from bot.domain.diffs import STAT_ONLY, DiffStat
from bot.domain.models import ChangeSet, CheckOutcome, RunSpec, utcnow
from bot.domain.ports import ForgeError
from bot.domain.records import Step, StepState
from bot.domain.untrusted import clean, inert, quote, split_request
from bot.engine import traced
from bot.engine.activities import Emitter, _stop_check
from bot.engine.deps import EngineDeps

log = structlog.get_logger(__name__)


def workspace_checks(
    deps: EngineDeps,
    run_id: str,
    repo: str,
    branch: str,
    expected_head: str,
    key: str,
    *,
    path: Path | None = None,
) -> CheckOutcome:
    """Run the repo's checks command on the workspace (or the worktree `path`) at `expected_head`."""
    command = deps.config.repo(repo).checks
    step = Step(run_id=run_id, key=key, name="checks", repo=repo)
    if not command:
        step.state, step.finished_at, step.detail = StepState.skipped, utcnow(), "no checks command"
        deps.store.save_step(step)
        return CheckOutcome(passed=True, output_tail="no checks command", sha=expected_head)
    path = path or deps.workspace.locate(run_id, repo, branch)
    deps.workspace.reset_to(path, expected_head)
    deps.store.save_step(step)
    with traced.step(deps, "checks", repo=repo, step=key) as span:
        outcome = deps.checks.run(
            deps.config.repo(repo),
            path,
            expected_head,
            key=f"{run_id}/checks",
            timeout_s=900.0,
            should_stop=_stop_check(deps, run_id),
        )
        passed = outcome.passed
        if span is not None:
            span.set_attribute("baton.state", "passed" if passed else "failed")
    deps.workspace.reset_to(path, expected_head)
    step.state = StepState.succeeded if passed else StepState.failed
    step.finished_at = utcnow()
    step.detail = (
        "passed"
        if passed
        else (missing_report(outcome.output_tail) if outcome.program_missing else outcome.output_tail[-300:])
    )
    deps.store.save_step(step)
    if passed and outcome.sha:
        deps.store.put_fact(run_id, _passed_key(repo, outcome.sha), _recorded(deps, outcome))
    return outcome


def _passed_key(repo: str, sha: str) -> str:
    return f"checks-passed@{sha}:{repo[:120]}"


def _recorded(deps: EngineDeps, outcome: CheckOutcome) -> dict[str, object]:
    """What is kept of a passing outcome: the head, and the tail people may read (redacted)."""
    return {"sha": outcome.sha, "output_tail": deps.store.redact(outcome.output_tail[-2000:])}


def passed_at(deps: EngineDeps, run_id: str, repo: str, sha: str) -> CheckOutcome | None:
    """The run's passing checks outcome for `repo` at `sha`, if its workspace checks recorded one."""
    held = deps.store.get_fact(run_id, _passed_key(repo, sha))
    if held is None or held.get("sha") != sha:
        return None
    return CheckOutcome(passed=True, sha=sha, output_tail=str(held.get("output_tail") or ""))


def push_branch(deps: EngineDeps, run_id: str, repo: str, branch: str, head: str) -> str:
    """Push exactly the commit the workflow settled on (e.g. best-of's winner, not the last try)."""
    path = deps.workspace.locate(run_id, repo, branch)
    deps.workspace.reset_to(path, head)
    with deps.tracer.span("git push", {"baton.repo": repo, "baton.branch": branch}) as span:
        sha = deps.workspace.push(path, repo, branch)
        if span is not None:
            span.set_attribute("baton.sha", sha)
    Emitter(deps, run_id)("pushed", {"repo": repo, "branch": branch, "sha": sha})
    return sha


def open_change(deps: EngineDeps, run_id: str, repo: str, branch: str, title: str, body: str, order: int) -> ChangeSet:
    change = deps.forge.open_pr(run_id, repo, branch, title, body, order)
    change = change.model_copy(update={"run_id": run_id, "order": order})
    deps.store.save_change(change)
    Emitter(deps, run_id)(
        "pr_opened",
        {"repo": repo, "number": change.number, "url": change.url, "sha": change.head_sha},
    )
    return change


def change_checks(deps: EngineDeps, change: ChangeSet) -> ChangeSet:
    """Refresh a PR's head and run its checks there; the result is saved for the surfaces."""
    current = deps.forge.refresh(change)
    outcome = deps.forge.run_checks(current, passed_at(deps, change.run_id, change.repo, current.head_sha))
    updated = current.model_copy(
        update={
            "run_id": change.run_id,
            "order": change.order,
            "checks": outcome.state,
            "checks_output": outcome.output_tail[-2000:],
            "checks_program_missing": outcome.program_missing,
            "head_sha": outcome.sha or current.head_sha,
        }
    )
    updated = updated.model_copy(update={"diffstat": _diffstat(deps, updated)})
    # Announced only if the outcome is new: a webhook may have recorded it first (and a re-run step adds none).
    event = deps.store.save_checks(updated, source="run", warnings=outcome.warnings)
    if event is not None:
        log.info("checks", run_id=change.run_id, seq=event.seq, repo=change.repo, state=updated.checks.value)
    return updated


def pr_body(spec: RunSpec, plan: str, summary: str, depends_on: list[str] | None = None) -> str:
    """A PR's description: who asked, what the agent did, and the run it is linked through.

    Everything quoted here (the request, the agent's summary, the plan) may carry text Baton did not
    write, so it is made inert (`bot.domain.untrusted`): no @mention of a person or team, no closing
    keyword; the issue text an agent was given as data is referred to, never pasted."""
    actor = spec.trigger.actor
    own, quoted = split_request(spec.trigger.request)
    context = "\n\n_It came with the text of the issue it was asked on, as context._" if quoted else ""
    return (
        f"Opened by Baton for run `{spec.run_id}`, requested by {inert(clean(actor.display or actor.id))} "
        f"({actor.source.value}).\n\n"
        f"**Request**\n\n{quote(own.strip()[:2000])}{context}\n\n"
        f"**What changed**\n\n{inert(clean(summary[:2000])) or '(no summary)'}\n\n"
        f"**Linked changes** (merge order): {inert(clean(plan))}\n\n"
        "This PR merges only after an authorised approval bound to the head SHAs of every PR "
        "in the run." + ("\n\n" + "\n".join(f"Depends-On: {url}" for url in depends_on) if depends_on else "")
        # Zuul/Mergify's convention: one line per provider PR that must merge first.
    )


def _diffstat(deps: EngineDeps, change: ChangeSet) -> DiffStat | None:
    """The PR's diffstat at its head (what the cards show), or None when the forge cannot say now:
    it never fails a run."""
    try:
        return deps.forge.diff(change, STAT_ONLY).stat
    except ForgeError as err:
        log.warning("review.diffstat_unavailable", run_id=change.run_id, repo=change.repo, error=str(err)[:300])
        return None
