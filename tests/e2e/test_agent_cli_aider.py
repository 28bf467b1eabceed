"""The real Aider CLI (pinned, in its own venv in the tools cache) in full Baton runs against a
scripted Chat Completions server: it rewrites the code and runs the tests (`--auto-test`), Baton
commits, checks, opens the PR and prices aider's token report; when its endpoint answers 500, the
adapter stops aider's minute of retries and the fallback agent finishes."""

from __future__ import annotations

from pathlib import Path

from bot.domain import ChecksState, RunState
from tests.e2e.agent_cli_support import (
    FIXED,
    SUMMARY,
    agent_clis,
    aider_agent,
    aider_turns,
    calc_config,
    calc_repo,
    changed_files,
    codex_agent,
    codex_turns,
    model_servers,
    serve,
)
from tests.e2e.conftest import RuntimeFactory, approve_until_merged, submit, wait_for
from tests.fakes.model_server import ModelServer
from tests.gitutil import read_file_on

__all__ = ["agent_clis", "model_servers"]  # fixtures used by the tests below


def test_aider_fixes_the_code_runs_the_tests_and_baton_opens_the_pr(
    tmp_path: Path, start_runtime: RuntimeFactory, agent_clis: dict[str, list[str]], model_servers: list[ModelServer]
) -> None:
    server = serve(model_servers, aider_turns())
    remotes = calc_repo(tmp_path)
    runtime = start_runtime(calc_config(remotes, [aider_agent(agent_clis["aider"], server)]))
    run_id = submit(runtime, "make add() add", ["calc"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)

    (step,) = [s for s in view.steps if s.agent]
    assert (step.agent, step.state.value, step.detail) == ("aider", "succeeded", SUMMARY)
    assert (step.usage.tokens_in, step.usage.tokens_out) == (200, 40)
    assert step.usage.cost_usd == round((200 * 2.0 + 40 * 8.0) / 1_000_000, 6)
    (change,) = view.changes
    assert change.checks is ChecksState.passed
    assert changed_files(remotes["calc"], change.branch) == ["calc.py"]
    assert read_file_on(remotes["calc"], change.branch, "calc.py") == FIXED
    # Two model calls (find the file, then edit it): the edit passed aider's own test run.
    assert len(server.posts("/chat/completions")) == 2
    transcript = next(Path(p) for p in (tmp_path / ".baton" / "homes").rglob("transcripts/*.log"))
    assert "1 passed" in transcript.read_text()  # aider ran the repo's tests
    approve_until_merged(runtime, run_id, timeout=30)
    assert read_file_on(remotes["calc"], "main", "calc.py") == FIXED


def test_an_aider_endpoint_answering_500_fails_the_step_and_codex_finishes(
    tmp_path: Path, start_runtime: RuntimeFactory, agent_clis: dict[str, list[str]], model_servers: list[ModelServer]
) -> None:
    dead = serve(model_servers, [], fail_status=500)
    alive = serve(model_servers, codex_turns())
    remotes = calc_repo(tmp_path)
    agents = [
        aider_agent(agent_clis["aider"], dead, max_retries=0, timeout_s=10),
        codex_agent(agent_clis["codex"], alive),
    ]
    runtime = start_runtime(calc_config(remotes, agents))
    run_id = submit(runtime, "make add() add", ["calc"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)

    assert [(s.agent, s.state.value) for s in view.steps if s.agent] == [("aider", "failed"), ("codex", "succeeded")]
    failed = next(s for s in view.steps if s.agent == "aider")
    # Stopped by the retry cap, well before its 10 s timeout would have killed it.
    assert failed.detail.startswith("endpoint still failing after 0 retries: litellm.InternalServerError")
    (change,) = view.changes
    assert read_file_on(remotes["calc"], change.branch, "calc.py") == FIXED
