"""The ingress benchmark's load generator sends what Baton accepts: each source's signature passes
the check Baton's endpoint applies (Slack v0 through slack_sdk's verifier within the 5-minute
window, `X-Hub-Signature-256` and `Linear-Signature` through handlers.http, Linear's fresh
`webhookTimestamp`), and its HTTP client reads every answer of an open-loop phase."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from slack_sdk.signature import SignatureVerifier

from bench._baselines import floor_app
from bench._loadgen import LINEAR_STAMP, Delivery, raw_request, run_phase, signed
from handlers.http import verify_hmac_sha256
from handlers.linear.app import MAX_SKEW_MS
from tests.fakes.served_app import serve

SECRETS = {"slack": "slack-signing-secret", "github": "github-webhook-secret", "linear": "linear-webhook-secret"}


def test_a_slack_delivery_is_signed_as_slack_signs_it() -> None:
    body = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}}).encode()

    sent, headers = signed(Delivery("slack", "Ev1", body), SECRETS)

    verifier = SignatureVerifier(SECRETS["slack"])
    stamp = headers["X-Slack-Request-Timestamp"]
    assert sent == body
    assert abs(time.time() - int(stamp)) < 300
    assert verifier.is_valid(body=sent, timestamp=stamp, signature=headers["X-Slack-Signature"])


def test_a_repeated_slack_delivery_says_it_is_a_retry() -> None:
    _, headers = signed(Delivery("slack", "Ev1", b"{}", duplicate=True), SECRETS)

    assert headers["X-Slack-Retry-Num"] == "1"


def test_a_github_delivery_carries_its_event_id_and_a_valid_hub_signature() -> None:
    body = b'{"action": "created"}'

    sent, headers = signed(Delivery("github", "d-1", body, "issue_comment"), SECRETS)

    assert (headers["X-GitHub-Event"], headers["X-GitHub-Delivery"]) == ("issue_comment", "d-1")
    assert headers["X-Hub-Signature-256"].startswith("sha256=")
    assert verify_hmac_sha256(SECRETS["github"], sent, headers["X-Hub-Signature-256"].removeprefix("sha256="))


def test_a_linear_delivery_is_stamped_now_and_signed_after_stamping() -> None:
    body = b'{"type": "Issue", "webhookTimestamp": ' + LINEAR_STAMP + b"}"

    sent, headers = signed(Delivery("linear", "l-1", body, "Issue"), SECRETS)

    stamp = json.loads(sent)["webhookTimestamp"]
    assert abs(time.time() * 1000 - stamp) < MAX_SKEW_MS
    assert headers["Linear-Delivery"] == "l-1"
    assert verify_hmac_sha256(SECRETS["linear"], sent, headers["Linear-Signature"])


def test_an_open_loop_phase_gets_one_answer_per_request_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRETS["slack"])
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", SECRETS["github"])
    monkeypatch.setenv("LINEAR_WEBHOOK_SECRET", SECRETS["linear"])
    github = [Delivery("github", f"d-{i}", json.dumps({"n": i}).encode(), "ping") for i in range(20)]
    forged = Delivery("linear", "l-x", b'{"type": "Issue"}', "Issue")

    with serve(floor_app()) as url:
        good = [raw_request(f"{url}/github/webhook", *signed(d, SECRETS)) for d in github]
        body, headers = signed(forged, SECRETS | {"linear": "not-the-secret"})
        bad = raw_request(f"{url}/linear/webhook", body, headers)
        outcomes = asyncio.run(run_phase(url, [*good, bad], rate=200))

    assert [o.status for o in outcomes] == [200] * 20 + [401]
    assert [o.due_s for o in outcomes] == sorted(o.due_s for o in outcomes)
