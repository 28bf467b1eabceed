"""Concurrent best-of-N with two real CLIs: Codex and opencode take the same sub-task at the same
time, each in its own git worktree, the checks run in both, and the cheaper passing one is kept;
the run's steps show both candidates with their agent and cost."""

from __future__ import annotations

from tests.e2e.agent_cli_support import RealTier, agent_clis, codex_turns, model_servers, opencode_turns, real

__all__ = ["agent_clis", "model_servers", "real"]  # fixtures used by the tests below


def test_codex_and_opencode_race_and_the_cheaper_passing_candidate_is_kept(real: RealTier) -> None:
    openai, anthropic = real.serve(codex_turns()), real.serve(opencode_turns())
    best_of = {"agents": ["opencode", "codex"], "judge": "checks_then_cheapest", "concurrent": True}
    agents = [real.agent("codex", openai), real.agent("opencode", anthropic)]
    run = real.fix_calc(agents, playbooks={"race": {"per_repo": {"best_of": best_of}}})

    candidates = {s.agent: s for s in run.agent_steps()}
    assert sorted((a, s.name, s.state.value) for a, s in candidates.items()) == [
        ("codex", "candidate 2:codex", "succeeded"),
        ("opencode", "candidate 1:opencode", "succeeded"),
    ]
    assert [s.state.value for s in run.view.steps if s.name == "checks"] == ["succeeded", "succeeded"]
    # Both passed; codex's priced tokens cost less than opencode's own bill, so codex is kept.
    assert candidates["codex"].usage.cost_usd < candidates["opencode"].usage.cost_usd
    judged = [e.data["text"] for e in run.events("chat") if e.data["speaker"] == "judge"]
    assert len(judged) == 1 and judged[0].startswith("picked codex")
    run.assert_pr_fixes_calc()
    assert run.view.run.usage.cost_usd == round(sum(s.usage.cost_usd for s in candidates.values()), 6)
    run.approve_and_assert_merged()
