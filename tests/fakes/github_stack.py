"""The whole GitHub path for end-to-end tests: the fake GitHub over bare repos, a launched Baton
runtime configured for it, and the real ASGI app served by uvicorn on 127.0.0.1 (`served_app`), so webhooks
arrive over HTTP exactly as GitHub sends them and Baton answers GitHub over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import Runtime
from bot.config.models import parse_baton_file
from bot.config.settings import Settings
from bot.domain.models import ChecksState, RunState
from bot.web import create_web_app
from tests.e2e.conftest import _close_open_runs, until, wait_for
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import TOKEN, config_dict, start_fake
from tests.fakes.github_webhooks import Webhooks
from tests.fakes.served_app import serve

SECRET = "whsec-test-not-a-real-secret"


@dataclass
class Stack:
    fake: FakeGitHub
    runtime: Runtime
    hooks: Webhooks
    remotes: dict[str, Path]
    url: str


@contextmanager
def github_stack(tmp_path: Path, repos: list[str], extra: dict[str, Any], **github: Any) -> Iterator[Stack]:
    """Everything running; `extra` adds baton.yml sections (agents, playbooks, approval …) and
    `repos_extra` entries per repo (e.g. depends_on)."""
    fake, remotes = start_fake(tmp_path, repos)
    config = config_dict(remotes, **github)
    per_repo = extra.pop("repos_extra", {})
    for entry in config["repos"]:
        entry.update(per_repo.get(entry["name"], {}))
    config.update(extra)
    secrets = {"GITHUB_WEBHOOK_SECRET": SECRET, "GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": fake.url}
    settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml", **secrets)
    runtime = Runtime(settings, parse_baton_file(config))
    runtime.launch()
    try:
        with serve(create_web_app(runtime)) as url:
            hooks = Webhooks(fake, f"{url}/github/webhook", SECRET, outcomes=runtime.store.intake_outcome)
            yield Stack(fake, runtime, hooks, remotes, url)
    finally:
        _close_open_runs(runtime)
        runtime.shutdown()
        fake.stop()


def approve_with_green_checks(stack: Stack, full_name: str, issue: int, run_id: str, approver: str = "maya") -> None:
    """The run's one PR gets a passing check (a `check_suite` webhook), then `approver` comments
    `/baton approve` on the issue; returns once the run has merged."""
    (change,) = stack.runtime.store.changes(run_id)
    stack.fake.add_check_run(full_name, change.head_sha, "test", "success")
    stack.hooks.send("check_suite", stack.hooks.check_suite_completed(full_name, change.number))
    until("the checks passed", lambda: stack.runtime.store.changes(run_id)[0].checks is ChecksState.passed)
    approval = stack.fake.add_comment(full_name, issue, "/baton approve", approver)
    stack.hooks.send("issue_comment", stack.hooks.issue_comment(full_name, issue, approval.id))
    wait_for(stack.runtime, run_id, RunState.merged, timeout=60)
