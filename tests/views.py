"""What the card and surface unit tests build their world from: a `RunView` made of the parts a
test names (the rest a plain run on `api` and `web`), a migrated store on a fresh SQLite file, and a
clock the test moves by hand (surfaces take `clock=`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bot.domain.models import Actor, Budget, ChangeSet, ReplyTo, RunSpec, RunState, Trigger, Usage, utcnow
from bot.domain.records import Approval, Run, RunView, Step
from bot.store.store import Store, make_engine, migrate


def run_view(
    state: RunState,
    *,
    actor: Actor,
    reply_to: ReplyTo | None = None,
    request: str = "rename the flag",
    run_id: str = "r1",
    delivery_id: str = "d1",
    received_at: datetime | None = None,
    agent: str | None = None,
    budget: Budget | None = None,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
    usage: Usage | None = None,
    error: str | None = None,
    steps: list[Step] | None = None,
    changes: list[ChangeSet] | None = None,
    approvals: list[Approval] | None = None,
) -> RunView:
    """A run `actor` asked for from their own source (replies there unless `reply_to` says where),
    as a surface reads it; `updated_at` defaults to `created_at`, which defaults to now."""
    received = {"received_at": received_at} if received_at is not None else {}
    trigger = Trigger(
        source=actor.source,
        actor=actor,
        request=request,
        reply_to=reply_to or ReplyTo(source=actor.source),
        delivery_id=delivery_id,
        **received,
    )
    spec = RunSpec(
        run_id=run_id,
        trigger=trigger,
        repos=["api", "web"],
        playbook="default",
        agent=agent,
        budget=budget or Budget(),
    )
    created = created_at or utcnow()
    run = Run(
        run_id=run_id,
        state=state,
        spec=spec,
        created_at=created,
        updated_at=updated_at or created,
        usage=usage or Usage(),
        error=error,
    )
    return RunView(run=run, steps=steps or [], changes=changes or [], approvals=approvals or [])


def migrated_store(directory: Path) -> Store:
    """A store on `directory/baton.db`, migrated to the newest schema."""
    engine = make_engine(f"sqlite:///{directory / 'baton.db'}")
    migrate(engine)
    return Store(engine)


class Clock:
    """Monotonic seconds that move only when a test sets `now`."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
