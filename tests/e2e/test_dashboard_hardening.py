"""The dashboard answers only under Baton's own names (a page that rebinds its domain to 127.0.0.1
reaches nothing), and a token-like setting Baton did not define itself — the trace collector's
`OTEL_EXPORTER_OTLP_HEADERS` — never reaches a repo's checks and is redacted wherever it surfaces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.domain.models import RunState
from bot.web import create_web_app
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, submit, wait_for
from tests.fakes.served_app import serve

OTLP_TOKEN = "otlp-sEcReT-0123456789"
OTLP_HEADERS = f"authorization=Bearer%20{OTLP_TOKEN},x-scope-orgid=tenant-0042"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    settings = Settings(
        home=tmp_path / ".baton", config=tmp_path / "absent.yml", public_url="https://baton.example.com"
    )
    runtime = Runtime(settings, parse_baton_file({}))
    try:
        with serve(create_web_app(runtime)) as url:
            yield url
    finally:
        runtime.shutdown()


def _status(url: str, host: str) -> int:
    return httpx.get(f"{url}/", headers={"Host": host}, timeout=10).status_code


def test_a_page_under_another_name_is_refused_even_from_loopback(served: str) -> None:
    port = served.rsplit(":", 1)[1]
    assert [_status(served, f"rebind.attacker.example:{port}"), _status(served, "rebind.attacker.example")] == [
        403,
        403,
    ]


def test_the_public_name_and_the_loopback_names_with_the_port_are_answered(served: str) -> None:
    port = served.rsplit(":", 1)[1]
    hosts = ["baton.example.com", f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"]
    assert [_status(served, host) for host in hosts] == [200, 200, 200, 200]
    assert _status(served, "localhost:1") == 403  # a loopback name on another port is another site


async def test_otlp_headers_never_reach_checks_and_are_redacted_on_the_runs_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", OTLP_HEADERS)
    remotes = make_repos(tmp_path, ["api"])
    # Confined checks see no file of the host's /tmp and write nowhere outside their tree: what they
    # saw is their output, kept on the PR. The echo stands for a proxy's error quoting the header.
    checks = f"echo 'proxy refused: Authorization: Bearer {OTLP_TOKEN}'; env; exit 1"
    # The agent's summary echoes the header, as an error from a proxy in its path might.
    summary = f"proxy refused: Authorization: Bearer {OTLP_TOKEN}"
    runtime = start_runtime(
        {
            "repos": [{"name": "api", "url": str(remotes["api"]), "checks": checks}],
            "agents": [agent("coder", "--append", "README.md", "v2", "--summary", summary)],
            "playbooks": {"default": {"per_repo": {"agent": "coder"}}},  # red checks wait for a person
        }
    )
    run_id = submit(runtime, "rename the endpoint", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    [change] = runtime.store.changes(run_id)

    transport = httpx.ASGITransport(app=create_web_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        page = await client.get(f"/runs/{run_id}")

    assert "proxy refused" in change.checks_output and "PATH=" in change.checks_output  # the checks ran
    assert "OTEL_EXPORTER_OTLP_HEADERS" not in change.checks_output
    assert page.status_code == 200 and "proxy refused" in page.text
    assert OTLP_TOKEN not in page.text and "[REDACTED]" in page.text
    assert not any(OTLP_TOKEN in str(c.checks_output) for c in runtime.store.changes(run_id))
