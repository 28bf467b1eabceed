"""Discovery from Slack, over HTTP as Slack sends it: `discover="..."` in a mention finds the repos,
the plan's thread reply shows why each is there, and the card's select drops one from the plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.domain.models import RunState
from tests.e2e.conftest import CHECKS, RuntimeFactory, agent, event_data, wait_for
from tests.fakes.served_app import until
from tests.fakes.slack_harness import SlackWorld, button_value, slack_world
from tests.gitutil import make_remote

ALICE, BOB = "U0ALICE", "U0BOB"
USES = 'return get("/v1/items")\n'


def _config(tmp_path: Path) -> dict[str, Any]:
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    files = {
        "api": {"server.py": "ROUTE = 1\n"},
        "web": {"c.py": USES},
        "mobile": {"c.py": USES},
        "docs": {"a.md": "x"},
    }
    made = {n: make_remote(remotes, n, f) for n, f in files.items()}
    depends = {"web": ["api"], "mobile": ["api"]}
    return {
        "repos": [
            {"name": n, "url": str(p), "checks": CHECKS, "depends_on": depends.get(n, [])} for n, p in made.items()
        ],
        "agents": [agent("coder", "--append", "CHANGED.md", "renamed")],
        "routing": {"default_agent": "coder"},
        "approval": {"approvers": [f"slack:{BOB}"], "approve_plan": True},
        "slack": {"channel_repos": {"C111": list(files)}},
    }


def _card(world: SlackWorld) -> tuple[str, dict[str, Any]]:
    ts = str(world.slack.calls_to("chat.postMessage")[0].response["ts"])
    return ts, world.slack.message("C111", ts)


def _select_options(message: dict[str, Any]) -> list[str]:
    for block in message["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element["action_id"] == "baton_drop":
                return [json.loads(o["value"])["repo"] for o in element["options"]]
    return []


def _start(world: SlackWorld) -> tuple[str, str]:
    envelope, _ = world.mention(ALICE, '<@U0BATON> rename the endpoint discover="get\\(./v1/items"')
    thread = envelope["event"]["ts"]
    run_id = until("the run", lambda: world.runtime.store.run_for_link(f"slack:thread:C111:{thread}"))
    wait_for(world.runtime, run_id, RunState.awaiting_approval, timeout=60)
    return thread, run_id


def test_a_slack_mention_with_discover_plans_the_matching_repos_and_their_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    with slack_world(monkeypatch, start_runtime, _config(tmp_path)) as world:
        _thread, run_id = _start(world)
        (plan,) = event_data(world.runtime, run_id, "plan_ready")
        assert plan["order"] == ["api", "web", "mobile"]

        def plan_reply() -> str | None:
            texts = [str(c.params.get("text", "")) for c in world.slack.calls_to("chat.postMessage")]
            return next((t for t in texts if t.startswith("Plan ready")), None)

        reply = until("the plan's thread reply", plan_reply)
        assert reply.count('c.py:1: return get("/v1/items")') == 2
        assert "api: provider of web, mobile" in reply
        assert "docs" not in reply


def test_the_card_select_drops_a_repo_from_the_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start_runtime: RuntimeFactory
) -> None:
    with slack_world(monkeypatch, start_runtime, _config(tmp_path)) as world:
        thread, run_id = _start(world)
        ts, card = until("the drop select", lambda: (lambda c: c if _select_options(c[1]) else None)(_card(world)))
        assert _select_options(card) == ["api", "web", "mobile"]
        value = json.dumps({"run": run_id, "repo": "mobile"})
        assert world.click(BOB, "C111", ts, "baton_drop", value, thread, select=True).status_code == 200
        until("mobile dropped", lambda: bool(event_data(world.runtime, run_id, "repo_dropped")))
        approve = until("the approve button", lambda: button_value(_card(world)[1], "baton_approve"))
        assert world.click(BOB, "C111", ts, "baton_approve", approve, thread).status_code == 200
        until("the PRs", lambda: world.runtime.store.get_run(run_id).waiting_for == "approval")  # type: ignore[union-attr]
        assert sorted(c.repo for c in world.runtime.store.changes(run_id)) == ["api", "web"]
