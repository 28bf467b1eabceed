"""OpenTelemetry: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, a real GitHub run (issue comment → PR →
checks → `/baton approve` → merge) reaches a stand-in OTLP/HTTP collector as one trace: the run's
span, a span per step under it, the git push and the GitHub API calls — and no secret anywhere."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.models import RunState
from bot.observability.tracing import Tracer, run_span_id, run_trace_id
from tests.e2e.conftest import agent, wait_for
from tests.fakes.github_setup import TOKEN
from tests.fakes.github_stack import SECRET, Stack, approve_with_green_checks, github_stack
from tests.fakes.otlp_collector import OtlpCollector, Span

ISSUE = "acme/api"


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as started:
        yield started


@pytest.fixture
def stack(tmp_path: Path, collector: OtlpCollector, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "baton-test")
    extra = {
        "agents": [agent("coder", "--append", "README.md", "use /v2/items", "--usage", '{"tokens_in": 7}')],
        "playbooks": {"default": {"per_repo": {"agent": "coder"}}},
    }
    with github_stack(tmp_path, ["api"], extra) as stack:
        stack.fake.grant("acme/api", "alice", "write")
        stack.fake.grant("acme/api", "maya", "maintain")
        yield stack


def _merged_run(stack: Stack) -> str:
    issue = stack.fake.open_issue(ISSUE, "Rename /items", "Use /v2/items.", "carol")
    comment = stack.fake.add_comment(ISSUE, issue, "@baton rename /items to /v2/items\nrepos: api", "alice")
    answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment(ISSUE, issue, comment.id))
    run_id = str(answer.json()["run_id"])
    wait_for(stack.runtime, run_id, RunState.awaiting_approval, timeout=60)
    approve_with_green_checks(stack, ISSUE, issue, run_id)
    return run_id


def _in_trace(collector: OtlpCollector, run_id: str) -> list[Span]:
    return [s for s in collector.spans() if s.trace_id == f"{run_trace_id(run_id):032x}"]


def test_a_merged_run_is_one_trace_with_its_run_span_step_spans_and_github_calls(
    stack: Stack, collector: OtlpCollector
) -> None:
    run_id = _merged_run(stack)
    assert stack.runtime.tracer.flush()
    spans = _in_trace(collector, run_id)
    run_span_hex = f"{run_span_id(run_id, 1):016x}"

    [run] = [s for s in spans if s.name == "run"]
    assert (run.span_id, run.parent_span_id, run.service) == (run_span_hex, "", "baton-test")
    expected = {"baton.run_id": run_id, "baton.source": "github", "baton.repos": ["api"], "baton.state": "merged"}
    assert {k: run.attributes[k] for k in expected} == expected
    assert run.attributes["baton.tokens"] == 7

    [step] = [s for s in spans if s.name == "step coder"]
    assert step.parent_span_id == run_span_hex
    step_attributes = {k: step.attributes[k] for k in ("baton.agent", "baton.repo", "baton.state", "baton.tokens_in")}
    assert step_attributes == {
        "baton.agent": "coder",
        "baton.repo": "api",
        "baton.state": "succeeded",
        "baton.tokens_in": 7,
    }
    assert "baton.cost_usd" in step.attributes
    [push] = [s for s in spans if s.name == "git push"]
    assert (push.parent_span_id, push.attributes["baton.repo"]) == (run_span_hex, "api")

    outbound = [s for s in spans if "baton.service" in s.attributes]
    calls = [(s.name, s.attributes["url.path"], s.attributes.get("http.response.status_code")) for s in outbound]
    assert ("github POST", "/repos/acme/api/pulls", 201) in calls
    (change,) = stack.runtime.store.changes(run_id)
    assert ("github PUT", f"/repos/acme/api/pulls/{change.number}/merge", 200) in calls
    assert {s.attributes["baton.service"] for s in outbound} == {"github"}


def test_no_secret_value_reaches_any_span(stack: Stack, collector: OtlpCollector) -> None:
    _merged_run(stack)
    assert stack.runtime.tracer.flush()
    spans = collector.spans()
    assert len(spans) > 5
    shown = json.dumps([[s.name, s.attributes] for s in spans])
    for secret in (TOKEN, SECRET, "Authorization", "Bearer"):
        assert secret not in shown


def test_a_resumed_run_continues_its_trace_from_another_process(collector: OtlpCollector) -> None:
    """Two Tracers stand for the process that started the run and the one that resumed it."""
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
    first, second = Tracer.from_environ(environ), Tracer.from_environ(environ)
    for tracer, name in ((first, "step before the crash"), (second, "step after the resume")):
        with tracer.in_run("r-resumed", lambda: 1), tracer.span(name):
            pass
        tracer.shutdown()
    before, after = collector.spans()
    assert (before.trace_id, after.trace_id) == (f"{run_trace_id('r-resumed'):032x}",) * 2
    assert (before.parent_span_id, after.parent_span_id) == (f"{run_span_id('r-resumed', 1):016x}",) * 2


def test_without_an_endpoint_tracing_is_off_and_nothing_is_sent(collector: OtlpCollector) -> None:
    tracer = Tracer.from_environ({"OTEL_SERVICE_NAME": "baton"})
    with tracer.in_run("r-off", lambda: 1), tracer.span("step") as span, tracer.outbound("github", "GET", "/x"):
        assert span is None
    tracer.shutdown()
    assert (tracer.enabled, collector.requests) == (False, 0)
