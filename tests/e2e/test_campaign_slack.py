"""A campaign asked for in Slack (real surface, the Slack stand-in, real git and checks): one card
that ends Merged with its burndown, and fewer chat calls than repos — the card moves with the
campaign's waves, not with each repo's events."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.domain.models import Actor, Decision, RunState, Source
from tests.e2e.conftest import RuntimeFactory, agent, make_repos, repo_entries
from tests.fakes.served_app import until
from tests.fakes.slack_harness import slack_world

REPOS = [f"svc{i:02d}" for i in range(12)]
OPS = Actor(source=Source.cli, id="ops", display="ops")


def test_a_12_repo_campaign_costs_fewer_chat_calls_than_repos_and_its_card_ends_merged(
    tmp_path: Path, start_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = {
        "repos": repo_entries(make_repos(tmp_path, REPOS)),
        "agents": [agent("steady", "--append", "NOTES.md", "renamed")],
        "routing": {"default_agent": "steady"},
        "approval": {"approvers": ["cli:ops"]},
        "slack": {"channel_repos": {"C111": REPOS}},
        "playbooks": {"default": {"campaign": {"canary": 2}}},
    }
    with slack_world(monkeypatch, start_runtime, config) as w:
        before = len(w.slack.calls)
        envelope, _ = w.mention("U0ALICE", "<@U0BATON> rename the endpoint")
        store = w.runtime.store
        run_id = until("the run", lambda: store.run_for_link(f"slack:thread:C111:{envelope['event']['ts']}"))
        deadline = time.monotonic() + 120
        while (run := store.get_run(run_id)) is not None and not run.state.terminal and time.monotonic() < deadline:
            if run.state is RunState.awaiting_approval and run.waiting_for == "approval":
                w.runtime.runs.decide(run_id, OPS, Decision.approve)
            time.sleep(0.05)
        assert run is not None and run.state is RunState.merged
        card = store.get_fact(run_id, "slack:card") or {}
        until(
            "the card says Merged",
            lambda: w.slack.message("C111", card["ts"])["blocks"][0]["text"]["text"].endswith("Merged"),
        )
        assert "12 repos: queued 0" in str(w.slack.message("C111", card["ts"])["blocks"])
        chat = [c for c in list(w.slack.calls)[before:] if c.method.startswith("chat.")]
        assert len(chat) < len(REPOS)
