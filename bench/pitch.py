"""The pitch, end to end: one request renames a function across seven repos (a provider and six
clients), and against it a plain shell loop doing the same work one repo after another.

    .venv/bin/python bench/pitch.py [--quick] [--sources slack,github,linear]

Each repo holds `app.py` (functions `fetch_items_0` … `fetch_items_9`, the clients with callers of
their own) and `test_app.py`; its checks are its unit tests (`python3 -m unittest`), run for real
(confined, Baton's default). Run k asks to rename `fetch_items_k` to `list_items_k`; the agent is a
script that does it with `grep | xargs sed -i` in the workspace.

Baton is driven through each source's stand-in (tests/fakes/) with Baton's defaults: a Slack
mention in a channel whose repos are the seven (approved with the card's button); a GitHub issue
comment naming the seven (the stand-in's CI reports green on each PR as soon as it opens, a
maintainer comments `/baton approve`); a Linear agent session on an issue of a team whose repos are the seven
(approved by comment). The clock runs from the request to the run being merged; the approval is
given the moment it is asked for, so people's time is not in it.

The baseline, in the same run (each Baton run right after one of the loop's, so a shared machine's
drifting load hits both alike) on fresh copies of the same repos: a `sh` loop over the seven that,
per repo, clones, makes a branch, runs the same sed, runs the same checks, commits, pushes, opens
a PR and merges it — for the local forge (Slack, Linear) the merge is `git merge --no-ff` pushed
to main as the local forge does; for GitHub, `curl` opens the PR and merges it on the stand-in.

Figures: each source's median wall time beside its loop's, and the ratio. Target: ≤ 1.2x on
every source. Lost work (a run not merged, a repo whose main lacks the rename) exits 1.
`--quick`: one run per source and loop; otherwise three, medians reported.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bot/ and tests/ (the stand-ins)

from _chat_sources import problems as lost
from _chat_sources import reached, runtimes, waited
from _common import Figure, conclude, run_benchmark, timed

PROVIDER, CLIENTS = "api", ("web", "mobile", "admin", "billing", "search", "reports")
REPOS = (PROVIDER, *CLIENTS)
SYMBOLS = 10
SOURCES = ("slack", "github", "linear")
CHECKS = "python3 -m unittest -q test_app"
RENAME = (
    'old=$(printf %s "$1" | grep -o "fetch_items_[0-9]*" | head -n1); new=$(printf %s "$old" | sed s/fetch/list/); '
    'grep -rlw --include=*.py "$old" . | xargs -r sed -i "s/\\b$old\\b/$new/g"'
)
AGENT = {"name": "renamer", "kind": "script", "command": ["sh", "-c", RENAME, "sh", "{task}"], "timeout_s": 120}


# -- the repos -----------------------------------------------------------------------------------------------
def files(name: str) -> dict[str, str]:
    """A repo's code and tests: the provider defines the functions, each client has callers too."""
    defs = "".join(f"def fetch_items_{k}():\n    return [{k}, {k + 1}]\n\n\n" for k in range(SYMBOLS))
    uses = "".join(f"def show_{k}():\n    return len(fetch_items_{k}())\n\n\n" for k in range(SYMBOLS))
    app = defs + (uses if name != PROVIDER else "")
    tests = "import unittest\n\nimport app\n\n\nclass Items(unittest.TestCase):\n"
    tests += "".join(
        f"    def test_{k}(self):\n        self.assertEqual(app.fetch_items_{k}(), [{k}, {k + 1}])\n"
        for k in range(SYMBOLS)
    )
    return {"README.md": f"# {name}\n", "app.py": app.rstrip() + "\n", "test_app.py": tests}


def seeded(root: Path) -> dict[str, Path]:
    from tests.gitutil import make_remote

    root.mkdir(parents=True, exist_ok=True)
    return {name: make_remote(root, name, files(name)) for name in REPOS}


def entries(remotes: dict[str, Path]) -> list[dict[str, Any]]:
    return [
        {"name": n, "url": str(p), "checks": CHECKS, "depends_on": [] if n == PROVIDER else [PROVIDER]}
        for n, p in remotes.items()
    ]


def request(k: int) -> str:
    return f"rename fetch_items_{k} to list_items_{k}"


def renamed_on_main(remote: Path, k: int) -> bool:
    shown = subprocess.run(["git", "show", "main:app.py"], cwd=remote, capture_output=True, text=True, check=False)
    return f"list_items_{k}" in shown.stdout and f"fetch_items_{k}(" not in shown.stdout


def check_merged(source: str, remotes: dict[str, Path], k: int) -> None:
    missing = [n for n, r in remotes.items() if not renamed_on_main(r, k)]
    if missing:
        lost.append(f"{source} run {k}: main lacks the rename in {', '.join(missing)}")


