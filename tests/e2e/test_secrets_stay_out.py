"""No token or signing secret reaches a log line, a card, a comment or a page, even inside exception
messages. A real `baton serve` process (its stderr captured, as a container runtime would) serves
GitHub and Slack; GitHub's stand-in echoes Baton's token in the error that refuses the run's pull
request and fails once with a 502 on the way, and the agent a Slack mention starts prints the model
key its config passes it to stderr and fails. Every secret value is then looked for in what the
process logged and in everything Slack and GitHub received."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from bot.store.store import Store, make_engine
from tests.e2e.scale_support import free_port, until
from tests.fakes.github_api import FakeGitHub
from tests.fakes.github_setup import TOKEN, config_dict, start_fake
from tests.fakes.github_stack import SECRET
from tests.fakes.github_webhooks import Webhooks
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_events import SlackSender, app_mention, event_callback

SLACK_TOKEN = "xoxb-111-222-sEcReTsLaCkToKeN"
SLACK_SIGNING = "c0ffee5ign1ngsecretvalue0123456"
MODEL_KEY = "sk-model-key-0123456789-never-shown"
SECRETS = {
    "GITHUB_TOKEN": TOKEN,
    "GITHUB_WEBHOOK_SECRET": SECRET,
    "SLACK_BOT_TOKEN": SLACK_TOKEN,
    "SLACK_SIGNING_SECRET": SLACK_SIGNING,
    "MODEL_KEY": MODEL_KEY,
}
ISSUE = "acme/api"
LEAKY = "import os, sys; print('calling the model with key', os.environ['MODEL_KEY'], file=sys.stderr); sys.exit(3)"


@dataclass
class World:
    logs: Callable[[], str]
    github: FakeGitHub
    slack: FakeSlack
    url: str
    store: Store
    runs: dict[str, str]


def _state(store: Store, run_id: str) -> str | None:
    run = store.get_run(run_id)
    return run.state.value if run else None


def _baton_yml(tmp: Path, remotes: dict[str, Path]) -> Path:
    config = config_dict(remotes)
    config["agents"] = [
        {"name": "coder", "kind": "script", "command": [sys.executable, "-c", "open('README.md','a').write('v2\\n')"]},
        {
            "name": "leaky",
            "kind": "script",
            "command": [sys.executable, "-c", LEAKY],
            "env": {"MODEL_KEY": "${MODEL_KEY}"},
        },
    ]
    config["routing"] = {"default_agent": "coder", "rules": [{"repo": "web", "agent": "leaky"}]}
    config["slack"] = {"channel_repos": {"C111": ["web"]}}
    path = tmp / "baton.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("secrets")
    github, remotes = start_fake(tmp, ["api", "web"])
    github.grant(ISSUE, "alice", "write")
    slack = FakeSlack(SLACK_TOKEN).start()
    slack.add_user("U0ALICE", "alice")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BATON_", "GITHUB_", "SLACK_", "LINEAR_"))},
        **SECRETS,
        "GITHUB_API_URL": github.url,
        "SLACK_API_URL": slack.api_url,
        "BATON_HOME": str(tmp / ".baton"),
        "BATON_CONFIG": str(_baton_yml(tmp, remotes)),
    }
    stderr = (tmp / "serve.stderr").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--port", str(port)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stderr,
        stderr=stderr,
    )
    url = f"http://127.0.0.1:{port}"
    db = make_engine(f"sqlite:///{tmp / '.baton' / 'baton.db'}")
    store = Store(db)
    try:
        until("baton serve to answer /healthz", lambda: _healthy(url))
        runs = {"github": _github_run(github, url, store), "slack": _slack_run(url, store)}
        for run_id in runs.values():
            until(f"run {run_id} to fail", lambda r=run_id: _state(store, r) == "failed")
        until("the issue's status comment to say failed", lambda: _comment_says_failed(github, runs["github"]))
        until("the Slack card to say failed", lambda: _card_says_failed(slack))
        yield World(lambda: (tmp / "serve.stderr").read_text(encoding="utf-8"), github, slack, url, store, runs)
    finally:
        db.dispose()
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        if process.poll() is None:
            process.kill()
            process.wait()
        stderr.close()
        slack.stop()
        github.stop()


def _healthy(url: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    return False


def _github_run(github: FakeGitHub, url: str, store: Store) -> str:
    # The PR GitHub refuses names the token it was sent, as a misconfigured proxy or an API bug might.
    echo = {"message": f"Validation Failed: Authorization: token {TOKEN} may not open PRs"}
    github.fail("POST", r"/repos/acme/api/pulls$", 502, times=1)
    github.fail("POST", r"/repos/acme/api/issues/\d+/comments$", 502, times=1)  # the first status comment
    github.fail("PATCH", r"/repos/acme/api/issues/comments/\d+$", 502, times=1)  # its first edit
    github.fail("POST", r"/repos/acme/api/pulls$", 422, times=5, body=echo)
    issue = github.open_issue(ISSUE, "Rename /items", "Should be /v2/items.", "carol")
    comment = github.add_comment(ISSUE, issue, "@baton rename /items to /v2/items\nrepos: api", "alice")
    hooks = Webhooks(github, f"{url}/github/webhook", SECRET, outcomes=store.intake_outcome)
    answer = hooks.send("issue_comment", hooks.issue_comment(ISSUE, issue, comment.id))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["run_id"])


def _slack_run(url: str, store: Store) -> str:
    sender = SlackSender(f"{url}/slack/events", SLACK_SIGNING)
    try:
        answer = sender.event(event_callback(app_mention("U0ALICE", "<@U0BATON> bump the web client", "C111")))
        assert answer.status_code == 200, answer.text
    finally:
        sender.close()
    runs = until(
        "the Slack run to be recorded", lambda: [r for r in store.list_runs() if r.spec.trigger.source.value == "slack"]
    )
    return str(runs[0].run_id)


def _comment_says_failed(github: FakeGitHub, run_id: str) -> bool:
    bodies = [r.body.get("body", "") for r in github.requests if isinstance(r.body, dict)]
    return any(run_id in b and "failed" in b.lower() for b in bodies)


def _card_says_failed(slack: FakeSlack) -> bool:
    return any(c.ok and "failed" in json.dumps(c.params).lower() for c in slack.calls_to("chat.update"))


def _leaks(text: str) -> list[str]:
    return [name for name, value in SECRETS.items() if value in text]


def test_the_runs_failed_with_the_echo_and_the_agents_output_in_their_errors(world: World) -> None:
    github_run, slack_view = world.store.get_run(world.runs["github"]), world.store.view(world.runs["slack"])
    assert github_run is not None and slack_view is not None
    assert "Validation Failed" in str(github_run.error)
    assert "calling the model with key" in slack_view.model_dump_json()
    assert _leaks(str(github_run.error) + slack_view.model_dump_json()) == []


def test_no_secret_reaches_a_log_line(world: World) -> None:
    logs = world.logs()
    assert "Validation Failed" in logs and "github.retry" in logs  # the failures were logged …
    assert _leaks(logs) == []  # … without the secrets in them


def test_no_secret_reaches_slack(world: World) -> None:
    sent = json.dumps([c.params for c in world.slack.calls])
    assert "calling the model with key" in sent
    assert _leaks(sent) == []


def test_no_secret_reaches_github(world: World) -> None:
    sent = json.dumps([r.body for r in world.github.requests])
    assert "Validation Failed" in sent
    assert _leaks(sent) == []


def test_no_secret_reaches_the_dashboard(world: World) -> None:
    pages = [httpx.get(f"{world.url}/runs/{run_id}", timeout=10).text for run_id in world.runs.values()]
    assert _leaks("".join(pages)) == []


def test_every_log_line_is_json_and_a_runs_lines_carry_its_run_id(world: World) -> None:
    lines = [json.loads(line) for line in world.logs().splitlines() if line.strip()]
    retries = [line for line in lines if line.get("event") == "github.retry"]
    # Retried in the webhook's first reply, the run's workflow and the surface hub's thread:
    assert sorted(r["what"].split()[0] for r in retries) == ["edit", "open", "post"]
    assert [r["run_id"] for r in retries] == [world.runs["github"]] * 3
