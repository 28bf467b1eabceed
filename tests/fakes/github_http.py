"""Shared pieces of the fake GitHub's routes: the answer type and the helpers every route uses
(GitHub's error shape, Link-header pagination, user and repo bodies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakes.github_state import Repo

if TYPE_CHECKING:
    from tests.fakes.github_api import FakeGitHub


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class RouteHelpers:
    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        self.world = fake.world

    def _error(self, message: str) -> dict[str, Any]:
        return self.fake.bodies.error(message)

    def _not_found(self) -> Answer:
        return Answer(404, self._error("Not Found"))

    def _page(
        self, items: list[Any], query: dict[str, str], path: str, wrap: str | None = None, extra: Any = None
    ) -> Answer:
        per_page = min(int(query.get("per_page", 30)), 100)
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            rest = "&".join(f"{k}={v}" for k, v in query.items() if k not in ("page", "per_page"))
            nxt = f"{self.fake.url}{path}?{rest + '&' if rest else ''}per_page={per_page}&page={page + 1}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        if wrap:
            return Answer(200, {"total_count": len(items), wrap: chunk, **(extra or {})}, headers)
        return Answer(200, chunk, headers)

    # -- people ---------------------------------------------------------------------------------------
    def _user(self, login: str) -> dict[str, Any]:
        user_id, kind = self.world.user(login)
        return self.fake.bodies.user(login, user_id, kind)

    def _repo_body(self, repo: Repo) -> dict[str, Any]:
        owner = self._user(repo.full_name.split("/")[0])
        return self.fake.bodies.repo(repo.full_name, repo.id, owner, repo.default_branch)
