"""Starting runs from Linear: the configured label added to an issue, or an issue delegated to (or
Baton mentioned in) an agent session.

The issue's title and description reach the agent as data between markers that carry a fresh
nonce (`bot.domain.untrusted`), and are never read for options: only the words of the person who asked —
the comment that delegated or mentioned Baton in a session — can name repos (`repos: a, b` or
`repo=`), an agent, a playbook or a budget. A label carries no words: the run works on the repos
its team is mapped to in `linear.team_repos`. Naming a repo outside the team's mapping needs the
requester to be one the operator listed (`linear.allowed_users`/`allowed_teams`); where anyone may
start runs, a request stays within its team's repos. Whatever stops a run from starting — a person
not allowed, no or unknown repos, an unknown agent, a run still going on the issue — is said on the
issue (or in the session), never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from bot.config.models import BatonFile
from bot.domain.models import Actor, ReplyTo, RunSpec, Source, Trigger
from bot.domain.untrusted import INTRO_TAIL, block, clean, inert_plain, new_nonce
from bot.engine.commands import RunCommands
from bot.engine.intake import (
    RequestError,
    asks_discovery,
    build_spec,
    parse_request,
    reach,
    run_id_for,
    without_options,
)
from bot.engine.revert_spec import revert_run_id
from bot.preflight import did_you_mean
from bot.preflight import refusal as preflight_refusal
from bot.services.linear import documents as docs
from bot.services.linear.client import LinearClient, LinearError
from bot.store.audit import AuditKind
from bot.surfaces.linear.session import Content, acknowledgement
from bot.surfaces.linear.surface import LinearSurface, LinearTarget
from bot.surfaces.render import one_line
from handlers.linear.access import EDGE_DEADLINE_S, LinearAccess
from handlers.linear.payloads import AgentSession, IssueEvent, UserRef

log = structlog.get_logger(__name__)

_REPOS_LINE = re.compile(r"^\s*repos?\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE)
Later = Callable[[], None]
"""Work done after what a delivery asks is done (replies on the issue)."""


@dataclass
class LinearContext:
    runs: RunCommands
    client: LinearClient
    surface: LinearSurface
    access: LinearAccess
    later: list[Later]

    def reply_on_issue(self, issue_id: str, body: str, parent_id: str | None = None) -> None:
        comment: dict[str, str] = {"issueId": issue_id, "body": body}
        if parent_id:
            comment["parentId"] = parent_id
        self.later.append(lambda: self._send(docs.COMMENT_CREATE, {"input": comment}))

    def say_in_session(self, session_id: str, content: Content) -> None:
        """An activity in a session that has no run (refusals): said at once, Linear waits for it."""
        self._send(docs.ACTIVITY_CREATE, {"input": {"agentSessionId": session_id, "content": content}})

    def _send(self, document: str, variables: dict[str, object]) -> None:
        try:
            self.client.execute(document, variables, deadline_s=EDGE_DEADLINE_S)
        except LinearError as err:
            log.warning("linear_reply_failed", error=str(err), kind=err.kind)


# -- which run an issue has ---------------------------------------------------------------------------
def _issue_key(issue_id: str) -> str:
    return f"linear:issue:{issue_id}"


def issue_run(ctx: LinearContext, issue_id: str) -> str | None:
    """The issue's latest run."""
    return ctx.runs.store.run_for_link(_issue_key(issue_id))


def _point_issue(ctx: LinearContext, issue_id: str, run_id: str) -> None:
    ctx.runs.store.link(_issue_key(issue_id), run_id)


def point_issue_at_revert(ctx: LinearContext, issue_id: str, run_id: str) -> None:
    """After `/baton revert`, the issue's commands are about the revert run (once it exists)."""
    revert = revert_run_id(run_id)
    if ctx.runs.store.get_run(revert) is not None:
        _point_issue(ctx, issue_id, revert)


# -- what a run is asked to do --------------------------------------------------------------------------
def issue_request(identifier: str, title: str, description: str, url: str, nonce: str, instruction: str = "") -> str:
    """The request for the agent: a one-line headline (the title without anything shaped like an
    option), the requester's own words if any, then the issue's text as delimited data."""
    # The title is untrusted: no options in the headline, and nothing a PR title could mention or close.
    parts = [f"Linear issue {identifier}: {inert_plain(one_line(without_options(clean(title)), 100))}"]
    if instruction:
        parts.append(f"Asked in Linear: {one_line(instruction, 500)}")
    parts += [
        f"Linear issue {identifier} ({url}) {INTRO_TAIL}",
        block(f"LINEAR-ISSUE {identifier}", f"Title: {title}\n\n{description}", nonce),
    ]
    return "\n".join(parts)


def named_repos(words: str) -> list[str]:
    """The repos a requester's own words name: a `repos: a, b` line, or `repo=`/`repos=` options."""
    line = _REPOS_LINE.search(words)
    named = [r.strip() for r in line.group(1).split(",") if r.strip()] if line else []
    try:
        return named or parse_request(words).repos
    except RequestError:  # a bad option elsewhere in the words: building the spec says which
        return named


