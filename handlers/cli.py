"""The terminal as a trigger source: `baton run` builds the same Trigger a chat message would."""

from __future__ import annotations

import getpass
import uuid

from bot.domain.models import Actor, ReplyTo, Source, Trigger


def operator() -> Actor:
    """Whoever runs the command on this machine."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "operator"
    return Actor(source=Source.cli, id=name, display=name)


def cli_trigger(request: str, delivery_id: str | None = None) -> Trigger:
    return Trigger(
        source=Source.cli,
        actor=operator(),
        request=request,
        reply_to=ReplyTo(source=Source.cli),
        delivery_id=delivery_id or uuid.uuid4().hex,
    )
