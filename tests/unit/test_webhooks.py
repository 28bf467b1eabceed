"""The shared edge of every webhook: signatures, body limits and JSON errors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handlers.http import ByteBudget, WebhookError, error_response, parse_json, read_body, verify_hmac_sha256

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"


def test_signature_matches_githubs_published_test_vector() -> None:
    vector = json.loads((FIXTURES / "github" / "signature-test-vector.json").read_text())
    secret, payload = vector["secret"], vector["raw_body"].encode()
    signature = vector["x_hub_signature_256"].removeprefix("sha256=")
    assert verify_hmac_sha256(secret, payload, signature)


def test_a_signature_for_another_body_is_refused() -> None:
    good = "0" * 64
    assert not verify_hmac_sha256("secret", b"{}", good)


def test_a_signature_with_non_ascii_characters_is_refused_not_an_error() -> None:
    assert not verify_hmac_sha256("secret", b"{}", "é" * 64)


def test_malformed_json_is_a_400_with_a_reason() -> None:
    with pytest.raises(WebhookError) as caught:
        parse_json(b"{not json")
    assert (caught.value.status, caught.value.reason) == (400, "malformed JSON: JSONDecodeError")


def test_a_json_array_is_not_a_payload() -> None:
    with pytest.raises(WebhookError) as caught:
        parse_json(b"[1, 2]")
    assert caught.value.status == 400


def _app(limit: int, budget: ByteBudget | None = None) -> Starlette:
    async def endpoint(request: Request) -> Response:
        try:
            body = await (read_body(request, limit=limit, budget=budget) if budget else read_body(request, limit=limit))
        except WebhookError as err:
            return error_response(err)
        return JSONResponse({"size": len(body)})

    return Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])


async def test_a_body_within_the_limit_is_read_whole() -> None:
    transport = httpx.ASGITransport(app=_app(limit=10))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/hook", content=b"0123456789")
    assert response.json() == {"size": 10}


async def test_a_declared_oversized_body_is_413() -> None:
    transport = httpx.ASGITransport(app=_app(limit=10))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/hook", content=b"x" * 11)
    assert response.status_code == 413


async def test_an_undeclared_oversized_stream_is_413() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(5):
            yield b"xxxx"

    transport = httpx.ASGITransport(app=_app(limit=10))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/hook", content=chunks())
    assert response.status_code == 413


async def test_a_body_that_does_not_fit_the_unauthenticated_budget_waits_then_gets_503() -> None:
    budget = ByteBudget(10, wait_s=0.05)
    assert budget.try_take(8)  # another unsigned body holds most of it
    transport = httpx.ASGITransport(app=_app(limit=10, budget=budget))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        refused = await client.post("/hook", content=b"12345")
        budget.give(8)
        read = await client.post("/hook", content=b"12345")
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "5")
    assert read.json() == {"size": 5}
    assert budget.used == 0


async def test_an_undeclared_stream_takes_budget_as_it_arrives_and_gives_it_back() -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(3):
            yield b"xxx"

    budget = ByteBudget(8, wait_s=0.05)
    transport = httpx.ASGITransport(app=_app(limit=10, budget=budget))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/hook", content=chunks())
    assert response.status_code == 503 and budget.used == 0