def choose_repos(
    config: BatonFile, team: str, team_key: str, words: str = "", may_widen: bool = False
) -> tuple[list[str], str | None]:
    """(repos, None) or ([], what to tell people): the repos the requester's `words` name, else the
    team's in `linear.team_repos`. A named repo outside the team's needs `may_widen`."""
    mapped = config.linear.team_repos.get(team_key) or config.linear.team_repos.get(team) or []
    named = named_repos(words) if words else []
    discovering = bool(words) and asks_discovery(words, config)
    chosen = named or ([] if discovering else mapped)  # a discovering request takes what its search finds
    known = sorted(r.name for r in config.repos)
    listing = ", ".join(f"`{r}`" for r in known) or "none configured"
    if not chosen and not discovering:
        return [], (
            f"Baton does not know which repos team {team_key or team} works on. Map the team under "
            f"`linear.team_repos` in baton.yml, or delegate the issue to Baton with `repos: a, b` in your "
            f"request. Known repos: {listing}."
        )
    unknown = [r for r in chosen if r not in known]
    if unknown:
        hint = did_you_mean(unknown, known)
        return [], f"Unknown repo(s): {', '.join(f'`{r}`' for r in unknown)}.{hint} Known repos: {listing}."
    beyond = beyond_team(config, team, team_key, chosen, may_widen)
    return ([], beyond) if beyond else (list(dict.fromkeys(chosen)), None)


def beyond_team(config: BatonFile, team: str, team_key: str, repos: list[str], may_widen: bool) -> str | None:
    """Why a request may not work on `repos` (named, or brought by its playbook): those outside the
    team's `linear.team_repos` need a requester the operator listed (`may_widen`)."""
    mapped = config.linear.team_repos.get(team_key) or config.linear.team_repos.get(team) or []
    outside = [r for r in repos if r not in mapped]
    if not outside or may_widen:
        return None
    mine = ", ".join(f"`{r}`" for r in mapped) or "none"
    return (
        f"{', '.join(f'`{r}`' for r in outside)} is not among team {team_key or team}'s repos ({mine}); "
        "only people listed in `linear.allowed_users` or `linear.allowed_teams` may add other repos."
    )


def _actor(user: UserRef | None) -> Actor:
    if user is None:
        return Actor(source=Source.linear, id="", display="an automation")
    return Actor(source=Source.linear, id=user.id, display=user.name)


# -- the label ---------------------------------------------------------------------------------------------
def label_added(event: IssueEvent, label: str) -> bool:
    """The configured label is on the issue now and was not before this update (or on creation)."""
    ours = {lab.id for lab in event.data.labels if lab.name.strip().lower() == label.strip().lower()}
    now = ours & set(event.data.labelIds)
    if event.action == "create":
        return bool(now)
    if event.action != "update" or event.updatedFrom is None or "labelIds" not in event.updatedFrom:
        return False
    before = event.updatedFrom.get("labelIds") or []
    return bool(now - set(before))


def on_issue(ctx: LinearContext, event: IssueEvent, delivery: str) -> dict[str, object]:
    if not label_added(event, ctx.runs.config.linear.label):
        return {"ok": True, "ignored": "not the Baton label being added"}
    data = event.data
    actor = _actor(event.actor)
    request = issue_request(data.identifier, data.title, data.description or "", data.url, new_nonce())
    # Claimed under the change itself (this issue, updated at this time), not the Linear-Delivery
    # header, which the signature does not cover: a copy sent under a new delivery id is a duplicate.
    key = f"linear:label:{data.id}:{data.updatedAt or delivery}"
    trigger = Trigger(
        source=Source.linear,
        actor=actor,
        request=request,
        reply_to=ReplyTo(source=Source.linear, issue_id=data.id),
        delivery_id=key,
        labels=[lab.name for lab in data.labels],
    )
    run_id = run_id_for(trigger)
    if not _first(ctx, key, run_id):
        return {"ok": True, "duplicate": True}
    refusal = ctx.access.may_trigger(actor)
    current = issue_run(ctx, data.id)
    current_run = ctx.runs.store.get_run(current) if current else None
    if refusal is None and current_run is not None and not current_run.state.terminal:
        refusal = f"Run `{current_run.run_id}` is still {current_run.state.value} on this issue; it continues."
    team_key = data.team.key if data.team else ""
    repos, problem = choose_repos(ctx.runs.config, data.teamId, team_key)
    refusal = refusal or problem
    spec, refusal = _spec(ctx, trigger, repos, refusal)
    if refusal is not None or spec is None:
        ctx.runs.store.settle_delivery(key)
        ctx.runs.store.audit.refused(AuditKind.trigger, actor, refusal or "no run spec", delivery_id=delivery)
        ctx.reply_on_issue(data.id, refusal or "Baton could not start a run.")
        log.info("linear_run_refused", issue=data.identifier, reason=refusal)
        return {"ok": True, "refused": refusal}
    target = LinearTarget(issue_id=data.id, team_id=data.teamId, identifier=data.identifier, url=data.url)
    ctx.surface.remember(run_id, target)
    _point_issue(ctx, data.id, run_id)
    ctx.runs.submit(spec, before_start=lambda rid: _safely(ctx.surface.post_card, rid))
    log.info("linear_run_started", run_id=run_id, issue=data.identifier, repos=repos)
    return {"ok": True, "run_id": run_id}


