"""Live progress from an agent is coalesced, but the last word of a step is never held back."""

from __future__ import annotations

from pathlib import Path

from bot.domain.models import RunState
from tests.e2e.conftest import RuntimeFactory, agent, event_data, make_repos, repo_entries, submit, wait_for


def test_the_last_progress_of_a_quick_step_is_published(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api"])
    usage = '{"tokens_in": 120, "tokens_out": 40}'
    coder = agent("coder", "--append", "README.md", "v2", "--usage", usage, "--summary", "renamed")
    runtime = start_runtime({"repos": repo_entries(remotes), "agents": [coder]})
    run_id = submit(runtime, "rename the endpoint", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=30)

    progress = [e for e in event_data(runtime, run_id, "agent_progress") if e["step"].startswith("api/")]

    assert progress, "no live progress at all"
    assert progress[-1]["kind"] == "output"
    assert "BATON_SUMMARY renamed" in str(progress[-1]["line"])
