"""The local forge's PR checks are the repo's checks command: given the outcome that command had on
the PR's very head (the run's workspace checks), it records that outcome instead of running them
again in a fresh checkout; any other head, or a failure, runs them."""

from __future__ import annotations

from pathlib import Path

from bot.agents.checks import ChecksRunner
from bot.agents.sandbox import default_sandbox
from bot.config.models import RepoConfig
from bot.domain.models import CheckOutcome, ChecksState
from bot.scm.local import LocalForge
from tests.gitutil import commit_to_remote, make_remote

BRANCH = "baton/r1/add-feature"


def _forge(tmp_path: Path) -> tuple[LocalForge, Path, Path]:
    """A forge over one repo whose checks command notes each commit it checks in `count`."""
    count = tmp_path / "count"
    remote = make_remote(tmp_path, "api", {"README.md": "hello\n"})
    # Unconfined only so the command can write its tally outside the checkout.
    cfg = RepoConfig(name="api", url=str(remote), checks=f"git rev-parse HEAD >> {count}", checks_isolation="none")
    checks = ChecksRunner(default_sandbox(), tmp_path / "work" / "homes")
    return LocalForge(tmp_path / "forge", {"api": cfg}.__getitem__, tmp_path / "work", checks), remote, count


def _tally(count: Path) -> list[str]:
    return count.read_text().split() if count.exists() else []


def test_a_passing_outcome_for_the_prs_head_is_recorded_without_running_again(tmp_path: Path) -> None:
    forge, remote, count = _forge(tmp_path)
    sha = commit_to_remote(remote, BRANCH, {"feature.txt": "on\n"}, "add feature")
    change = forge.open_pr("r1", "api", BRANCH, "Add feature", "", 0)

    outcome = forge.run_checks(change, CheckOutcome(passed=True, sha=sha, output_tail="ok in the workspace"))

    assert (outcome.passed, outcome.sha, _tally(count)) == (True, sha, [])
    assert forge.refresh(change).checks is ChecksState.passed


def test_an_outcome_for_another_head_runs_the_checks_on_the_prs_head(tmp_path: Path) -> None:
    forge, remote, count = _forge(tmp_path)
    older = commit_to_remote(remote, BRANCH, {"feature.txt": "on\n"}, "add feature")
    head = commit_to_remote(remote, BRANCH, {"feature.txt": "off\n"}, "turn it off")
    change = forge.open_pr("r1", "api", BRANCH, "Add feature", "", 0)

    outcome = forge.run_checks(change, CheckOutcome(passed=True, sha=older))

    assert (outcome.sha, _tally(count)) == (head, [head])


def test_a_failed_outcome_is_never_reused(tmp_path: Path) -> None:
    forge, remote, count = _forge(tmp_path)
    sha = commit_to_remote(remote, BRANCH, {"feature.txt": "on\n"}, "add feature")
    change = forge.open_pr("r1", "api", BRANCH, "Add feature", "", 0)

    outcome = forge.run_checks(change, CheckOutcome(passed=False, sha=sha, output_tail="flaky"))

    assert (outcome.passed, _tally(count)) == (True, [sha])
