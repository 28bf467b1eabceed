"""The real Aider CLI (pinned, in its own venv in the tools cache) in full Baton runs against a
scripted Chat Completions server: it rewrites the code and runs the tests (`--auto-test`), Baton
commits, checks, opens the PR and prices aider's token report; when its endpoint answers 500, the
adapter stops aider's minute of retries and the fallback agent finishes."""

from __future__ import annotations

from pathlib import Path

from bot.domain.models import ChecksState
from tests.e2e.agent_cli_support import RealTier, agent_clis, aider_turns, codex_turns, model_servers, real

__all__ = ["agent_clis", "model_servers", "real"]  # fixtures used by the tests below


def test_aider_fixes_the_code_runs_the_tests_and_baton_opens_the_pr(real: RealTier) -> None:
    server = real.serve(aider_turns())
    run = real.fix_calc([real.agent("aider", server)])

    step = run.assert_sole_step_succeeded("aider", tokens=(200, 40))
    assert step.usage.cost_usd == round((200 * 2.0 + 40 * 8.0) / 1_000_000, 6)
    assert run.assert_pr_fixes_calc().checks is ChecksState.passed
    # Two model calls (find the file, then edit it): the edit passed aider's own test run.
    assert len(server.posts("/chat/completions")) == 2
    transcript = next(Path(p) for p in (real.tmp_path / ".baton" / "homes").rglob("transcripts/*.log"))
    assert "1 passed" in transcript.read_text()  # aider ran the repo's tests
    run.approve_and_assert_merged()


def test_an_aider_endpoint_answering_500_fails_the_step_and_codex_finishes(real: RealTier) -> None:
    dead, alive = real.dead_endpoint(), real.serve(codex_turns())
    run = real.fix_calc([real.agent("aider", dead, max_retries=0, timeout_s=60), real.agent("codex", alive)])

    assert [(s.agent, s.state.value) for s in run.agent_steps()] == [("aider", "failed"), ("codex", "succeeded")]
    # Stopped by the retry cap, not the timeout (how fast is a benchmark figure, not a test).
    detail = run.step_of("aider").detail
    assert detail.startswith("endpoint still failing after 0 retries: litellm.InternalServerError")
    run.assert_pr_fixes_calc()
