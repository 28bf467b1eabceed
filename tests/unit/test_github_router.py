"""The GitHub event router: each handler is registered for its event and action; an action with no
handler is answered with its event's reason; the events Baton handles are exactly those routed."""

from __future__ import annotations

import pytest

from handlers.github.events import ROUTER
from handlers.github.router import Router


def test_a_handler_is_found_by_its_event_and_action() -> None:
    router = Router()

    @router.register("pull_request", action="closed")
    def closed() -> str:
        return "closed"

    assert router.find("pull_request", "closed") is closed
    assert router.find("pull_request", "opened") is None


def test_a_handler_for_an_event_without_actions_takes_every_delivery_of_it() -> None:
    router = Router()

    @router.register("status")
    def status() -> str:
        return "status"

    assert router.find("status", None) is status and not router.takes_actions("status")


def test_an_unrouted_action_gets_its_events_reason() -> None:
    router = Router()
    router.register("issue_comment", action="created")(lambda: None)
    router.ignores("issue_comment", "ignored: only new comments count")
    assert router.ignored("issue_comment") == "ignored: only new comments count"
    assert router.ignored("issues") == "ignored"


def test_two_handlers_for_one_event_and_action_are_refused() -> None:
    router = Router()
    router.register("issues", action="labeled")(lambda: None)
    with pytest.raises(ValueError, match=r"two handlers for issues\.labeled"):
        router.register("issues", action="labeled")(lambda: None)


def test_baton_routes_the_events_its_app_subscribes_to() -> None:
    routed = {e for e in ("issue_comment", "issues", "pull_request", "pull_request_review") if ROUTER.knows(e)}
    checks = {e for e in ("check_suite", "check_run", "status") if ROUTER.knows(e)}
    assert routed == {"issue_comment", "issues", "pull_request", "pull_request_review"}
    assert checks == {"check_suite", "check_run", "status"}
    assert ROUTER.find("pull_request", "synchronize") is not None
    assert ROUTER.find("pull_request", "opened") is None