# -- the baseline: a shell loop ------------------------------------------------------------------------------
LOOP = textwrap.dedent(
    """
    set -eu
    k=$1; forge=$2; work=$3; shift 3
    for spec in "$@"; do
      name=${spec%%=*}; url=${spec#*=}; dir=$work/$name-$k
      git clone -q "$url" "$dir"; cd "$dir"
      git checkout -q -b "rename-$k"
      grep -rlw --include=*.py "fetch_items_$k" . | xargs -r sed -i "s/\\bfetch_items_$k\\b/list_items_$k/g"
      PYTHONDONTWRITEBYTECODE=1 sh -c "$CHECKS"
      git -c user.name=loop -c user.email=loop@example.com commit -qam "rename fetch_items_$k"
      git push -q origin "rename-$k"
      if [ "$forge" = local ]; then
        git checkout -q main
        git -c user.name=loop -c user.email=loop@example.com merge -q --no-ff --no-edit "rename-$k"
        git push -q origin main
      else
        number=$(curl -sSf -H "Authorization: token $TOKEN" -X POST "$API/repos/acme/$name/pulls" \\
          -d "{\\"title\\": \\"rename\\", \\"head\\": \\"rename-$k\\", \\"base\\": \\"main\\"}" \\
          | python3 -c 'import json, sys; print(json.load(sys.stdin)["number"])')
        curl -sSf -H "Authorization: token $TOKEN" -X PUT "$API/repos/acme/$name/pulls/$number/merge" \\
          -d '{"merge_method": "squash"}' > /dev/null
      fi
      cd "$work"
    done
    """
)


def loop(remotes: dict[str, Path], k: int, work: Path, forge: str, env: dict[str, str] | None = None) -> float:
    work.mkdir(parents=True, exist_ok=True)
    argv = ["sh", "-c", LOOP, "loop", str(k), forge, str(work), *(f"{n}={p}" for n, p in remotes.items())]
    with timed() as took:
        done = subprocess.run(argv, env={**_env(), "CHECKS": CHECKS, **(env or {})}, capture_output=True, text=True)
    if done.returncode != 0:
        lost.append(f"the {forge} loop, run {k}: {done.stderr[-500:]}")
    check_merged(f"{forge} loop", remotes, k)
    return took.s


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "GITHUB_", "LINEAR_", "BATON_"))}


# -- Baton through each source -------------------------------------------------------------------------------
Driver = Callable[[int], float]
TIMELINES: list[str] = []
"""With `--timeline`: each counted run's events and steps, seconds from its first event."""
SHOW_TIMELINE = False


def note_timeline(source: str, runtime: Any, run_id: str) -> None:
    if not SHOW_TIMELINE or not run_id:
        return
    events = runtime.store.events(run_id)
    if not events:
        return
    t0 = events[0].at
    lines = [f"{(e.at - t0).total_seconds():7.2f}  event {e.kind} {e.data.get('repo', '')}" for e in events]
    for step in runtime.store.steps(run_id):
        took = f"{step.duration_s:.2f}s" if step.duration_s is not None else "?"
        at = (step.started_at - t0).total_seconds()
        lines.append(f"{at:7.2f}  step  {step.name} {step.repo or ''} {took}")
    TIMELINES.append(f"{source} {run_id}\n" + "\n".join(sorted(lines, key=lambda x: float(x.split()[0]))))


@contextmanager
def slack(root: Path) -> Iterator[Driver]:
    import pytest

    from bot.domain.models import RunState
    from tests.fakes.slack_harness import button_value, slack_world

    remotes = seeded(root / "remotes")
    config = {
        "repos": entries(remotes),
        "agents": [AGENT],
        "approval": {"approvers": ["slack:U0BOB"]},
        "slack": {"channel_repos": {"C111": list(REPOS)}},
    }
    with runtimes(root / ".baton") as start, pytest.MonkeyPatch.context() as mp, slack_world(mp, start, config) as w:
        store = w.runtime.store

        def one(k: int) -> float:
            started = time.monotonic()
            envelope, _ = w.mention("U0ALICE", f"<@U0BATON> {request(k)}")
            thread = envelope["event"]["ts"]
            run_id = waited("the Slack run", lambda: store.run_for_link(f"slack:thread:C111:{thread}")) or ""
            if not run_id or not reached(w.runtime, run_id, RunState.awaiting_approval):
                return float("nan")
            card = waited("the card's Approve button", lambda: _card_with_button(w, run_id, button_value))
            if card is None:
                return float("nan")
            ts = store.get_fact(run_id, "slack:card")["ts"]
            w.click("U0BOB", "C111", ts, "baton_approve", str(button_value(card, "baton_approve")), thread)
            wall = time.monotonic() - started if reached(w.runtime, run_id, RunState.merged) else float("nan")
            check_merged("slack", remotes, k)
            note_timeline("slack", w.runtime, run_id)
            return wall

        yield one


