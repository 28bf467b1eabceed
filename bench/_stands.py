"""What the ingress and first-reply benchmarks stand on: the stand-ins for Slack, GitHub and Linear
(tests/fakes, real HTTP servers on 127.0.0.1, in this process), deliveries about their objects, and
servers in processes of their own: `baton serve` (a temp BATON_HOME, SQLite, every source's secret
set, every API URL pointing at a stand-in) and the baselines of `_baselines.py`.

`World` builds deliveries as the services send them (bodies from the test fixtures: bolt's
app_mention sample, GitHub's issue_comment example, Linear's SDL) about objects that exist in the
stand-ins (the issue and comment a GitHub mention is on, the Linear issue that gets the label), and
reads back when each stand-in received Baton's first reply to one of them.

`make bench` runs every bench/*.py: run as a script this module does nothing.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # tests/fakes are the stand-ins; bench/ is run as scripts
    sys.path.insert(0, str(ROOT))

from _loadgen import LINEAR_STAMP, Delivery  # noqa: E402

from tests.fakes import slack_events  # noqa: E402
from tests.fakes.github_setup import TOKEN as GITHUB_TOKEN  # noqa: E402
from tests.fakes.github_setup import config_dict, start_fake  # noqa: E402
from tests.fakes.github_webhooks import Webhooks, validate  # noqa: E402
from tests.fakes.linear_api import FakeLinear  # noqa: E402
from tests.fakes.linear_webhooks import LinearWebhooks  # noqa: E402
from tests.fakes.slack_api import BOT_USER, FakeSlack  # noqa: E402
from tests.fakes.slack_harness import BOT_TOKEN as SLACK_TEST_TOKEN  # noqa: E402

SECRETS = {
    "slack": "bench-slack-signing-secret-4c2a",
    "github": "bench-github-webhook-secret-9e1f",
    "linear": "bench-linear-webhook-secret-77b0",
}
SLACK_TOKEN = SLACK_TEST_TOKEN  # the tests' stand-in token, not a secret
LINEAR_KEY = "lin_api_bench_5d6e7f"
REPO = "acme/api"
CHANNEL = "C111"
ASKER = "alice"
SLACK_ASKER = "U0ALICE"
ASK = "bump the version"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(what: str, condition: Callable[[], Any], timeout: float, every: float = 0.02) -> Any:
    """Poll `condition` until it is truthy and return it; None after `timeout` (the caller says what is lost)."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            print(f"  gave up waiting for {what} after {timeout:.0f}s", file=sys.stderr)
            return None
        time.sleep(every)
    return value


class Server:
    """A server in its own process (`baton serve` or a baseline), its output in a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path, port: int) -> None:
        self.name, self.argv, self.env, self.log, self.port = name, argv, env, log, port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, ready_path: str = "/healthz", timeout: float = 60) -> Server:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
            )
        if not until(f"{self.name} to answer", lambda: self._answers(ready_path), timeout, every=0.1):
            self.stop()
            raise RuntimeError(f"{self.name} did not start; its log: {self.log.read_text()[-2000:]}")
        return self

    def _answers(self, path: str) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited {self.process.returncode}: {self.log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.url + path, timeout=1).status_code < 500
        return False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; its children too (agents that outlived it)."""
        if self.process is None:
            return
        try:
            family = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        for child in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()


def expected_run_id(delivery: Delivery) -> str:
    """The run Baton derives from a delivery (a repeat of it maps to the same run): from what the
    source made — the GitHub comment, the Linear issue's update, the Slack event id."""
    from bot.domain.models import Actor, ReplyTo, Source, Trigger
    from bot.engine.intake import run_id_for

    body = json.loads(delivery.body)
    key = delivery.delivery_id
    if delivery.source == "github":
        key = f"github:comment:{body['comment']['id']}"
    elif delivery.source == "linear":
        key = f"linear:label:{body['data']['id']}:{body['data']['updatedAt']}"
    source = Source(delivery.source)
    trigger = Trigger(
        source=source,
        actor=Actor(source=source, id="-"),
        request="-",
        reply_to=ReplyTo(source=source),
        delivery_id=key,
    )
    return run_id_for(trigger)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GITHUB_", "LINEAR_", "BATON_"))}


