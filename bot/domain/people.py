"""Who is who across surfaces: `people:` in baton.yml ties a Slack user, a GitHub login and a Linear
user to one person, so the approval rules (self-approval, `min_approvals`, the last pusher) count
persons, not identities. An identity nobody mapped stands for a person of its own (`source:id`).

GitHub logins compare case-insensitively, as GitHub does; Slack and Linear ids exactly.
"""

from __future__ import annotations

from bot.domain.models import Actor, Person, Source


def _ident(source: Source, ident: str) -> tuple[Source, str]:
    return source, ident.lower() if source is Source.github else ident


class People:
    def __init__(self, people: list[Person]) -> None:
        self.people = list(people)
        self._by_identity = {_ident(a.source, a.id): p for p in self.people for a in p.identities()}

    def person(self, actor: Actor) -> Person | None:
        """The person `actor` is, when `people:` maps them."""
        return self._by_identity.get(_ident(actor.source, actor.id))

    def key(self, actor: Actor) -> str:
        """One key per human: `person:<name>` when mapped, else the actor's own `source:id`."""
        person = self.person(actor)
        return f"person:{person.name}" if person else actor.key

    def same(self, one: Actor, other: Actor) -> bool:
        return self.key(one) == self.key(other)

    def keys(self, actor: Actor) -> list[str]:
        """Every name an approver pattern may use for `actor`: their own `source:id`, and for a
        mapped person each of their identities and `person:<name>`."""
        person = self.person(actor)
        if person is None:
            return [actor.key]
        return list(dict.fromkeys([actor.key, *(a.key for a in person.identities()), f"person:{person.name}"]))

    def github_login(self, actor: Actor) -> str | None:
        """The GitHub login `actor` acts as: their own on GitHub, else their person's (or None)."""
        if actor.source is Source.github:
            return actor.id
        person = self.person(actor)
        return person.github if person else None

    def name(self, actor: Actor) -> str:
        """How to name `actor` to people: the person's name when mapped, else as their surface shows them."""
        person = self.person(actor)
        return person.name if person else (actor.display or actor.key)
