"""The sources of bench/chat_economy.py: each drives real runs through one source's real surface
(Baton's app and surface hub over HTTP, the stand-in from tests/fakes/ recording every call) and
counts the calls of each run, by service and method.

A driver is a context manager yielding `one(lines, seconds, steps=1) -> Run`: ask for a run as
people ask there, let its script agent print `lines` progress lines over `seconds` (in each of
`steps` sequential steps), pass the checks, approve it as people approve there, wait for the merge
and the surface's last word, and count what the stand-in received in between. Lost work is noted
in `problems`. Run as a script, this module does nothing.
"""

from __future__ import annotations

import re
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bot/ and tests/ (the stand-ins)

STEPS = (5, 20)
"""Playbooks `stepsK`: K sequential steps of the talker."""
QUIET_S = 1.0
WAIT_S = 120.0
SOURCES = ("slack", "github", "linear")
problems: list[str] = []
"""Lost work found along the way; any makes the benchmark exit 1."""

AGENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    lines, seconds = Path(sys.argv[1]).read_text().split()
    lines, seconds = int(lines), float(seconds)
    for i in range(lines):
        print(f"working: step {i + 1} of {lines}", flush=True)
        time.sleep(seconds / lines)
    with open("PROGRESS.md", "a") as notes:
        notes.write(f"{lines} progress lines in {seconds:g} s\\n")
    """
)


@dataclass
class Run:
    source: str
    lines: int
    seconds: float
    steps: int = 1
    run_id: str = ""
    wall_s: float = float("nan")
    calls: Counter[str] = field(default_factory=Counter)
    events: int = 0
    progress_events: int = 0

    @property
    def events_naive(self) -> int:
        """Events if every progress line were one: the lines, and every other event of the run."""
        return self.lines * self.steps + self.events - self.progress_events

    @property
    def messages(self) -> int:
        """Calls that say something to people: posts, edits, replies, reactions, activities."""
        return sum(n for call, n in self.calls.items() if MESSAGE.match(call))

    @property
    def naive(self) -> int:
        """One message per event, plus the same other calls (PRs, merges, lookups, state moves)."""
        return self.events_naive + self.total - self.messages

    @property
    def total(self) -> int:
        return sum(self.calls.values())


MESSAGE = re.compile(
    r"^(slack chat\.\w+"
    r"|github (POST issues/\{n\}/comments|PATCH issues/comments/\{n\}|POST issues/comments/\{n\}/reactions"
    r"|PATCH pulls/\{n\})"
    r"|linear (BatonCommentCreate|BatonCommentUpdate|BatonAgentActivityCreate))$"
)
"""The calls by which a surface talks (a PR body edit is the GitHub surface's linked-PRs section)."""


class Journal:
    """The calls one stand-in received, as `service method` strings, in order."""

    def __init__(self, read: Callable[[], list[str]]) -> None:
        self.read = read

    def since(self, mark: int) -> list[str]:
        return self.read()[mark:]

    def mark(self) -> int:
        return len(self.read())

    def quiet(self, seconds: float = QUIET_S, limit_s: float = 15.0) -> None:
        """Wait until no call arrived for `seconds` (a coalesced edit still due would come by then)."""
        deadline = time.monotonic() + limit_s
        seen, since = self.mark(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.mark()
            if now != seen:
                seen, since = now, time.monotonic()
            elif time.monotonic() - since >= seconds:
                return


def github_route(path: str) -> str:
    """`/repos/acme/api/issues/7/comments` → `issues/{n}/comments` (and {sha}, {branch}, {login})."""
    path = re.sub(r"^/repos/[^/]+/[^/]+/?", "", path)
    path = re.sub(r"git/refs/heads/.*", "git/refs/heads/{branch}", path)
    path = re.sub(r"(?<=collaborators/)[^/]+", "{login}", path)
    path = re.sub(r"\b[0-9a-f]{40}\b", "{sha}", path)
    return re.sub(r"(?<=/)\d+(?=/|$)|^\d+(?=/|$)", "{n}", path) or "/"


# -- the agent and its control file --------------------------------------------------------------------
def playbooks() -> dict[str, Any]:
    """`playbook=stepsK` in a request (K in STEPS): K sequential steps of the talker."""
    return {f"steps{k}": {"per_repo": {"sequential": [{"agent": "talker"}] * k}} for k in STEPS}


def asked(steps: int) -> str:
    return "write down the progress" + (f" playbook=steps{steps}" if steps > 1 else "")


def agent_config(root: Path) -> tuple[dict[str, Any], Path]:
    """The progress-printing script agent; what it prints is read from the control file per run."""
    root.mkdir(parents=True, exist_ok=True)
    script, control = root / "progress_agent.py", root / "progress.control"
    script.write_text(AGENT)
    agent = {"name": "talker", "kind": "script", "command": [sys.executable, str(script), str(control)]}
    return agent | {"timeout_s": 120}, control


def finish(run: Run, runtime: Any, journal: Journal, mark: int, started: float) -> Run:
    journal.quiet()
    run.wall_s = time.monotonic() - started
    run.calls = Counter(journal.since(mark))
    events = runtime.store.events(run.run_id)
    run.events = len(events)
    run.progress_events = sum(1 for e in events if e.kind == "agent_progress")
    return run


def waited(what: str, condition: Callable[[], Any], timeout: float = WAIT_S) -> Any:
    """`condition`'s truthy value, or None after noting the lost work."""
    from tests.fakes.served_app import until

    try:
        return until(what, condition, timeout=timeout)
    except AssertionError as err:
        problems.append(str(err))
        return None


def reached(runtime: Any, run_id: str, state: Any) -> bool:
    from tests.e2e.conftest import wait_for

    try:
        wait_for(runtime, run_id, state, timeout=WAIT_S)
        return True
    except AssertionError as err:
        problems.append(f"run {run_id}: {err}")
        return False


@contextmanager
def runtimes(home: Path) -> Iterator[Callable[[dict[str, Any]], Any]]:
    """A `start_runtime` as the e2e tests have it: a launched Runtime per config, ended afterwards."""
    from bot.app import Runtime
    from bot.config.models import parse_baton_file
    from bot.config.settings import Settings
    from tests.e2e.conftest import _close_open_runs

    started: list[Any] = []

    def start(config: dict[str, Any]) -> Any:
        runtime = Runtime(Settings(home=home, config=home.parent / "absent.yml"), parse_baton_file(config))
        runtime.launch()
        started.append(runtime)
        return runtime

    try:
        yield start
    finally:
        for runtime in started:
            _close_open_runs(runtime)
            runtime.shutdown()


# -- Slack: a mention, the card's Approve button ---------------------------------------------------------
@contextmanager
def slack_source(root: Path) -> Iterator[Callable[..., Run]]:
    import pytest

    from bot.domain.models import RunState
    from tests.e2e.conftest import make_repos, repo_entries
    from tests.fakes.slack_harness import button_value, slack_world

    alice, bob = "U0ALICE", "U0BOB"
    agent, control = agent_config(root)
    config = {
        "repos": repo_entries(make_repos(root, ["api"])),
        "agents": [agent],
        "playbooks": playbooks(),
        "approval": {"approvers": [f"slack:{bob}"]},
        "slack": {"channel_repos": {"C111": ["api"]}},
    }
    with runtimes(root / ".baton") as start, pytest.MonkeyPatch.context() as mp, slack_world(mp, start, config) as w:
        journal = Journal(lambda: [f"slack {c.method}" for c in list(w.slack.calls)])
        store = w.runtime.store

        def card(run_id: str) -> dict[str, Any] | None:
            where = store.get_fact(run_id, "slack:card")
            return w.slack.message("C111", where["ts"]) if where and where.get("ts") else None

        def said(run_id: str, ending: str) -> bool:
            message = card(run_id)
            return bool(message and message["blocks"][0]["text"]["text"].endswith(ending))

        def one(lines: int, seconds: float, steps: int = 1) -> Run:
            run = Run("slack", lines, seconds, steps)
            control.write_text(f"{lines} {seconds}")
            mark, started = journal.mark(), time.monotonic()
            envelope, _ = w.mention(alice, f"<@U0BATON> {asked(steps)}")
            thread = envelope["event"]["ts"]
            run.run_id = waited("the Slack run", lambda: store.run_for_link(f"slack:thread:C111:{thread}")) or ""
            if not run.run_id or not reached(w.runtime, run.run_id, RunState.awaiting_approval):
                return run
            message = waited(
                "the Approve button on the card",
                lambda: (m := card(run.run_id)) and button_value(m, "baton_approve") and m,
            )
            if message is None:
                return run
            value = button_value(message, "baton_approve")
            w.click(bob, "C111", store.get_fact(run.run_id, "slack:card")["ts"], "baton_approve", str(value), thread)
            if reached(w.runtime, run.run_id, RunState.merged):
                waited("the Slack card to say Merged", lambda: said(run.run_id, "Merged"))
            return finish(run, w.runtime, journal, mark, started)

        yield one


# -- GitHub: an issue comment, checks from webhooks, a maintainer's /baton approve ----------------------
@contextmanager
def github_source(root: Path) -> Iterator[Callable[..., Run]]:
    from bot.domain.models import ChecksState, RunState
    from bot.services.github.issues import status_marker
    from tests.fakes.github_stack import github_stack

    agent, control = agent_config(root)
    extra = {"agents": [agent], "playbooks": {"default": {"per_repo": {"agent": "talker"}}, **playbooks()}}
    with github_stack(root, ["api"], extra) as stack:
        stack.fake.grant("acme/api", "alice", "write")
        stack.fake.grant("acme/api", "maya", "maintain")
        journal = Journal(lambda: [f"github {r.method} {github_route(r.path)}" for r in list(stack.fake.requests)])

        def status(issue: int, run_id: str) -> str:
            bodies = [c.body for c in stack.fake.comments_on("acme/api", issue) if status_marker(run_id) in c.body]
            return bodies[0] if bodies else ""

        def one(lines: int, seconds: float, steps: int = 1) -> Run:
            run = Run("github", lines, seconds, steps)
            control.write_text(f"{lines} {seconds}")
            mark, started = journal.mark(), time.monotonic()
            issue = stack.fake.open_issue("acme/api", "Write down the progress", "Note it in PROGRESS.md.", "carol")
            comment = stack.fake.add_comment("acme/api", issue, f"@baton {asked(steps)}\nrepos: api", "alice")
            answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment("acme/api", issue, comment.id))
            run.run_id = str(answer.json().get("run_id") or "")
            if not run.run_id:
                problems.append(f"GitHub started no run: {answer.status_code} {answer.text[:300]}")
                return run
            if not reached(stack.runtime, run.run_id, RunState.awaiting_approval):
                return run
            for change in stack.runtime.store.changes(run.run_id):
                stack.fake.add_check_run("acme/api", change.head_sha, "test", "success")
                stack.hooks.send("check_suite", stack.hooks.check_suite_completed("acme/api", change.number))
            passed = lambda: all(c.checks is ChecksState.passed for c in stack.runtime.store.changes(run.run_id))  # noqa: E731
            if waited("the PR's checks to pass", passed) is None:
                return run
            approval = stack.fake.add_comment("acme/api", issue, "/baton approve", "maya")
            stack.hooks.send("issue_comment", stack.hooks.issue_comment("acme/api", issue, approval.id))
            if reached(stack.runtime, run.run_id, RunState.merged):
                waited("the status comment to say merged", lambda: "**merged**" in status(issue, run.run_id))
            return finish(run, stack.runtime, journal, mark, started)

        yield one


# -- Linear: an agent session on an issue, an approver's /baton approve comment ----------------------------
@contextmanager
def linear_source(root: Path) -> Iterator[Callable[..., Run]]:
    import pytest

    from bot.domain.models import RunState
    from tests.e2e.conftest import make_repos, repo_entries
    from tests.fakes.linear_harness import linear_world

    agent, control = agent_config(root)
    remotes = make_repos(root, ["api"])
    people: dict[str, Any] = {}

    def config(fake: Any, team: Any) -> dict[str, Any]:
        people["alice"] = fake.workspace.add_user("Alice", "alice@example.com", teams=[team])
        people["bob"] = fake.workspace.add_user("Bob", "bob@example.com", teams=[team])
        return {
            "repos": repo_entries(remotes),
            "agents": [agent],
            "playbooks": playbooks(),
            "approval": {"approvers": [f"linear:{people['bob'].id}"]},
            "linear": {"team_repos": {"ENG": ["api"]}, "allowed_teams": ["ENG"]},
        }

    with (
        runtimes(root / ".baton") as start,
        pytest.MonkeyPatch.context() as mp,
        linear_world(mp, start, config, root / "journal.log") as w,
    ):
        journal = Journal(lambda: [f"linear {c.operation}" for c in list(w.linear.calls)])
        ws = w.linear.workspace

        def closed(session_id: str) -> bool:
            with ws.lock:
                return any(
                    a.session_id == session_id and a.content["type"] == "response" for a in ws.activities.values()
                )

        def one(lines: int, seconds: float, steps: int = 1) -> Run:
            run = Run("linear", lines, seconds, steps)
            control.write_text(f"{lines} {seconds}")
            mark, started = journal.mark(), time.monotonic()
            issue = ws.add_issue(w.team, "Write down the progress", f"{asked(steps)}\n\nrepos: api")
            session = ws.add_session(issue, people["alice"])
            answer = w.send(w.hooks.session_event("created", session))
            run.run_id = str(answer.json().get("run_id") or "")
            if not run.run_id:
                problems.append(f"Linear started no run: {answer.status_code} {answer.text[:300]}")
                return run
            if not reached(w.runtime, run.run_id, RunState.awaiting_approval):
                return run
            w.send(w.hooks.comment_created(issue, people["bob"], "/baton approve"))
            if reached(w.runtime, run.run_id, RunState.merged):
                waited("the Linear card to say merged", lambda: (c := w.card(issue.id)) and "— merged" in c.body)
                waited("the session's closing response", lambda: closed(session.id))
            return finish(run, w.runtime, journal, mark, started)

        yield one


DRIVERS: dict[str, Callable[[Path], Any]] = {"slack": slack_source, "github": github_source, "linear": linear_source}
