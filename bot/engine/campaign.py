"""A campaign run (`campaign:` in the playbook): one change rolled out over many repos — the canary
first, at most `max_open_prs` PRs open at once, approvals per wave, each approved PR merged as soon
as it and its providers allow; a failed repo is marked and the others go on; `retry` re-works only
the failed repos, `skip <repo>` drops one, `close` ends it.

Plain functions over `RunSteps`, like `approval_loop`: the decisions themselves are in
`campaign_plan`; every effect here goes through a step, so a replayed workflow takes the same path.
"""

from __future__ import annotations

from bot.config.playbooks import Campaign
from bot.domain.models import ChangeSet, ChangeState, ChecksState, RunSpec, RunState
from bot.engine import campaign_plan as cp
from bot.engine.approval_loop import await_decision
from bot.engine.messages import (
    CLOSE,
    FOLLOW_UP,
    PARKED,
    RETRY_FAILED,
    SKIP,
    TERMINAL_VERDICTS,
    LoopState,
)
from bot.engine.patterns.concurrent import fan_out
from bot.engine.patterns.manager import Plan
from bot.engine.steps import RunSteps

ASK_SHOWN = 50
"""How many PR links an approval request lists (the surfaces summarise the rest)."""


def roll_out(steps: RunSteps, spec: RunSpec, attempt: int, plan: Plan, loop: LoopState | None = None) -> str:
    """The campaign from its first repo (or, with `loop`, from the wait it parked in) to its end.
    Returns the run's end, or PARKED."""
    run_id = spec.run_id
    policy = steps.config.playbook(spec.playbook).campaign or Campaign()
    resumed = loop is not None
    loop = loop or LoopState(stage="campaign", plan=plan.model_dump(mode="json"))
    deps = {t.repo: t.depends_on for t in plan.subtasks}
    state = cp.CampaignState.model_validate(loop.campaign) if loop.campaign else cp.start(plan.order, deps, policy)
    waiting_for = "approval"
    while True:
        if not resumed:
            changes = _changes(steps, run_id)
            cp.settle(state, changes)
            batch = cp.next_batch(state, changes, policy)
            if batch:
                if not _work(steps, spec, attempt, plan, state, batch, policy):
                    return RunState.cancelled.value
                continue
            if _merge_approved(steps, run_id, attempt, state, changes):
                continue
            if cp.finished(state, changes):
                _report(steps, run_id, state, changes)
                steps.state_step(run_id, RunState.merged)
                return RunState.merged.value
            _report(steps, run_id, state, changes)
            waiting_for = _ask(steps, run_id, state, changes, loop)
        loop.campaign = state.model_dump(mode="json")
        message = await_decision(steps, run_id, attempt, waiting_for, loop, enter=not resumed)
        resumed = False
        if message is None:
            return PARKED
        if message.verdict in TERMINAL_VERDICTS:
            return message.verdict
        if message.verdict == RETRY_FAILED:
            loop.rounds += 1
            _retry_failed(steps, spec, attempt, state, loop.rounds)
        elif message.verdict == SKIP:
            _skip(steps, run_id, state, message.instruction, policy)
        elif message.verdict == CLOSE:
            return _close(steps, run_id, state, policy, message.actor)
        elif message.verdict == FOLLOW_UP and not message.repair:
            steps.event_step(
                run_id,
                "follow_up_deferred",
                {"reason": "a campaign takes retry, skip <repo> and close, not follow-ups"},
            )
        # approve / recheck / a repair nudge: the top of the loop weighs approvals and merges


def _changes(steps: RunSteps, run_id: str) -> dict[str, ChangeSet]:
    return {c.repo: c for c in steps.current_changes_step(run_id)}


