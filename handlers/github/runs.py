"""Acting on what people write on GitHub: start a run from an issue, answer `/baton` commands, and
turn `@baton …` on a run's PR into a follow-up round.

A new run is acknowledged before any agent work: 👀 on the comment first, then the status comment
is written inside `submit`'s `before_start` (after the run is recorded, before its workflow can
start). The issue's own title and body reach the agent as quoted data in a nonce-delimited block
(`bot.domain.untrusted`) and are never read for options: only the words of the person who asked — their
comment — choose repos, agent, budget or playbook; a label carries no words, so a labelled issue
runs on its own repo with the defaults. Every repo a request adds beyond the issue's own needs the
requester's `github.trigger_permission` there too, or the run is refused naming it.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from bot.domain.models import Actor, Decision, ReplyTo, Source, Trigger
from bot.domain.ports import ForgeError
from bot.domain.untrusted import clean, compose, new_nonce
from bot.engine.intake import RequestError, asks_discovery, build_spec, parse_request, reach, run_id_for
from bot.engine.revert_spec import revert_run_id
from bot.preflight import did_you_mean
from bot.preflight import refusal as preflight_refusal
from bot.services.github.issues import GitHubIssues
from bot.store.audit import AuditKind
from bot.surfaces.github.render import pr_ref
from bot.surfaces.github.surface import GitHubSurface, issue_key
from bot.surfaces.render import state_label
from handlers.commands import dropped_repo
from handlers.github.access import GitHubAccess

if TYPE_CHECKING:
    from bot.engine.commands import RunCommands

log = structlog.get_logger(__name__)
_REPOS_LINE = re.compile(r"(?im)^[ \t]*repos?[ \t]*:[ \t]*([A-Za-z0-9._, \t-]+?)[ \t]*$")
Where = tuple[str, int, str]
"""(repo full name, issue or PR number, the key a reply is written once under)."""


def repos_named(text: str) -> list[str]:
    """Repos named on a `repos: a, b` line."""
    found: list[str] = []
    for match in _REPOS_LINE.finditer(text):
        found += [r.strip() for r in re.split(r"[,\s]+", match.group(1)) if r.strip()]
    return found


def actor(login: str) -> Actor:
    return Actor(source=Source.github, id=login, display=login)


class GitHubRuns:
    def __init__(self, runs: RunCommands, issues: GitHubIssues, access: GitHubAccess, surface: GitHubSurface) -> None:
        self.runs = runs
        self.issues = issues
        self.access = access
        self.surface = surface

    def reply(self, full: str, number: int, text: str, key: str) -> None:
        try:
            self.issues.reply(full, number, text, key)
        except ForgeError as err:
            log.warning("github.reply_failed", repo=full, number=number, error=str(err)[:300])

    def react(self, full: str, comment_id: int | None) -> None:
        if comment_id is None:
            return
        try:
            self.issues.react(full, comment_id, "eyes")
        except ForgeError as err:
            log.warning("github.react_failed", repo=full, error=str(err)[:300])

    # -- links between an issue and its runs (an issue may see several runs over time) ---------------
    def run_for_issue(self, full: str, number: int) -> str | None:
        return self.runs.store.run_for_link(issue_key(full, number))

    def _link_issue(self, full: str, number: int, run_id: str) -> None:
        self.runs.store.link(issue_key(full, number), run_id)

    # -- starting a run ---------------------------------------------------------------------------------
    def start(
        self,
        *,
        full: str,
        number: int,
        login: str,
        instruction: str,
        context: tuple[str, str],
        delivery: str,
        key: str,
        comment_id: int | None,
        labels: list[str],
        trusted_options: bool,
    ) -> str | None:
        """Start a run for issue `full#number`; returns its id, or None when refused (with a reply).

        `instruction` is the requester's own words (empty for a label); `context` the issue's
        title and body, quoted for the agent and never read for options."""
        reply_key = f"start-{key}"
        refusal = self.access.may_trigger(full, login)
        if refusal:
            self._refused(login, refusal, delivery)
            needed = self.runs.config.github.trigger_permission
            self.reply(
                full,
                number,
                f"Sorry, I can't start a run for you: {refusal}. Anyone with {needed} access can ask me.",
                reply_key,
            )
            return None
        asked = clean(instruction) if trusted_options else ""
        try:
            options = parse_request(_REPOS_LINE.sub("", asked))
        except RequestError as err:
            self.reply(full, number, f"I can't start this run: {err}", reply_key)
            return None
        repos, error = self._repos(full, asked)
        if error:
            self.reply(full, number, error, reply_key)
            return None
        title, body = context
        request = compose(
            options.text or "Resolve the issue below.",
            f"GitHub issue {full}#{number} (its title and body)",
            f"GITHUB-ISSUE {full}#{number}",
            f"Title: {title}\n\n{body}",
            new_nonce(),
        )
        trigger = Trigger(
            source=Source.github,
            actor=actor(login),
            request=request,
            reply_to=ReplyTo(source=Source.github, repo=full, issue_number=number),
            delivery_id=key,
            labels=labels,
        )
        try:
            spec = build_spec(
                trigger,
                self.runs.config,
                repos=repos,
                agent=options.agent,
                playbook=options.playbook,
                budget_usd=options.budget_usd,
                discover=options.discover,
            )
        except RequestError as err:
            self.reply(full, number, f"I can't start this run: {err}", reply_key)
            return None
        widened = self.widening_refusal(full, login, reach(spec, self.runs.config))  # discover= may reach all
        if widened:
            self._refused(login, widened, delivery)
            self.reply(full, number, f"I can't start this run: {widened}.", reply_key)
            return None
        problem = preflight_refusal(self.runs.config, spec)  # bot/preflight.py: agents, URLs, checks, nearest names
        if problem:
            self.reply(full, number, f"I can't start this run: {problem}", key)
            return None

        def acknowledge(run_id: str) -> None:  # recorded, not yet started: say so on the issue first
            self._link_issue(full, number, run_id)
            try:
                self.surface.write_status(run_id)
            except ForgeError as err:  # the hub writes it on its next tick
                log.warning("github.status_not_written", run_id=run_id, error=str(err)[:300])

        self.runs.submit(spec, before_start=acknowledge)
        log.info("github.run_started", run_id=spec.run_id, repo=full, issue=number, actor=login)
        return spec.run_id

    def _refused(self, login: str, reason: str, delivery: str) -> None:
        self.runs.store.audit.refused(AuditKind.trigger, actor(login), reason, delivery_id=delivery)

    def widening_refusal(self, full: str, login: str, repos: list[str]) -> str | None:
        """Why `login` may not have a run on issue `full` touch `repos`: every repo beyond the
        issue's own (named in the request or brought by its playbook) needs their trigger
        permission on it, checked on GitHub; a repo not on GitHub cannot be checked, so it is refused."""
        config = self.runs.config
        here = config.repo_for_github(full)
        for name in repos:
            if here is not None and name == here.name:
                continue
            repo = config.repo(name)
            if repo.forge != "github" or not repo.github:
                return f"`{name}` is not a GitHub repo, so @{login}'s permission on it cannot be checked"
            refusal = self.access.may_trigger(repo.github, login, f"add `{name}` to a run")
            if refusal:
                return refusal
        return None

    def _repos(self, full: str, asked: str) -> tuple[list[str], str | None]:
        """The issue's own repo plus those the requester named (`repos: a, b` or `repo=a,b`)."""
        config = self.runs.config
        known = [r.name for r in config.repos]
        here = config.repo_for_github(full)
        named = repos_named(asked) + parse_request(asked).repos if asked else []
        unknown = [r for r in named if r not in known]
        if unknown:
            listed = ", ".join(known) or "none yet"
            return (
                [],
                f"I can't start this run: {', '.join(unknown)} is not a repo in baton.yml (configured: {listed})."
                + did_you_mean(unknown, known),
            )
        if asks_discovery(asked, config):  # the search finds the repos: the issue's own is not assumed
            return list(dict.fromkeys(named)), None
        repos = list(dict.fromkeys(([here.name] if here else []) + named))
        if not repos:
            listed = ", ".join(known) or "none yet (ask the operator to run `baton doctor`)"
            return (
                [],
                f"{full} is not configured in baton.yml; name the repos to work on with `repos: a, b` "
                f"(configured: {listed}).",
            )
        return repos, None

    # -- commands and follow-ups ---------------------------------------------------------------------------
    def command(
        self, name: str, args: str, run_id: str, login: str, where: Where, written_at: datetime | None = None
    ) -> None:
        """Do `/baton <name>` for `login`; `written_at` (the comment's creation) binds an approval
        to the heads as they were then."""
        full, number, key = where
        who = actor(login)
        runs = self.runs
        if name in ("approve", "reject"):
            decision = Decision.approve if name == "approve" else Decision.reject
            result = runs.decide(run_id, who, decision, args, not_before=written_at)
            text = result.message if result.accepted else f"Not recorded: {result.message}."
        elif name in ("cancel", "retry", "revert", "skip", "close"):
            run = runs.store.get_run(run_id)
            is_requester = run is not None and run.spec.trigger.actor.key == who.key
            refusal = None if is_requester else self.access.may_trigger(full, login, f"{name} this run")
            if refusal:
                kinds = {"cancel": AuditKind.cancellation, "retry": AuditKind.retry, "revert": AuditKind.revert}
                kind = kinds.get(name, AuditKind.cancellation)
                runs.store.audit.refused(kind, who, refusal, run_id=run_id)
                text = f"Not done: {refusal}."
            else:
                result = {
                    "cancel": lambda: runs.cancel(run_id, who),
                    "retry": lambda: runs.retry(run_id, who),
                    "revert": lambda: runs.revert(run_id, who),
                    "skip": lambda: runs.skip(run_id, who, args.split()[0] if args.split() else ""),
                    "close": lambda: runs.close(run_id, who),
                }[name]()
                if name == "revert" and result.accepted:  # the issue now talks about the revert run
                    self._link_issue(full, number, revert_run_id(run_id))
                text = result.message if result.accepted else f"Not done: {result.message}."
        elif name == "drop":
            repo = dropped_repo(f"drop {args}")
            text = runs.drop_repo(run_id, who, repo).message if repo else "Say which repo: `/baton drop <repo>`."
        else:
            text = self.status_text(run_id)
        self.reply(full, number, text, key)

    def follow_up(self, run_id: str, login: str, text: str, full: str, number: int, key: str) -> None:
        refusal = self.access.may_trigger(full, login, "ask for more work on this run")
        if refusal:
            self.runs.store.audit.refused(AuditKind.follow_up, actor(login), refusal, run_id=run_id)
            self.reply(full, number, f"Sorry, not done: {refusal}.", key)
            return
        result = self.runs.follow_up(run_id, actor(login), text)
        self.reply(full, number, result.message if result.accepted else f"Not done: {result.message}.", key)

    def status_text(self, run_id: str) -> str:
        view = self.runs.store.view(run_id)
        if view is None:
            return f"I know no run `{run_id}`."
        names = self.surface.full_names()
        prs = "; ".join(f"{pr_ref(c, names)} ({c.state.value}, checks {c.checks.value})" for c in view.changes)
        valid = [a.actor.id for a in view.approvals if a.valid and a.decision is Decision.approve]
        lines = [f"Run `{run_id}` is **{state_label(view.run.state)}**."]
        lines.append(f"Pull requests: {prs}." if prs else "No pull requests yet.")
        lines.append(f"Approved by: {', '.join(valid)}." if valid else "No approval counts yet.")
        if view.run.error:
            lines.append(f"Error: {view.run.error}")
        return "\n".join(lines)


def trigger_run_id(key: str) -> str:
    """The run a trigger (a comment, a label event) starts, so a copy finds it before doing anything."""
    trigger = Trigger(
        source=Source.github,
        actor=actor("-"),
        request="-",
        reply_to=ReplyTo(source=Source.github),
        delivery_id=key,
    )
    return run_id_for(trigger)
