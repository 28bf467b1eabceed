"""A campaign asked for in Slack (real surface, the Slack stand-in, real git and checks): one card
that ends Merged with its burndown, and a thread that does not grow with the repos: the card is
edited in place, and the thread gets one reply per phase, not one per repo. (How many edits the card
gets depends on how events batch in time, so the benchmark measures those, not this test.)"""

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


def test_a_12_repo_campaign_posts_a_message_per_phase_not_per_repo_and_its_card_ends_merged(
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
        posts = [c for c in list(w.slack.calls)[before:] if c.method == "chat.postMessage"]
        # The card, then at most one reply each for the plan, the PRs with the call for approval
        # and the ending.
        assert 1 <= len(posts) <= 4 < len(REPOS)