def _work(
    steps: RunSteps,
    spec: RunSpec,
    attempt: int,
    plan: Plan,
    state: cp.CampaignState,
    batch: list[str],
    policy: Campaign,
) -> bool:
    """Work `batch` (at most `max_concurrent_agents` at once); False when the run was cancelled."""
    run_id = spec.run_id
    tasks = {t.repo: t for t in plan.subtasks}
    for repo in batch:
        state.status[repo] = "working"
    steps.state_step(run_id, RunState.working)
    steps.event_step(run_id, "campaign_wave_started", {"repos": batch[:ASK_SHOWN], "count": len(batch)})
    _report(steps, run_id, state, _changes(steps, run_id))  # the burndown shows them working
    limit = policy.max_concurrent_agents or steps.config.concurrency.per_run
    outcomes = fan_out(
        [tasks[r] for r in batch],
        lambda task: steps.start_repo(run_id, attempt, plan.order, plan, task, state.tries.get(task.repo, 0)),
        steps.wait_first,
        limit,
    )
    for outcome in outcomes:
        if outcome.status == "cancelled":
            return False
        ok = outcome.status == "done" and outcome.change is not None
        state.status[outcome.repo] = "done" if ok else "failed"
        if not ok:
            state.reasons[outcome.repo] = outcome.summary[:300] or outcome.status
    return True


def _merge_approved(
    steps: RunSteps, run_id: str, attempt: int, state: cp.CampaignState, changes: dict[str, ChangeSet]
) -> bool:
    """Merge every approved, green PR whose providers are in (plan order); True when one merged or
    failed (the campaign moved on), False when nothing could."""
    candidates = [r for r in state.order if state.status[r] == "done" and r in changes]
    candidates = [r for r in candidates if changes[r].state is ChangeState.open]
    if not candidates:
        state.approved = []
        return False
    verdict = steps.wave_gate(run_id, candidates)
    state.approved = sorted(verdict.head_shas)
    changes = _changes(steps, run_id)
    ready = cp.mergeable(state, changes, state.approved)
    if not ready:
        return False
    steps.state_step(run_id, RunState.merging)
    preflight = steps.preflight(run_id, verdict, attempt, ready)
    if preflight.moved:
        state.approved = []
        return False
    if not preflight.ok:  # the repos the report names failed; the others wait for the next try
        named = [r for r in ready if f"{r}:" in preflight.report] or ready
        for repo in named:
            state.status[repo] = "failed"
            state.reasons[repo] = preflight.report[:300]
        return True
    remaining = list(ready)
    while remaining:  # layer by layer: PRs with no provider left to merge go at once
        layer = [r for r in remaining if not any(d in remaining for d in state.deps[r])]
        results = steps.merge_changes(run_id, {r: verdict.head_shas[r] for r in layer})
        stop = False
        for repo in layer:
            result = results[repo]
            stop = stop or result.moved or not result.ok
            if not result.ok and not result.moved:
                state.status[repo] = "failed"
                state.reasons[repo] = result.report[:300]
        if stop:  # a provider that did not merge holds its consumers back; a moved head voids approvals
            break
        remaining = [r for r in remaining if r not in layer]
    state.approved = [r for r in state.approved if r not in ready]
    return True


def _ask(steps: RunSteps, run_id: str, state: cp.CampaignState, changes: dict[str, ChangeSet], loop: LoopState) -> str:
    """What the campaign waits for: an approval of the open, green PRs no approval covers yet (asked
    once per such set), or a person's `retry`, `skip` or `close`."""
    unapproved = [
        r
        for r in state.order
        if cp.phase(state, r, changes.get(r)) is cp.Phase.pr_open and changes[r].state is ChangeState.open
    ]
    if not unapproved:
        return "campaign"
    if set(unapproved) - set(loop.asked):
        urls = [changes[r].url for r in unapproved]
        steps.event_step(
            run_id,
            "approval_requested",
            {"prs": urls[:ASK_SHOWN], "count": len(urls), "round": loop.rounds, "wave": unapproved[:ASK_SHOWN]},
        )
        loop.asked = unapproved
    return "approval"


