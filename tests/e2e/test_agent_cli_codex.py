"""The real Codex CLI (pinned, from the tools cache) in full Baton runs against a scripted model
server: it patches the code and runs the tests, Baton commits, checks, opens the PR and records
tokens and cost; when its endpoint answers 500, its step fails and the fallback agent finishes."""

from __future__ import annotations

from bot.domain.models import ChecksState
from tests.e2e.agent_cli_support import RealTier, agent_clis, codex_turns, model_servers, opencode_turns, real

__all__ = ["agent_clis", "model_servers", "real"]  # fixtures used by the tests below


def test_codex_fixes_the_code_runs_the_tests_and_baton_opens_the_pr(real: RealTier) -> None:
    server = real.serve(codex_turns())
    run = real.fix_calc([real.agent("codex", server)])

    step = run.assert_sole_step_succeeded("codex", tokens=(200, 40))
    assert step.usage.cost_usd == round((200 * 1.25 + 40 * 10.0) / 1_000_000, 6)
    assert run.assert_pr_fixes_calc().checks is ChecksState.passed
    # Codex really ran the tests: their output went back to the model as the tool's result.
    assert any("1 passed" in r for r in server.tool_results())
    assert [r.path for r in server.requests] == ["/v1/responses", "/v1/responses"]
    # Live progress reached the run's events while codex worked (coalesced: the first is its patch).
    progress = run.events("agent_progress")
    assert (progress[0].data["kind"], progress[0].data["tool"]) == ("tool", "apply_patch")
    run.approve_and_assert_merged()


def test_a_codex_endpoint_answering_500_fails_the_step_and_opencode_finishes(real: RealTier) -> None:
    dead, alive = real.dead_endpoint(), real.serve(opencode_turns())
    run = real.fix_calc([real.agent("codex", dead, max_retries=0, timeout_s=60), real.agent("opencode", alive)])

    assert [(s.agent, s.state.value) for s in run.agent_steps()] == [("codex", "failed"), ("opencode", "succeeded")]
    # It failed on its own, from the API error, not the timeout (how fast is measured, not tested).
    detail = run.step_of("codex").detail
    assert "codex reported an error" in detail and "timed out" not in detail
    assert len(dead.posts("/responses")) == 1  # max_retries: 0 — no retry at all
    run.assert_pr_fixes_calc()
