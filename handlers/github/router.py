"""A router from GitHub events to the handler registered for each, as python/bedevere and
miss-islington route them: `@router.register("pull_request", action="closed")` on the handler itself.

An event whose action has no handler is answered with the event's own "ignored" reason (registered
with `ignores`), never an error: GitHub sends many actions Baton does not use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel

Handler = TypeVar("Handler", bound=Callable[..., Any])


class Router:
    def __init__(self) -> None:
        self._routes: dict[tuple[str, str | None], Callable[..., Any]] = {}
        self._ignored: dict[str, str] = {}
        self._models: dict[tuple[str, str | None], type[BaseModel]] = {}

    def register(
        self, event: str, action: str | None = None, model: type[BaseModel] | None = None
    ) -> Callable[[Handler], Handler]:
        """Route `event` (with this `action`; None: any action, or an event without actions);
        `model`: the shape its payload must have to be accepted at all (checked before the answer)."""

        def add(handler: Handler) -> Handler:
            if (event, action) in self._routes:
                raise ValueError(f"two handlers for {event}.{action}")
            self._routes[(event, action)] = handler
            if model is not None:
                self._models[(event, action)] = model
            return handler

        return add

    def ignores(self, event: str, reason: str) -> None:
        """What to answer for an action of `event` no handler is registered for."""
        self._ignored[event] = reason

    def find(self, event: str, action: str | None) -> Callable[..., Any] | None:
        return self._routes.get((event, action)) or self._routes.get((event, None))

    def model(self, event: str, action: str | None) -> type[BaseModel] | None:
        return self._models.get((event, action)) or self._models.get((event, None))

    def knows(self, event: str) -> bool:
        return any(e == event for e, _ in self._routes)

    def ignored(self, event: str) -> str:
        return self._ignored.get(event, "ignored")

    def takes_actions(self, event: str) -> bool:
        """Whether `event` is routed by its action (its payload must then carry one)."""
        return any(e == event and a is not None for e, a in self._routes)
