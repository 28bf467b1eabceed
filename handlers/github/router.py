"""A router from GitHub events to the handler registered for each, as python/bedevere and
miss-islington route them: `@router.register("pull_request", action="closed")` on the handler itself.

An event whose action has no handler is answered with the event's own "ignored" reason (registered
with `ignores`), never an error: GitHub sends many actions Baton does not use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])


class Router:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, str | None], Callable[..., Any]] = {}
        self._ignored: dict[str, str] = {}

    def register(self, event: str, action: str | None = None) -> Callable[[Handler], Handler]:
        """Route `event` (with this `action`; None: any action, or an event without actions)."""

        def add(handler: Handler) -> Handler:
            if (event, action) in self._routes:
                raise ValueError(f"two handlers for {event}.{action}")
            self._routes[(event, action)] = handler
            return handler

        return add

    def ignores(self, event: str, reason: str) -> None:
        """What to answer for an action of `event` no handler is registered for."""
        self._ignored[event] = reason

    def find(self, event: str, action: str | None) -> Callable[..., Any] | None:
        return self._routes.get((event, action)) or self._routes.get((event, None))

    def knows(self, event: str) -> bool:
        return any(e == event for e, _ in self._routes)

    def ignored(self, event: str) -> str:
        return self._ignored.get(event, "ignored")

    def takes_actions(self, event: str) -> bool:
        """Whether `event` is routed by its action (its payload must then carry one)."""
        return any(e == event and a is not None for e, a in self._routes)
