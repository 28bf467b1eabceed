"""A run's identity and its record: one run per delivery, every transition a numbered event, and
the machine-readable view scripts rely on."""

from __future__ import annotations

from pathlib import Path

from bot.domain.models import Decision, RunState
from bot.engine.intake import build_spec
from bot.surfaces.jsonview import run_json
from handlers.cli import cli_trigger
from tests.e2e.conftest import APPROVER, RuntimeFactory, agent, lines, make_repos, repo_entries, wait_for


def _config(tmp_path: Path) -> tuple[dict[str, object], Path]:
    remotes = make_repos(tmp_path, ["api"])
    count = tmp_path / "calls"
    config = {
        "repos": repo_entries(remotes),
        "agents": [
            agent(
                "writer",
                "--count",
                str(count),
                "--append",
                "NOTES.md",
                "noted",
                "--usage",
                '{"tokens_in": 100, "tokens_out": 20, "cost_usd": 0.01}',
            )
        ],
    }
    return config, count


def test_a_second_start_with_the_same_delivery_joins_the_first(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    config, count = _config(tmp_path)
    runtime = start_runtime(config)
    trigger = cli_trigger("write a note", delivery_id="delivery-1")
    first = runtime.runs.submit(build_spec(trigger, runtime.config, repos=["api"]))
    second = runtime.runs.submit(build_spec(trigger, runtime.config, repos=["api"]))
    assert first == second
    wait_for(runtime, first, RunState.awaiting_approval)
    assert len(runtime.store.list_runs()) == 1
    assert len(lines(count)) == 1, "the agent ran twice for one delivery"


def test_every_transition_is_a_numbered_event(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    config, _ = _config(tmp_path)
    runtime = start_runtime(config)
    run_id = runtime.runs.submit(build_spec(cli_trigger("write a note"), runtime.config, repos=["api"]))
    wait_for(runtime, run_id, RunState.awaiting_approval)
    runtime.runs.decide(run_id, APPROVER, Decision.approve)
    wait_for(runtime, run_id, RunState.merged)
    events = runtime.store.events(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    states = [(e.data["from"], e.data["to"]) for e in events if e.kind == "state"]
    assert states == [
        ("queued", "planning"),
        ("planning", "working"),
        ("working", "awaiting_approval"),
        ("awaiting_approval", "merging"),
        ("merging", "merged"),
    ]


def test_the_json_view_lists_steps_prs_approvals_and_cost(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    config, _ = _config(tmp_path)
    runtime = start_runtime(config)
    run_id = runtime.runs.submit(build_spec(cli_trigger("write a note"), runtime.config, repos=["api"]))
    wait_for(runtime, run_id, RunState.awaiting_approval)
    runtime.runs.decide(run_id, APPROVER, Decision.approve)
    view = wait_for(runtime, run_id, RunState.merged)
    data = run_json(view)
    assert (data["run_id"], data["state"], data["source"], data["repos"]) == (run_id, "merged", "cli", ["api"])
    agent_steps = [s for s in data["steps"] if s["agent"] == "writer"]
    assert len(agent_steps) == 1
    assert agent_steps[0]["state"] == "succeeded" and agent_steps[0]["tokens"] == 120
    assert agent_steps[0]["cost_usd"] == 0.01 and agent_steps[0]["duration_s"] is not None
    assert data["cost_usd"] == 0.01 and data["tokens"] == 120
    (pr,) = data["prs"]
    assert pr["url"] == "local://api/pull/1" and pr["state"] == "merged" and len(pr["head_sha"]) == 40
    (approval,) = data["approvals"]
    assert approval["head_shas"] == {"api": pr["head_sha"]}
    assert data["merge_results"] == [{"repo": "api", "merged": True, "error": None}]