# -- agent sessions ------------------------------------------------------------------------------------------
def on_session_created(ctx: LinearContext, session: AgentSession, delivery: str) -> dict[str, object]:
    actor = _actor(session.creator)
    issue = session.issue
    instruction = session.comment.body if session.comment else ""
    if issue is None:
        request = instruction or "(empty request)"
        trigger_issue = None
    else:
        request = issue_request(
            issue.identifier, issue.title, issue.description or "", issue.url, new_nonce(), clean(instruction)
        )
        trigger_issue = issue.id
    key = f"linear:session:{session.id}"  # one run per session, whatever delivery id a copy comes under
    trigger = Trigger(
        source=Source.linear,
        actor=actor,
        request=request,
        reply_to=ReplyTo(source=Source.linear, issue_id=trigger_issue),
        delivery_id=key,
    )
    run_id = run_id_for(trigger)
    if not _first(ctx, key, run_id):
        return {"ok": True, "duplicate": True}
    refusal = ctx.access.may_trigger(actor)
    repos: list[str] = []
    linear = ctx.runs.config.linear
    may_widen = bool(linear.allowed_users or linear.allowed_teams)  # the operator listed who may ask
    if refusal is None and issue is None:
        refusal = "Baton works on issues: delegate an issue to it, or mention it in an issue's comments."
    if refusal is None and issue is not None:
        repos, refusal = choose_repos(ctx.runs.config, issue.teamId, issue.team.key, instruction, may_widen)
    spec, refusal = _spec(ctx, trigger, repos, refusal)
    if spec is not None and issue is not None:  # a playbook the request chose may bring repos of its own
        reached = reach(spec, ctx.runs.config)  # discover= may reach every configured repo
        refusal = beyond_team(ctx.runs.config, issue.teamId, issue.team.key, reached, may_widen)
        spec = spec if refusal is None else None
    if refusal is not None or spec is None or issue is None:
        ctx.runs.store.settle_delivery(key)
        ctx.runs.store.audit.refused(AuditKind.trigger, actor, refusal or "no run spec", delivery_id=delivery)
        ctx.say_in_session(session.id, {"type": "error", "body": refusal or "Baton could not start a run."})
        return {"ok": True, "refused": refusal}
    target = LinearTarget(
        issue_id=issue.id, team_id=issue.teamId, identifier=issue.identifier, session_id=session.id, url=issue.url
    )
    ctx.surface.remember(run_id, target)
    ctx.runs.store.link(f"linear:session:{session.id}", run_id)
    _point_issue(ctx, issue.id, run_id)
    ack = acknowledgement(run_id, repos)
    ctx.runs.submit(spec, before_start=lambda rid: _safely(lambda r: ctx.surface.acknowledge(r, ack), rid))
    ctx.later.append(lambda: _safely(ctx.surface.link_session, run_id))
    log.info("linear_session_run_started", run_id=run_id, session=session.id, repos=repos)
    return {"ok": True, "run_id": run_id}


def _first(ctx: LinearContext, key: str, run_id: str) -> bool:
    """Claim a trigger; False for a copy of one handled before. A trigger claimed whose run was
    never recorded (the process ended in between; the drain replays it) counts as new; deliveries
    about one issue are processed in turn (`LinearEdge.process`), so a copy waits for its first."""
    claimed = ctx.runs.store.claim_delivery(key, run_id)
    return claimed is None or (claimed == run_id and ctx.runs.store.get_run(run_id) is None)


def _spec(
    ctx: LinearContext, trigger: Trigger, repos: list[str], refusal: str | None
) -> tuple[RunSpec | None, str | None]:
    """The run's spec (options from the requester's own words only), or why there is none."""
    if refusal is not None:
        return None, refusal
    try:
        spec = build_spec(trigger, ctx.runs.config, repos=repos)
    except RequestError as err:
        return None, f"Baton could not read this request: {err}"
    agents = [a.name for a in ctx.runs.config.agents]
    if spec.agent and spec.agent not in agents:
        known = ", ".join(f"`{a}`" for a in agents) or "none configured"
        return None, f"Unknown agent `{spec.agent}`. Known agents: {known}."
    refusal = preflight_refusal(ctx.runs.config, spec)  # names, programs, repo URLs: bot/preflight.py
    return (None, refusal) if refusal else (spec, None)


def _safely(action: Callable[[str], None], run_id: str) -> None:
    """A first reply must never stop the run it announces from starting."""
    try:
        action(run_id)
    except Exception as err:  # Linear down or refusing: the surface says it later, the run goes on
        log.warning("linear_first_reply_failed", run_id=run_id, error=str(err))