def _card_with_button(w: Any, run_id: str, button_value: Callable[..., Any]) -> Any:
    where = w.runtime.store.get_fact(run_id, "slack:card")
    message = w.slack.message("C111", where["ts"]) if where and where.get("ts") else None
    return message if message and button_value(message, "baton_approve") else None


@contextmanager
def github(root: Path) -> Iterator[Driver]:
    from bot.domain.models import ChecksState, RunState
    from tests.fakes.github_stack import github_stack
    from tests.gitutil import commit_to_remote

    # Baton's own GitHub defaults (the stand-in tests' fast settings off), but no CI polling.
    pace = {"seconds_between_requests": 0.0, "seconds_between_writes": 0.0, "retry_backoff_s": 1.0}
    extra = {
        "agents": [AGENT],
        "repos_extra": {n: {"checks": CHECKS, "depends_on": [PROVIDER] if n in CLIENTS else []} for n in REPOS},
    }
    with github_stack(root, list(REPOS), extra, mergeable_poll_interval_s=1.0, **pace) as stack:
        for name in REPOS:
            commit_to_remote(stack.remotes[name], "main", files(name), "the code")
            for person, role in (("alice", "write"), ("maya", "maintain")):
                stack.fake.grant(f"acme/{name}", person, role)
        store = stack.runtime.store

        def one(k: int) -> float:
            started = time.monotonic()
            issue = stack.fake.open_issue("acme/api", "Rename", request(k), "carol")
            text = f"@baton {request(k)}\nrepos: {', '.join(REPOS)}"
            comment = stack.fake.add_comment("acme/api", issue, text, "alice")
            answer = stack.hooks.send("issue_comment", stack.hooks.issue_comment("acme/api", issue, comment.id))
            run_id = str(answer.json().get("run_id") or "")
            ci = threading.Thread(target=green_as_opened, args=(stack, run_id, done := threading.Event()), daemon=True)
            ci.start()
            try:
                if not run_id or not reached(stack.runtime, run_id, RunState.awaiting_approval):
                    lost.append(f"github run {k}: {answer.status_code} {answer.text[:200]}")
                    return float("nan")
                green = lambda: all(c.checks is ChecksState.passed for c in store.changes(run_id))  # noqa: E731
                if waited("the PRs' checks to pass", green) is None:
                    return float("nan")
            finally:
                done.set()
                ci.join()
            approval = stack.fake.add_comment("acme/api", issue, "/baton approve", "maya")
            stack.hooks.send("issue_comment", stack.hooks.issue_comment("acme/api", issue, approval.id))
            wall = time.monotonic() - started if reached(stack.runtime, run_id, RunState.merged) else float("nan")
            check_merged("github", stack.remotes, k)
            note_timeline("github", stack.runtime, run_id)
            return wall

        yield one


def green_as_opened(stack: Any, run_id: str, done: threading.Event) -> None:
    """The stand-in's CI: each PR of the run goes green (a check run and its `check_suite`
    webhook) as soon as it is opened, as a CI that takes no time would report it."""
    reported: set[tuple[str, str]] = set()
    senders: list[threading.Thread] = []

    def report(repo: str, sha: str, number: int) -> None:
        stack.fake.add_check_run(f"acme/{repo}", sha, "test", "success")
        stack.hooks.send("check_suite", stack.hooks.check_suite_completed(f"acme/{repo}", number))

    while run_id and not done.is_set():
        for change in stack.runtime.store.changes(run_id):
            if (change.repo, change.head_sha) not in reported:  # each repo's CI reports on its own
                reported.add((change.repo, change.head_sha))
                senders.append(threading.Thread(target=report, args=(change.repo, change.head_sha, change.number)))
                senders[-1].start()
        done.wait(0.05)
    for sender in senders:
        sender.join()