def conclude(name: str, figures: list[Any], problems: list[str], seconds: float, plot: Callable[[], None]) -> int:
    """Print the table, save the pictures, publish; 1 when work was lost or duplicated."""
    from _common import publish, table

    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print()
    print(table(figures, title=f"bench/{name}.py: {seconds:.0f}s on {os.cpu_count()} cores, load {load}"))
    plot()
    publish(name, figures)
    if problems:
        print("\nLOST OR DUPLICATED WORK:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    return 0


class World:
    """The three stand-ins with one repo, one channel, one Linear team and one person who may ask."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.slack = FakeSlack(SLACK_TOKEN).start()
        self.slack.add_user(SLACK_ASKER, "Alice")
        self.github, self.remotes = start_fake(root, ["api"])
        self.github.grant(REPO, ASKER, "write")
        self.hooks = Webhooks(self.github, "", SECRETS["github"])
        self.linear = FakeLinear(api_key=LINEAR_KEY).start()
        ws = self.linear.workspace
        self.team = ws.add_team("ENG", "Engineering")
        self.label = ws.add_label("Baton")
        self.person = ws.add_user("Alice", "alice@example.com", teams=[self.team])
        self.linear_hooks = LinearWebhooks(self.linear.schema, ws)
        self._ids = itertools.count(1)
        self._github_template: dict[str, Any] | None = None

    def stop(self) -> None:
        self.slack.stop()
        self.github.stop()
        self.linear.stop()

    def baseline_env(self) -> dict[str, str]:
        """A baseline's environment: the same secrets as Baton's, Slack's API on the stand-in."""
        return clean_env() | {
            "SLACK_SIGNING_SECRET": SECRETS["slack"],
            "GITHUB_WEBHOOK_SECRET": SECRETS["github"],
            "LINEAR_WEBHOOK_SECRET": SECRETS["linear"],
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_API_URL": self.slack.api_url,
        }

    def env(self, home: Path, config: dict[str, Any], **extra: str) -> dict[str, str]:
        """`baton serve`'s environment: its own home and baton.yml, every source on a stand-in."""
        home.mkdir(parents=True, exist_ok=True)
        path = home / "baton.yml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        return clean_env() | {
            "BATON_HOME": str(home),
            "BATON_CONFIG": str(path),
            "SLACK_SIGNING_SECRET": SECRETS["slack"],
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_API_URL": self.slack.api_url,
            "GITHUB_WEBHOOK_SECRET": SECRETS["github"],
            "GITHUB_TOKEN": GITHUB_TOKEN,
            "GITHUB_API_URL": self.github.url,
            "LINEAR_WEBHOOK_SECRET": SECRETS["linear"],
            "LINEAR_API_KEY": LINEAR_KEY,
            "LINEAR_API_URL": self.linear.url,
            **extra,
        }

    def config(self, agent_shell: str, **sections: Any) -> dict[str, Any]:
        """baton.yml: the one repo (on the GitHub stand-in), one script agent, and every source
        mapped to the repo; the GitHub client without its write spacing (the stand-in has no
        secondary rate limit; real GitHub's 1 write/s would bound a burst there, not Baton)."""
        config = config_dict(self.remotes)
        config["repos"][0]["checks"] = "true"
        del config["github"]["webhook_answer_s"]  # GitHub's answer deadline as shipped (5 s), not the tests' 9 s
        return config | {
            "agents": [{"name": "bench", "kind": "script", "command": ["sh", "-c", agent_shell], "timeout_s": 600}],
            "routing": {"default_agent": "bench"},
            "slack": {"channel_repos": {CHANNEL: ["api"]}},
            "linear": {"team_repos": {"ENG": ["api"]}},
            **sections,
        }

    # -- deliveries -------------------------------------------------------------------------------------
    def delivery(self, source: str) -> Delivery:
        return {"slack": self.slack_mention, "github": self.github_mention, "linear": self.linear_label}[source]()

    def slack_mention(self) -> Delivery:
        """An app_mention of the bot in the channel, starting a thread of its own."""
        event = slack_events.app_mention(SLACK_ASKER, f"<@{BOT_USER}> {ASK}", CHANNEL)
        envelope = slack_events.event_callback(event, event_id=f"EvB{next(self._ids):08d}")
        return Delivery("slack", envelope["event_id"], json.dumps(envelope).encode(), "event_callback")

    def github_mention(self) -> Delivery:
        """`@baton …` commented on an issue of its own (created in the stand-in with its comment)."""
        number = self.github.open_issue(REPO, f"Task {next(self._ids)}", "Please bump the version.", ASKER)
        comment = self.github.add_comment(REPO, number, f"@baton {ASK}", ASKER)
        if self._github_template is None:
            self._github_template = self.hooks.issue_comment(REPO, number, comment.id)
            validate("issue_comment", "created", self._github_template)
        body = copy.deepcopy(self._github_template)
        issue, note = body["issue"], body["comment"]
        issue["number"] = number
        issue["title"] = f"Task {number}"
        issue["url"] = f"{self.github.url}/repos/{REPO}/issues/{number}"
        issue["html_url"] = f"{self.github.url}/{REPO}/issues/{number}"
        note["id"] = comment.id
        note["url"] = f"{self.github.url}/repos/{REPO}/issues/comments/{comment.id}"
        # Baton reads the comment back before it counts: the body must say what GitHub has.
        note["created_at"], note["updated_at"] = comment.created_at, comment.updated_at
        delivery = f"bench-{number:06d}-{comment.id}"
        return Delivery("github", delivery, json.dumps(body).encode(), "issue_comment")

    def linear_label(self) -> Delivery:
        """The Baton label added to an issue of its own (created in the stand-in)."""
        ws = self.linear.workspace
        issue = ws.add_issue(self.team, f"Task {next(self._ids)}", ASK)
        payload = self.linear_hooks.issue_labelled(issue, self.label, self.person)
        payload["webhookTimestamp"] = int(LINEAR_STAMP)
        return Delivery("linear", f"bench-{issue.id}", json.dumps(payload).encode(), "Issue")

    # -- what the stand-ins received -----------------------------------------------------------------------
    @staticmethod
    def reply_key(delivery: Delivery) -> str:
        """Where Baton's first reply to `delivery` goes: the Slack thread, the GitHub issue, the Linear issue."""
        body = json.loads(delivery.body)
        if delivery.source == "slack":
            return str(body["event"]["ts"])
        if delivery.source == "github":
            return str(body["issue"]["number"])
        return str(body["data"]["id"])

    def replies(self, source: str, card: bool = True) -> dict[str, list[float]]:
        """When each first reply of `source` arrived (time.monotonic), by `reply_key`: Slack's
        chat.postMessage of Baton's card in a thread (any message with `card=False`), a new GitHub
        issue comment, a Linear commentCreate."""
        found: dict[str, list[float]] = {}
        if source == "slack":
            for call in self.slack.calls_to("chat.postMessage"):
                if not card or str(call.params.get("text", "")).startswith("Baton run "):
                    found.setdefault(str(call.params.get("thread_ts")), []).append(call.at)
        elif source == "github":
            for request in self.github.calls("POST", r"^/repos/[^/]+/[^/]+/issues/\d+/comments$"):
                found.setdefault(request.path.split("/")[-2], []).append(request.at)
        else:
            for call in self.linear.mutations("BatonCommentCreate"):
                found.setdefault(str(call.variables["input"]["issueId"]), []).append(call.at)
        return found

    def first_reply(self, delivery: Delivery, card: bool = True) -> float | None:
        """When the stand-in received the first reply about `delivery`, or None (not yet)."""
        times = self.replies(delivery.source, card).get(self.reply_key(delivery))
        return min(times) if times else None

    def github_reaction(self, delivery: Delivery) -> float | None:
        """When the 👀 on the comment of a GitHub mention arrived, or None."""
        comment = json.loads(delivery.body)["comment"]["id"]
        posts = [r.at for r in self.github.calls("POST", f"^/repos/{REPO}/issues/comments/{comment}/reactions$")]
        return min(posts) if posts else None


if __name__ == "__main__":
    print("bench/_stands.py: stand-ins and servers for the benchmarks, nothing to measure", file=sys.stderr)
