"""The group chat pattern end to end: an implementer and two reviewers take turns on a shared
transcript until every reviewer agrees ("LGTM"); every turn is kept as a run event of kind "chat",
and a chat whose reviewers never agree ends in failure after its bounded rounds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.domain.models import RunState
from tests.e2e.conftest import (
    RuntimeFactory,
    agent,
    approve_until_merged,
    lines,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)
from tests.e2e.pattern_support import events_of, exists_on
from tests.gitutil import read_file_on


def chat_config(
    remotes: dict[str, Path], calls: Path, first_reviewer: list[str], max_rounds: int = 3
) -> dict[str, Any]:
    return {
        "repos": repo_entries(remotes),
        "agents": [
            agent(
                "implementer",
                "--count",
                str(calls),
                "--append",
                "handler.py",
                "revision",
                "--summary",
                "implemented the handler",
            ),
            agent("strict", *first_reviewer),
            agent("friendly", "--summary", "LGTM"),
        ],
        "routing": {"default_agent": "implementer"},
        "playbooks": {
            "review": {
                "per_repo": {
                    "group_chat": {
                        "participants": ["implementer", "strict", "friendly"],
                        "max_rounds": max_rounds,
                    }
                }
            }
        },
    }


NEEDS_WORK_ONCE = ["--say-once-then", "needs work: handle the empty input", "LGTM"]


def test_the_implementer_answers_a_needs_work_review_until_all_agree(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    calls = tmp_path / "implementer.count"
    runtime = start_runtime(chat_config(remotes, calls, NEEDS_WORK_ONCE))
    run_id = submit(runtime, "add the handler", ["svc"], playbook="review")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    assert len(lines(calls)) == 2  # once to implement, once to answer the review
    approve_until_merged(runtime, run_id, timeout=20)
    assert read_file_on(remotes["svc"], "main", "handler.py") == "revision\nrevision\n"


def test_the_chat_transcript_is_kept_as_chat_events(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    runtime = start_runtime(chat_config(remotes, tmp_path / "implementer.count", NEEDS_WORK_ONCE))
    run_id = submit(runtime, "add the handler", ["svc"], playbook="review")
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    turns = [(e.data["speaker"], e.data["text"]) for e in events_of(runtime, run_id, "chat")]
    assert turns == [
        ("implementer", "implemented the handler"),
        ("strict", "needs work: handle the empty input"),
        ("friendly", "LGTM"),
        ("implementer", "implemented the handler"),
        ("strict", "LGTM"),
        ("friendly", "LGTM"),
    ]
    assert {e.data["repo"] for e in events_of(runtime, run_id, "chat")} == {"svc"}


def test_a_chat_whose_reviewers_never_agree_fails_after_its_rounds(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    calls = tmp_path / "implementer.count"
    never = ["--summary", "needs work: still not right"]
    runtime = start_runtime(chat_config(remotes, calls, never, max_rounds=2))
    run_id = submit(runtime, "add the handler", ["svc"], playbook="review")
    view = wait_for(runtime, run_id, RunState.failed, timeout=20)
    assert view.run.error is not None and "no agreement after 2 round(s)" in view.run.error
    assert len(lines(calls)) == 2  # one implementer turn per round, and no more
    assert view.changes == []
    assert not exists_on(remotes["svc"], "main", "handler.py")
