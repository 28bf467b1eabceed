"""People talking to a run from Linear: comments on an issue that has a run, and prompts in an agent
session. `/baton approve|reject <reason>|cancel|retry|status` lines are commands (alone on their
line, outside quotes and code); `@baton <instruction>` in a comment, or any other prompt in a
session, asks for another round on the run's branches; a session's stop signal cancels the run.

Every command gets an answer where it was given: a reply under the comment, or a thought in the
session. Baton's own comments are never read. Each comment and each prompt counts once, claimed
under its own id — not the Linear-Delivery header, which the signature does not cover.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.models import Actor, Decision, Source
from bot.store.audit import AuditKind
from bot.surfaces.render import summary_line
from handlers.commands import Command, dropped_repo, mention_text, parse_commands
from handlers.linear.payloads import AgentActivity, CommentEvent, UserRef
from handlers.linear.runs import LinearContext, issue_run, point_issue_at_revert

_DECISIONS = {"approve": Decision.approve, "reject": Decision.reject}


def _time(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if value else None
    except ValueError:
        return None


def _actor(user: UserRef | None, user_id: str | None) -> Actor:
    if user is not None:
        return Actor(source=Source.linear, id=user.id, display=user.name)
    return Actor(source=Source.linear, id=user_id or "", display=user_id or "someone")


def run_command(
    ctx: LinearContext, run_id: str, actor: Actor, command: Command, written_at: datetime | None = None
) -> str:
    """Do one command for `actor`; the answer to show them. `written_at` (the comment's creation)
    binds an approval to the heads as they were then: Linear retries a delivery up to hours later."""
    runs = ctx.runs
    if command.name in _DECISIONS:
        return runs.decide(run_id, actor, _DECISIONS[command.name], command.args, not_before=written_at).message
    if command.name == "status":
        view = runs.store.view(run_id)
        return summary_line(view) if view else f"no run {run_id}"
    if command.name == "run":
        return "To start a run from Linear, add the Baton label to an issue or delegate the issue to Baton."
    if command.name == "drop":
        repo = dropped_repo(f"drop {command.args}")
        return runs.drop_repo(run_id, actor, repo).message if repo else "Say which repo: `/baton drop <repo>`."
    refusal = ctx.access.may_trigger(actor)
    if refusal:
        kinds = {"cancel": AuditKind.cancellation, "retry": AuditKind.retry, "revert": AuditKind.revert}
        kind = kinds.get(command.name, AuditKind.cancellation)
        runs.store.audit.refused(kind, actor, refusal, run_id=run_id)
        return refusal
    if command.name == "cancel":
        return runs.cancel(run_id, actor).message
    if command.name == "revert":
        return runs.revert(run_id, actor).message
    if command.name == "skip":
        return runs.skip(run_id, actor, command.args.split()[0] if command.args.split() else "").message
    if command.name == "close":
        return runs.close(run_id, actor).message
    return runs.retry(run_id, actor).message


def follow_up(ctx: LinearContext, run_id: str, actor: Actor, instruction: str) -> str:
    refusal = ctx.access.may_trigger(actor)
    if refusal:
        ctx.runs.store.audit.refused(AuditKind.follow_up, actor, refusal, run_id=run_id)
        return refusal
    return ctx.runs.follow_up(run_id, actor, instruction).message


def on_comment(ctx: LinearContext, event: CommentEvent, delivery: str) -> dict[str, object]:
    data = event.data
    if event.action != "create" or not data.issueId:
        return {"ok": True, "ignored": "not a new comment on an issue"}
    if data.botActor or (data.userId is not None and data.userId == ctx.access.viewer_id()):
        return {"ok": True, "ignored": "Baton's own comment"}
    mention = ctx.runs.config.linear.mention
    commands = parse_commands(data.body)
    instruction = None if commands else mention_text(data.body, mention)
    if not commands and instruction is None:
        return {"ok": True, "ignored": "no command or mention"}
    run_id = issue_run(ctx, data.issueId)
    if ctx.runs.store.claim_delivery(f"linear:comment:{data.id}", run_id) is not None:
        return {"ok": True, "duplicate": True}
    if run_id is None:
        label = ctx.runs.config.linear.label
        ctx.reply_on_issue(
            data.issueId, f"There is no Baton run on this issue. Add the `{label}` label to start one.", data.id
        )
        return {"ok": True, "refused": "no run on this issue"}
    actor = _actor(data.user, data.userId)
    if commands:
        written = _time(data.createdAt)
        answers = [run_command(ctx, run_id, actor, c, written) for c in commands]
        if any(c.name == "revert" for c in commands):
            point_issue_at_revert(ctx, data.issueId, run_id)
    else:
        answers = [follow_up(ctx, run_id, actor, instruction or "")]
    ctx.reply_on_issue(data.issueId, "\n\n".join(answers), data.id)
    return {"ok": True, "run_id": run_id, "answers": answers}


def on_prompt(ctx: LinearContext, session_id: str, activity: AgentActivity | None, delivery: str) -> dict[str, object]:
    run_id = ctx.runs.store.run_for_link(f"linear:session:{session_id}")
    key = f"linear:activity:{activity.id}" if activity is not None else f"linear:{delivery}"
    if ctx.runs.store.claim_delivery(key, run_id) is not None:
        return {"ok": True, "duplicate": True}
    if run_id is None or activity is None:
        ctx.say_in_session(session_id, {"type": "error", "body": "This session has no Baton run."})
        return {"ok": True, "refused": "no run for this session"}
    actor = _actor(activity.user, activity.userId)
    if activity.signal == "stop":
        refusal = ctx.access.may_trigger(actor)
        if refusal is None:
            result = ctx.runs.cancel(run_id, actor)
            if result.accepted:  # the run's closing activity ("cancelled") is the answer
                return {"ok": True, "run_id": run_id, "answers": [result.message]}
            said = {"type": "response", "body": result.message}
        else:
            ctx.runs.store.audit.refused(AuditKind.cancellation, actor, refusal, run_id=run_id)
            said = {"type": "thought", "body": refusal}
        ctx.surface.post_activity(run_id, session_id, f"reply-{delivery}", said, after_end=True)
        return {"ok": True, "run_id": run_id, "answers": [said["body"]]}
    commands = parse_commands(activity.content.body)
    if commands:
        answers = [run_command(ctx, run_id, actor, c) for c in commands]
    else:
        answers = [follow_up(ctx, run_id, actor, activity.content.body)]
    content = {"type": "thought", "body": "\n\n".join(answers)}
    ctx.surface.post_activity(run_id, session_id, f"reply-{delivery}", content, after_end=True)
    return {"ok": True, "run_id": run_id, "answers": answers}
