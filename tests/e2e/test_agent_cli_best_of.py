"""Concurrent best-of-N with two real CLIs: Codex and opencode take the same sub-task at the same
time, each in its own git worktree, the checks run in both, and the cheaper passing one is kept;
the run's steps show both candidates with their agent and cost."""

from __future__ import annotations

from pathlib import Path

from bot.domain import RunState
from tests.e2e.agent_cli_support import (
    FIXED,
    agent_clis,
    calc_config,
    calc_repo,
    changed_files,
    codex_agent,
    codex_turns,
    model_servers,
    opencode_agent,
    opencode_turns,
    serve,
)
from tests.e2e.conftest import RuntimeFactory, approve_until_merged, submit, wait_for
from tests.e2e.pattern_support import events_of
from tests.fakes.model_server import ModelServer
from tests.gitutil import read_file_on

__all__ = ["agent_clis", "model_servers"]  # fixtures used by the tests below


def test_codex_and_opencode_race_and_the_cheaper_passing_candidate_is_kept(
    tmp_path: Path, start_runtime: RuntimeFactory, agent_clis: dict[str, list[str]], model_servers: list[ModelServer]
) -> None:
    openai, anthropic = serve(model_servers, codex_turns()), serve(model_servers, opencode_turns())
    remotes = calc_repo(tmp_path)
    agents = [codex_agent(agent_clis["codex"], openai), opencode_agent(agent_clis["opencode"], anthropic)]
    config = calc_config(remotes, agents)
    best_of = {"agents": ["opencode", "codex"], "judge": "checks_then_cheapest", "concurrent": True}
    config["playbooks"] = {"race": {"per_repo": {"best_of": best_of}}}
    runtime = start_runtime(config)
    run_id = submit(runtime, "make add() add", ["calc"], playbook="race")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)

    candidates = {s.agent: s for s in view.steps if s.agent}
    assert sorted((a, s.name, s.state.value) for a, s in candidates.items()) == [
        ("codex", "candidate 2:codex", "succeeded"),
        ("opencode", "candidate 1:opencode", "succeeded"),
    ]
    assert [s.state.value for s in view.steps if s.name == "checks"] == ["succeeded", "succeeded"]
    # Both passed; codex's priced tokens cost less than opencode's own bill, so codex is kept.
    assert candidates["codex"].usage.cost_usd < candidates["opencode"].usage.cost_usd
    judged = [e.data["text"] for e in events_of(runtime, run_id, "chat") if e.data["speaker"] == "judge"]
    assert len(judged) == 1 and judged[0].startswith("picked codex")
    (change,) = view.changes
    assert changed_files(remotes["calc"], change.branch) == ["calc.py"]
    assert read_file_on(remotes["calc"], change.branch, "calc.py") == FIXED
    assert view.run.usage.cost_usd == round(sum(s.usage.cost_usd for s in candidates.values()), 6)
    approve_until_merged(runtime, run_id, timeout=30)
