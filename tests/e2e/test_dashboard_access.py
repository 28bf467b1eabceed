"""Who may read the dashboard: with no token configured only loopback clients (others get 403);
with `BATON_DASHBOARD_TOKEN` every client brings it, as a Bearer header or once in the address
(which sets a cookie and drops the token from the address). Health and webhooks stay open."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.surfaces.dashboard.routes import COOKIE
from bot.web import create_web_app

TOKEN = "dash-4c1e7b9a0f22"
REMOTE = ("203.0.113.7", 40000)
LOCAL = ("127.0.0.1", 40000)

Reader = Callable[[str | None], Runtime]


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[Reader]:
    made: list[Runtime] = []

    def make(token: str | None) -> Runtime:
        secret = SecretStr(token) if token else None
        settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml", dashboard_token=secret)
        made.append(Runtime(settings, parse_baton_file({})))
        return made[-1]

    yield make
    for runtime in made:
        runtime.shutdown()


def _client(runtime: Runtime, client: tuple[str, int]) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_web_app(runtime), client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


async def test_without_a_token_a_remote_client_is_refused(reader: Reader) -> None:
    async with _client(reader(None), REMOTE) as client:
        answers = [(await client.get(path)).status_code for path in ("/", "/runs/r1")]
    assert answers == [403, 403]


async def test_without_a_token_a_loopback_client_is_answered(reader: Reader) -> None:
    async with _client(reader(None), LOCAL) as client:
        page = await client.get("/")
    assert page.status_code == 200
    assert "No runs yet." in page.text


async def test_with_a_token_a_request_without_it_is_refused_even_from_loopback(reader: Reader) -> None:
    async with _client(reader(TOKEN), LOCAL) as client:
        answers = [(await client.get(path)).status_code for path in ("/", "/runs/r1")]
    assert answers == [401, 401]


async def test_with_a_token_a_wrong_bearer_is_refused(reader: Reader) -> None:
    async with _client(reader(TOKEN), REMOTE) as client:
        page = await client.get("/", headers={"Authorization": "Bearer not-the-token"})
    assert page.status_code == 401


async def test_with_a_token_the_bearer_header_opens_the_dashboard(reader: Reader) -> None:
    async with _client(reader(TOKEN), REMOTE) as client:
        page = await client.get("/", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200


async def test_the_token_in_the_address_sets_a_cookie_and_redirects_without_it(reader: Reader) -> None:
    async with _client(reader(TOKEN), REMOTE) as client:
        visit = await client.get(f"/?state=merged&token={TOKEN}")
        follow = await client.get(visit.headers["location"])
    assert (visit.status_code, visit.headers["location"]) == (303, "/?state=merged")
    cookie = visit.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie
    assert TOKEN not in cookie
    assert follow.status_code == 200


async def test_a_wrong_token_in_the_address_sets_no_cookie(reader: Reader) -> None:
    async with _client(reader(TOKEN), REMOTE) as client:
        visit = await client.get("/?token=guess")
    assert visit.status_code == 401
    assert "set-cookie" not in visit.headers


async def test_health_and_webhook_endpoints_stay_open_to_remote_clients(reader: Reader) -> None:
    async with _client(reader(TOKEN), REMOTE) as client:
        health = await client.get("/healthz")
        webhook = await client.post("/github/webhook", content=b"{}")
    assert health.status_code == 200
    assert webhook.status_code == 404  # GitHub is not configured: the source's own answer, not the dashboard's