@contextmanager
def linear(root: Path) -> Iterator[Driver]:
    import pytest

    from bot.domain.models import RunState
    from tests.fakes.linear_harness import linear_world

    remotes = seeded(root / "remotes")
    people: dict[str, Any] = {}

    def config(fake: Any, team: Any) -> dict[str, Any]:
        people["alice"] = fake.workspace.add_user("Alice", "alice@example.com", teams=[team])
        people["bob"] = fake.workspace.add_user("Bob", "bob@example.com", teams=[team])
        return {
            "repos": entries(remotes),
            "agents": [AGENT],
            "approval": {"approvers": [f"linear:{people['bob'].id}"]},
            "linear": {"team_repos": {"ENG": list(REPOS)}, "allowed_teams": ["ENG"]},
        }

    with (
        runtimes(root / ".baton") as start,
        pytest.MonkeyPatch.context() as mp,
        linear_world(mp, start, config, root / "journal.log") as w,
    ):
        ws = w.linear.workspace

        def one(k: int) -> float:
            started = time.monotonic()
            issue = ws.add_issue(w.team, "Rename", f"{request(k)}\n\nrepos: {', '.join(REPOS)}")
            answer = w.send(w.hooks.session_event("created", ws.add_session(issue, people["alice"])))
            run_id = str(answer.json().get("run_id") or "")
            if not run_id or not reached(w.runtime, run_id, RunState.awaiting_approval):
                lost.append(f"linear run {k}: {answer.status_code} {answer.text[:200]}")
                return float("nan")
            w.send(w.hooks.comment_created(issue, people["bob"], "/baton approve"))
            wall = time.monotonic() - started if reached(w.runtime, run_id, RunState.merged) else float("nan")
            check_merged("linear", remotes, k)
            note_timeline("linear", w.runtime, run_id)
            return wall

        yield one


DRIVERS: dict[str, Callable[[Path], Any]] = {"slack": slack, "github": github, "linear": linear}


@contextmanager
def loops_for(root: Path, sources: list[str]) -> Iterator[dict[str, Callable[[], float]]]:
    """source → one more run of its loop: the local-forge loop on remotes of its own (Slack,
    Linear), the GitHub loop against a GitHub stand-in of its own; each run renames the next symbol."""
    from tests.fakes.github_setup import TOKEN, start_fake
    from tests.gitutil import commit_to_remote

    local = seeded(root / "local")
    fake, remotes = start_fake(root / "github", list(REPOS))
    symbols = {"local": iter(range(SYMBOLS)), "github": iter(range(SYMBOLS))}
    try:
        for name in REPOS:
            commit_to_remote(remotes[name], "main", files(name), "the code")
        env = {"TOKEN": TOKEN, "API": fake.url}

        def on_github() -> float:
            return loop(remotes, next(symbols["github"]), root / "work-github", "github", env)

        def on_local() -> float:
            return loop(local, next(symbols["local"]), root / "work-local", "local")

        on_local()  # warm-up (page cache, first git and python3 start), not counted
        yield {source: on_github if source == "github" else on_local for source in sources}
    finally:
        fake.stop()


# -- figures ---------------------------------------------------------------------------------------------------
def _median(values: list[float]) -> float:
    done = [v for v in values if v == v]
    return statistics.median(done) if done else float("nan")


def figures_for(baton: dict[str, list[float]], loops: dict[str, list[float]]) -> list[Figure]:
    figures = []
    for source, walls in baton.items():
        base = _median(loops[source])
        value = _median(walls)
        figures.append(Figure(f"{source}: 7-repo rename, request → merged", value, "s", base, note="vs the shell loop"))
        figures.append(Figure(f"{source}: Baton / shell loop", value / base, "x", 1.0, target="<= 1.2x"))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one run per source and loop (about two minutes)")
    parser.add_argument("--sources", default=",".join(SOURCES), help="comma-separated: slack, github, linear")
    parser.add_argument("--timeline", action="store_true", help="print each run's events and steps")
    args = parser.parse_args()
    global SHOW_TIMELINE
    SHOW_TIMELINE = args.timeline
    sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    if not set(sources) <= set(SOURCES):
        parser.error(f"--sources: unknown source in {args.sources!r}")
    runs = [1] if args.quick else [1, 2, 3]
    from bot.observability.logging import configure

    baton: dict[str, list[float]] = {}
    loops: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="baton-bench-pitch-") as tmp, timed() as whole:
        root = Path(tmp)
        configure("json", level=logging.INFO, log_file=root / "baton.log")
        with loops_for(root / "loop", sources) as loop_once:
            for source in sources:
                with timed() as took, DRIVERS[source](root / source) as one:
                    one(0)  # warm-up, not counted: the first run pays one-time lookups
                    # Each Baton run right after a loop run: load drifting on a shared machine hits both.
                    for k in runs:
                        loops.setdefault(source, []).append(loop_once[source]())
                        baton.setdefault(source, []).append(one(k))
                print(f"{source}: {len(runs) + 1} runs in {took.s:.1f}s: {baton[source]}", file=sys.stderr)
    print(f"loops: {loops}", file=sys.stderr)
    print(*TIMELINES, sep="\n\n", file=sys.stderr)
    return conclude("pitch", figures_for(baton, loops), whole.s, lost)


if __name__ == "__main__":
    run_benchmark(main)
