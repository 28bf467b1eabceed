"""A span per GitHub REST request: PyGithub's connection for one client, wrapped by `traced`.

PyGithub sends every request through its Requester's connection object (`getresponse` holds the
verb, path and status). `Requester.injectConnectionClasses` would swap that class for every
client in the process, so `traced` sets it on one client's Requester instead (PyGithub is pinned:
the test of the spans notices if that attribute moves).
"""

from __future__ import annotations

from typing import Any

import structlog
from github import Github

from bot.observability.tracing import Tracer

log = structlog.get_logger(__name__)

_CONNECTION_CLASS = "_Requester__connectionClass"


def traced(client: Github, tracer: Tracer) -> Github:
    """`client`, its requests traced as `github <METHOD>` spans when `tracer` is enabled."""
    if not tracer.enabled:
        return client
    requester = client.requester
    base = getattr(requester, _CONNECTION_CLASS, None)
    if base is None:
        log.warning("github.tracing_unavailable", reason="PyGithub's Requester has no connection class")
        return client

    def getresponse(self: Any) -> Any:
        scheme = "https" if getattr(self, "protocol", "https") == "https" else "http"
        with tracer.outbound("github", self.verb, f"{scheme}://{self.host}{self.url}") as call:
            response = base.getresponse(self)
            call.status(response.status)
            return response

    setattr(requester, _CONNECTION_CLASS, type(f"Traced{base.__name__}", (base,), {"getresponse": getresponse}))
    return client