def _report(steps: RunSteps, run_id: str, state: cp.CampaignState, changes: dict[str, ChangeSet]) -> None:
    """The campaign's burndown (one event, a fixed size) and its per-repo table (the run's fact)."""
    steps.campaign_step(run_id, state, cp.burndown(state, changes))


def _retry_failed(steps: RunSteps, spec: RunSpec, attempt: int, state: cp.CampaignState, number: int) -> None:
    """Work the failed repos again, only those: a repo with no PR starts over (a fresh child
    workflow), a PR with red checks gets a repair round on its branch."""
    run_id = spec.run_id
    changes = _changes(steps, run_id)
    failed = [r for r in state.order if state.status[r] == "failed"]
    opened = [changes[r] for r in failed if r in changes and changes[r].state is ChangeState.open]
    red = [c for c in opened if c.checks is ChecksState.failed]
    steps.event_step(run_id, "campaign_retry", {"repos": failed[:ASK_SHOWN], "count": len(failed)})
    for repo in failed:
        if repo not in changes or changes[repo].state is not ChangeState.open:
            state.status[repo] = "queued"
            state.tries[repo] = state.tries.get(repo, 0) + 1
        elif changes[repo].checks is not ChecksState.failed:
            state.status[repo] = "done"  # a green PR that did not merge: it is approved and merged again
        if state.status[repo] != "failed":
            state.reasons.pop(repo, None)
    if not red:
        return
    for change in red:
        state.status[change.repo] = "working"
    steps.state_step(run_id, RunState.working)
    instruction = "\n\n".join(f"Checks failed in {c.repo}:\n{c.checks_output}" for c in red)
    outcomes = fan_out(
        red,
        lambda change: steps.start_round_repo(run_id, attempt, number, instruction, True, change),
        steps.wait_first,
        steps.config.concurrency.per_run,
    )
    for outcome in outcomes:
        ok = outcome.status in ("done", "unchanged")
        state.status[outcome.repo] = "done" if ok else "failed"
        if ok:
            state.reasons.pop(outcome.repo, None)
        else:
            state.reasons[outcome.repo] = outcome.summary[:300] or outcome.status


def _skip(steps: RunSteps, run_id: str, state: cp.CampaignState, repo: str, policy: Campaign) -> None:
    if state.status.get(repo) in (None, "skipped"):
        return
    changes = _changes(steps, run_id)
    change = changes.get(repo)
    if change is not None and change.state is ChangeState.merged:
        return  # merged already: nothing left to drop
    state.status[repo] = "skipped"
    closed = change is not None and change.state is ChangeState.open and policy.on_close == "close"
    if closed:
        steps.close_change_step(run_id, repo)
    steps.event_step(run_id, "campaign_skipped", {"repo": repo, "pr_closed": closed})


def _close(steps: RunSteps, run_id: str, state: cp.CampaignState, policy: Campaign, actor: str) -> str:
    """End the campaign: nothing more starts or merges; its open PRs are closed or left per policy."""
    changes = _changes(steps, run_id)
    still_open = [r for r in state.order if r in changes and changes[r].state is ChangeState.open]
    if policy.on_close == "close":
        for repo in still_open:
            steps.close_change_step(run_id, repo)
    for repo in state.order:
        if state.status[repo] in ("queued", "failed") and repo not in changes:
            state.status[repo] = "skipped"
    merged = sum(1 for c in changes.values() if c.state is ChangeState.merged)
    done = "closed" if policy.on_close == "close" else "left open"
    summary = f"campaign closed by {actor or 'a person'}: {merged} merged, {len(still_open)} PR(s) {done}"
    steps.event_step(
        run_id, "campaign_closed", {"merged": merged, "open": len(still_open), "on_close": policy.on_close}
    )
    _report(steps, run_id, state, _changes(steps, run_id))
    steps.state_step(run_id, RunState.cancelled, error=summary)
    return RunState.cancelled.value


def is_campaign(steps: RunSteps, spec: RunSpec) -> bool:
    return steps.config.playbook(spec.playbook).campaign is not None
