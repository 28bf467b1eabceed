"""Who may do what from Slack: start runs (`slack.allowed_users` / `allowed_usergroups`), approve
(the approval service's rules — the policy, persons, the GitHub permission behind a Slack user —
narrowed by `slack.approver_usergroups`), and stop or retry a run (its requester or anyone who may
approve it). User groups are expanded with `usergroups.users.list`, cached a while.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.config.models import ApprovalPolicy
from bot.config.slack import SlackConfig
from bot.domain.models import Actor, Source
from bot.domain.records import Run
from bot.engine.approvals import may_approve

log = structlog.get_logger(__name__)

Decider = Callable[[Actor, Run], str | None]
"""(someone, a run) → why they may not approve or reject it, or None (`ApprovalService.refusal`)."""


class SlackAccess:
    def __init__(
        self,
        client: WebClient,
        config: SlackConfig,
        policy: ApprovalPolicy,
        clock: Callable[[], float] = time.monotonic,
        decider: Decider | None = None,
    ) -> None:
        """`decider`: the engine's full check (the approval service's); without one, the
        policy alone (tests of the Slack rules)."""
        self.client = client
        self.config = config
        self.policy = policy
        self.clock = clock
        self.decider = decider
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- user groups and names ---------------------------------------------------------------------
    def members(self, group: str) -> frozenset[str]:
        """The user ids of a user group (empty if Slack cannot say: nobody is let in by mistake)."""
        with self._lock:
            cached = self._groups.get(group)
        if cached and self.clock() - cached[0] < self.config.usergroup_cache_s:
            return cached[1]
        try:
            users = frozenset(self.client.usergroups_users_list(usergroup=group)["users"])
        except (SlackApiError, SlackClientError) as err:
            log.warning("slack_usergroup_unreadable", usergroup=group, error=type(err).__name__)
            return frozenset()
        with self._lock:
            self._groups[group] = (self.clock(), users)
        return users

    def in_any(self, user: str, groups: list[str]) -> bool:
        return any(user in self.members(g) for g in groups)

    def actor(self, user: str) -> Actor:
        """A Slack user as an Actor, named as Slack shows them (`users.info`, remembered)."""
        with self._lock:
            name = self._names.get(user)
        if name is None:
            try:
                info = self.client.users_info(user=user)["user"]
                profile = info.get("profile") or {}
                name = str(profile.get("display_name") or info.get("real_name") or info.get("name") or user)
            except (SlackApiError, SlackClientError) as err:
                log.info("slack_user_unnamed", user=user, error=type(err).__name__)
                name = user
            with self._lock:
                self._names[user] = name
        return Actor(source=Source.slack, id=user, display=name)

    # -- decisions -----------------------------------------------------------------------------------
    def may_trigger(self, user: str) -> str | None:
        """Why `user` may not start runs from Slack, or None."""
        users, groups = self.config.allowed_users, self.config.allowed_usergroups
        if not users and not groups:
            return None
        if user in users or self.in_any(user, groups):
            return None
        who = [f"<@{u}>" for u in users] + [f"<!subteam^{g}>" for g in groups]
        return f"only {', '.join(who)} may start Baton runs"

    def authorize(self, actor: Actor, _run: Run) -> str | None:
        """The Slack check on top of the approval rules (`ApprovalService.authorizers["slack"]`)."""
        groups = self.config.approver_usergroups
        if groups and not self.in_any(actor.id, groups):
            return f"only members of {', '.join(f'<!subteam^{g}>' for g in groups)} may approve from Slack"
        return None

    def may_decide(self, actor: Actor, run: Run) -> str | None:
        """Why `actor` may not approve or reject `run`, or None (the same rules the engine applies)."""
        if self.decider is not None:
            return self.decider(actor, run)
        return may_approve(self.policy, actor, run.spec.trigger.actor) or self.authorize(actor, run)

    def may_stop(self, actor: Actor, run: Run) -> str | None:
        """Cancel and retry: the requester, or anyone who may approve (self-approval aside)."""
        if actor.key == run.spec.trigger.actor.key:
            return None
        refusal = self.may_decide(actor, run)
        return f"only the requester or an approver may do that ({refusal})" if refusal else None
