"""The commit an agent's work becomes reads as the request: its subject is what was asked, its body
names the agent and what it said, and the run — even for a script that prints nothing."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.domain.models import RunState
from bot.engine.commit_message import commit_message
from bot.scm.git import run_git
from tests.e2e.conftest import RuntimeFactory, make_repos, repo_entries, submit, wait_for

SILENT = [sys.executable, "-c", "open('NOTES.md', 'a').write('noted\\n')"]


def test_a_silent_script_agents_commit_carries_the_request(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api"])
    config = {"repos": repo_entries(remotes), "agents": [{"name": "quiet", "command": SILENT}]}
    runtime = start_runtime(config)
    run_id = submit(runtime, "Write a note about the rename\nwith details below", ["api"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    [change] = view.changes

    message = run_git(["--git-dir", str(remotes["api"]), "log", "-1", "--format=%B", change.head_sha], tmp_path)

    assert message.splitlines()[0] == "Write a note about the rename"
    assert "quiet: done: Write a note about the rename" in message
    assert message.splitlines()[-1] == f"Baton run {run_id}"
    assert "finished with no output" not in message
    [step] = [s for s in view.steps if s.name == "quiet"]
    assert step.detail == "done: Write a note about the rename"


def test_a_commit_subject_is_the_first_line_trimmed_and_free_of_control_characters() -> None:
    message = commit_message("\n  Rename\x00 the " + "x" * 100 + "\nsecond line", "coder", "renamed", "r1")
    subject, blank, body, blank2, run = message.splitlines()
    assert subject == ("Rename the " + "x" * 100)[:71] + "…"
    assert (blank, body, blank2, run) == ("", "coder: renamed", "", "Baton run r1")
