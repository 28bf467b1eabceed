"""`GET /metrics` counts what happened: signed webhooks by source and outcome with their ack latency,
a real GitHub run's state, steps, tokens, cost, approval and merge, and the errors each outbound API
client saw. Scraped over HTTP from the served app and read with Prometheus's own parser."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.domain.models import ChecksState, RunState
from bot.observability.metrics import Metrics
from bot.services.linear.client import LinearClient, LinearError
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries, until, wait_for
from tests.fakes.github_stack import SECRET, Stack, github_stack
from tests.fakes.slack_harness import slack_world

ISSUE = "acme/api"
USAGE = {"tokens_in": 1200, "tokens_out": 300, "cost_usd": 0.25}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _scrape(url: str) -> Samples:
    answer = httpx.get(f"{url}/metrics", timeout=15)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return _parse(answer.text)


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    extra = {
        "agents": [agent("coder", "--append", "README.md", "use /v2/items", "--usage", json.dumps(USAGE))],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
    }
    with github_stack(tmp_path, ["api"], extra) as stack:
        stack.fake.grant(ISSUE, "alice", "write")
        stack.fake.grant(ISSUE, "maya", "maintain")
        yield stack


def _ask(stack: Stack, delivery: str | None = None) -> tuple[int, httpx.Response, dict[str, Any]]:
    issue = stack.fake.open_issue(ISSUE, "Rename /items", "The /items endpoint should be /v2/items.", "carol")
    comment = stack.fake.add_comment(ISSUE, issue, "@baton rename /items to /v2/items\nrepos: api", "alice")
    body = stack.hooks.issue_comment(ISSUE, issue, comment.id)
    return issue, stack.hooks.send("issue_comment", body, delivery=delivery), body


def test_webhooks_are_counted_by_source_and_outcome_with_their_ack_latency(stack: Stack) -> None:
    _, first, body = _ask(stack, delivery="d-1")
    again = stack.hooks.send("issue_comment", body, delivery="d-1")
    forged = stack.hooks.send("issue_comment", body, secret="not-the-secret")
    headless = httpx.post(
        f"{stack.url}/github/webhook",
        content=b"{}",
        headers={"X-Hub-Signature-256": "sha256=" + _hmac(SECRET, b"{}"), "X-GitHub-Delivery": "d-2"},
    )
    linear_off = httpx.post(f"{stack.url}/linear/webhook", content=b"{}")
    assert [r.status_code for r in (first, again, forged, headless, linear_off)] == [200, 200, 401, 400, 404]

    samples = _scrape(stack.url)

    outcomes = ("accepted", "duplicate", "refused", "bad_request", "error")
    github = [_value(samples, "baton_webhooks_total", source="github", outcome=o) for o in outcomes]
    linear = [_value(samples, "baton_webhooks_total", source="linear", outcome=o) for o in outcomes]
    # Answered once stored, before it is handled: a repeated delivery is found a duplicate after.
    assert again.json()["action"] == "duplicate"
    assert github == [2, 0, 1, 1, 0]
    assert linear == [0, 0, 0, 1, 0]
    assert _value(samples, "baton_webhook_ack_seconds_count", source="github") == 4
    assert _value(samples, "baton_webhook_ack_seconds_bucket", source="github", le="+Inf") == 4
    assert _value(samples, "baton_webhook_ack_seconds_count", source="slack") == 0


def _hmac(secret: str, body: bytes) -> str:
    import hashlib
    import hmac

    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_merged_run_shows_in_states_steps_tokens_cost_approvals_and_merges(stack: Stack) -> None:
    issue, answer, _ = _ask(stack)
    run_id = str(answer.json()["run_id"])
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    [change] = stack.runtime.store.changes(run_id)
    stack.fake.add_check_run(ISSUE, change.head_sha, "test", "success")
    stack.hooks.send("check_suite", stack.hooks.check_suite_completed(ISSUE, change.number))
    until("the checks passed", lambda: stack.runtime.store.changes(run_id)[0].checks is ChecksState.passed)
    approval = stack.fake.add_comment(ISSUE, issue, "/baton approve", "maya")
    stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, issue, approval.id))
    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)

    samples = _scrape(stack.url)

    assert _value(samples, "baton_runs", state="merged") == 1
    assert sum(v for (name, _), v in samples.items() if name == "baton_runs") == 1
    assert _value(samples, "baton_step_duration_seconds_count", agent="coder") == 1
    assert _value(samples, "baton_step_duration_seconds_bucket", agent="coder", le="+Inf") == 1
    assert _value(samples, "baton_agent_tokens_total", agent="coder", direction="in") == 1200
    assert _value(samples, "baton_agent_tokens_total", agent="coder", direction="out") == 300
    assert _value(samples, "baton_agent_cost_usd_total", agent="coder") == pytest.approx(0.25)
    assert _value(samples, "baton_approvals_total", decision="approve") == 1
    assert _value(samples, "baton_merges_total", outcome="merged") == 1
    assert _value(samples, "baton_merges_total", outcome="failed") == 0
    assert _value(samples, "baton_outbound_api_errors_total", service="github") == 0


def test_github_errors_are_counted_per_failed_attempt(stack: Stack) -> None:
    stack.fake.fail("POST", r"/issues/\d+/comments$", 502, times=2)
    _, answer, _ = _ask(stack)
    run_id = str(answer.json()["run_id"])
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)

    samples = _scrape(stack.url)

    assert _value(samples, "baton_outbound_api_errors_total", service="github") == 2
    assert _value(samples, "baton_outbound_api_errors_total", service="slack") == 0


def test_slack_errors_are_counted_once_per_failed_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["api"])
    config = {
        "repos": repo_entries(remotes),
        "agents": [agent("coder", "--append", "README.md", "v2")],
        "slack": {"channel_repos": {"C111": ["api"]}},
    }
    with slack_world(monkeypatch, start_runtime, config) as world:
        world.slack.add_user("U0ALICE", "alice")
        world.slack.rate_limit("chat.postMessage", times=4, retry_after=0)  # one call: 1 try + 3 retries
        _, answer = world.mention("U0ALICE", "<@U0BATON> rename the endpoint")
        assert answer.status_code == 200
        until(
            "the card is posted after the refusal", lambda: any(c.ok for c in world.slack.calls_to("chat.postMessage"))
        )

        samples = _scrape(world.url)

    assert _value(samples, "baton_outbound_api_errors_total", service="slack") == 1
    assert _value(samples, "baton_webhooks_total", source="slack", outcome="accepted") == 1


def test_linear_errors_are_counted_when_linear_cannot_be_reached() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    metrics = Metrics()
    client = LinearClient(
        f"http://127.0.0.1:{port}/graphql", "lin_api_x", on_error=metrics.error_counter("linear"), timeout_s=2
    )

    with pytest.raises(LinearError):
        client.execute("query { viewer { id } }")

    samples = _parse(metrics.exposition().decode())
    assert _value(samples, "baton_outbound_api_errors_total", service="linear") == 1
