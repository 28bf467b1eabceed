"""The verify/repair loop end to end: after the agent works, the repo's checks run in the
workspace; on failure their output goes back to the agent, at most `max_attempts` times, and a
repo whose checks never pass fails without a PR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.domain.models import RunState
from tests.e2e.conftest import (
    CHECKS,
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

# The harness's checks (`test ! -e BROKEN`), made to say why they fail so the output can be traced.
SAYING_CHECKS = f"{CHECKS} || {{ echo 'BROKEN is present'; exit 1; }}"


def verify_config(
    remotes: dict[str, Path], agents: list[dict[str, Any]], do: dict[str, Any], max_attempts: int
) -> dict[str, Any]:
    repos = [{**entry, "checks": SAYING_CHECKS} for entry in repo_entries(remotes)]
    return {
        "repos": repos,
        "agents": agents,
        "routing": {"default_agent": agents[0]["name"]},
        "playbooks": {"checked": {"per_repo": {"verify": {"do": do, "max_attempts": max_attempts}}}},
    }


def test_the_checks_output_goes_back_and_the_second_attempt_passes(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    repairer_calls, author_calls = tmp_path / "repairer.count", tmp_path / "author.count"
    agents = [
        # Acts only once its feedback carries the checks' output, and then removes BROKEN.
        agent(
            "repairer",
            *("--count", str(repairer_calls)),
            *("--fail-unless-feedback", "BROKEN is present"),
            *("--remove", "BROKEN", "--summary", "removed BROKEN"),
        ),
        # Otherwise the author writes the feature and leaves BROKEN behind.
        agent(
            "author",
            *("--count", str(author_calls)),
            *("--append", "feature.py", "feature", "--append", "BROKEN", "oops"),
        ),
    ]
    runtime = start_runtime(verify_config(remotes, agents, {"fallback": ["repairer", "author"]}, 3))
    run_id = submit(runtime, "add the feature", ["svc"], playbook="checked")
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=20)
    checks = [s.state.value for s in view.steps if s.name == "checks"]
    assert checks == ["failed", "succeeded"]  # attempt 1 failed its checks, attempt 2 passed
    assert len(lines(author_calls)) == 1
    assert len(lines(repairer_calls)) == 2  # refused without feedback, then repaired with it
    approve_until_merged(runtime, run_id, timeout=20)
    assert read_file_on(remotes["svc"], "main", "feature.py") == "feature\n"
    assert not exists_on(remotes["svc"], "main", "BROKEN")


def test_a_repo_whose_checks_never_pass_fails_after_max_attempts_without_a_pr(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    remotes = make_repos(tmp_path, ["svc"])
    calls = tmp_path / "stubborn.count"
    agents = [agent("stubborn", "--count", str(calls), "--append", "BROKEN", "still here")]
    runtime = start_runtime(verify_config(remotes, agents, {"agent": "stubborn"}, 2))
    run_id = submit(runtime, "add the feature", ["svc"], playbook="checked")
    view = wait_for(runtime, run_id, RunState.failed, timeout=20)
    assert view.run.error == "svc: checks still failing after 2 attempt(s)"
    assert len(lines(calls)) == 2
    assert [s.state.value for s in view.steps if s.name == "checks"] == ["failed", "failed"]
    assert view.changes == []
    assert events_of(runtime, run_id, "pushed") == []
    assert not exists_on(remotes["svc"], "main", "BROKEN")
