"""Campaign benchmark: one change rolled out over many repos by Baton, next to doing the same with
`xargs -P` and git in the same run.

    .venv/bin/python bench/campaign.py [--quick]

(a) Rollout: N repos (200; `--quick`: 20), a 0 s script agent appending a line, real checks
    (`test ! -e BROKEN`, in the sandbox), the local forge. A campaign (`canary: 3`, no PR limit,
    `max_concurrent_agents` = the baseline's parallelism) from submit to merged, every wave
    approved as it asks: wall time, and CPU per repo (this process and its children). Baseline: an
    `xargs -P` shell pipeline doing per repo what Baton does — clone, change, commit, checks, push
    a branch, checks again on a fresh checkout (the PR's), merge into main, push — with the same
    parallelism. Target: wall time <= 1.5x the baseline.
(b) Store size per repo after (a) (SQLite files under the home), beside the bare remotes' size.
(c) Chat: the campaign card's Slack calls (the card posted in a thread, edited as the campaign
    moves) for a campaign of M and of 4M repos, through the real Slack surface and its stand-in,
    beside the naive one message per event; target: calls per repo fall as the campaign grows.
(d) Dashboard: the per-repo table of a 1,000-repo campaign (`/runs/<id>/repos`, 100 a page, and
    filtered by state) over HTTP, median of 20, beside the same run's own page; target < 200 ms.
(e) Discovery: `discovery.search_repos` over 500 generated bare repos (100 with `--quick`), beside a
    sequential grep over the same mirrors and a fresh-clone loop.
A picture, campaign-overview.png, shows (a), (c) and (e).

A missed target never fails the benchmark; lost or duplicated work does (exit 1): every repo must
end with exactly one PR, merged, and its main must hold the change once.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bot/ and tests/ (the stand-ins)

from _common import Figure, conclude, median, pyplot, run_benchmark, save_figure, timed
from discovery import search_repos
from engine import cpu_seconds, git, git_env, make_remote, runtime_for

CHECKS = "test ! -e BROKEN"
PARALLEL = 2
"""The machine's cores: the baseline's `xargs -P` and the campaign's agents at once."""
WAIT_S = 1800.0
problems: list[str] = []

BASELINE = r"""
set -e
repo="$1"
work="$(mktemp -d)"
git clone -q "$REMOTES/$repo.git" "$work/w"
cd "$work/w"
echo renamed >> NOTES.md
git add -A
git commit -qm "rename the endpoint"
sh -c "$CHECKS"
git push -q origin HEAD:refs/heads/change
git clone -q -b change "$REMOTES/$repo.git" "$work/pr"
(cd "$work/pr" && sh -c "$CHECKS")
git reset -q --hard origin/main
git merge -q --no-ff origin/change -m "merge change"
git push -q origin main
rm -rf "$work"
"""


def remotes(root: Path, names: list[str]) -> dict[str, Path]:
    return {n: make_remote(root, n) for n in names}


def dir_size(path: Path, pattern: str = "**/*") -> int:
    return sum(p.stat().st_size for p in path.glob(pattern) if p.is_file())


# -- (a) the campaign and its baseline --------------------------------------------------------------------
def baseline(root: Path, names: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of the xargs pipeline over `names`."""
    made = remotes(root / "remotes", names)
    env = git_env() | {"REMOTES": str(root / "remotes"), "CHECKS": CHECKS}
    cpu = cpu_seconds()
    with timed() as t:
        done = subprocess.run(
            ["xargs", "-P", str(PARALLEL), "-n", "1", "sh", "-c", BASELINE, "baseline"],
            input="\n".join(names).encode(),
            env=env,
            capture_output=True,
        )
    if done.returncode != 0:
        problems.append(f"the baseline failed: {done.stderr.decode(errors='replace')[-500:]}")
    for name, remote in made.items():
        if git(["show", "main:NOTES.md"], remote) != "renamed":
            problems.append(f"baseline: {name}'s main does not hold the change once")
    return t.s, cpu_seconds() - cpu


def approve_waves(runtime: Any, run_id: str) -> str:
    """Approve each wave as the campaign asks for it, until the run ends; its end state."""
    from bot.domain.models import Actor, Decision, RunState, Source

    approver = Actor(source=Source.cli, id="bench", display="bench")
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        run = runtime.store.get_run(run_id)
        if run.state.terminal:
            return str(run.state.value)
        if run.state is RunState.awaiting_approval and run.waiting_for == "approval":
            runtime.runs.decide(run_id, approver, Decision.approve)
        time.sleep(0.05)
    return "timed out"


def campaign_config(made: dict[str, Path], **extra: Any) -> dict[str, Any]:
    return {
        "repos": [{"name": n, "url": str(p), "checks": CHECKS} for n, p in made.items()],
        "agents": [{"name": "renamer", "kind": "script", "command": ["sh", "-c", "echo renamed >> NOTES.md"]}],
        "routing": {"default_agent": "renamer"},
        "approval": {"approvers": ["cli:bench"]},
        "concurrency": {"per_run": PARALLEL},
        "playbooks": {
            "default": {
                "per_repo": {"agent": "@routed"},
                "campaign": {"canary": 3, "max_concurrent_agents": PARALLEL},
            }
        },
        **extra,
    }


def rollout(root: Path, names: list[str]) -> tuple[float, float, int]:
    """(wall s, CPU s, store bytes) of a Baton campaign over `names`."""
    from bot.engine.intake import build_spec
    from handlers.cli import cli_trigger

    made = remotes(root / "remotes", names)
    home = root / ".baton"
    with runtime_for(home, campaign_config(made)) as runtime:
        spec = build_spec(cli_trigger("rename the endpoint"), runtime.config, repos=names)
        cpu = cpu_seconds()
        with timed() as t:
            run_id = runtime.runs.submit(spec)
            end = approve_waves(runtime, run_id)
        cpu = cpu_seconds() - cpu
        if end != "merged":
            run = runtime.store.get_run(run_id)
            problems.append(f"the campaign ended {end}: {run.error if run else ''}")
        changes = runtime.store.changes(run_id)
        if sorted(c.repo for c in changes) != sorted(names) or any(c.state.value != "merged" for c in changes):
            problems.append("the campaign did not end with one merged PR per repo")
    for name, remote in made.items():
        if git(["show", "main:NOTES.md"], remote) != "renamed":
            problems.append(f"campaign: {name}'s main does not hold the change once")
    return t.s, cpu, dir_size(home, "*.sqlite*") + dir_size(home, "*.db*")


# -- (c) chat calls ------------------------------------------------------------------------------------------
def chat_calls(root: Path, size: int) -> tuple[int, int]:
    """(Slack calls, events) of a campaign over `size` repos asked for in a Slack thread."""
    import pytest
    from _chat_sources import Journal, runtimes

    from tests.fakes.slack_harness import slack_world

    names = [f"c{size}r{i:03d}" for i in range(size)]
    made = remotes(root / "remotes", names)
    config = campaign_config(made, slack={"channel_repos": {"C111": names}})
    with runtimes(root / ".baton") as start, pytest.MonkeyPatch.context() as mp, slack_world(mp, start, config) as w:
        journal = Journal(lambda: [f"slack {c.method}" for c in list(w.slack.calls)])
        mark = journal.mark()
        envelope, _ = w.mention("U0ALICE", "<@U0BATON> rename the endpoint")
        thread = envelope["event"]["ts"]
        store = w.runtime.store
        deadline = time.monotonic() + WAIT_S
        run_id = None
        while run_id is None and time.monotonic() < deadline:
            run_id = store.run_for_link(f"slack:thread:C111:{thread}")
            time.sleep(0.05)
        if run_id is None:
            problems.append(f"chat: no run for the {size}-repo Slack campaign")
            return 0, 0
        end = approve_waves(w.runtime, run_id)
        if end != "merged":
            problems.append(f"chat: the {size}-repo campaign ended {end}")
        journal.quiet()
        calls = [c for c in journal.since(mark) if c.startswith("slack chat.")]
        return len(calls), len(store.events(run_id))


# -- (d) the dashboard's per-repo table ----------------------------------------------------------------------
def dashboard(root: Path, repos: int = 1000, repeats: int = 20) -> dict[str, float]:
    """Median ms of the table's first page, a filtered page, and the run's own page."""
    import httpx

    from bot.app import Runtime
    from bot.config.models import parse_baton_file
    from bot.config.settings import Settings
    from bot.domain.models import ChangeSet, ChangeState, ChecksState
    from bot.engine.campaign_plan import CAMPAIGN_FACT, CampaignState
    from bot.web import create_web_app
    from tests.fakes.run_steps import spec_for
    from tests.fakes.served_app import serve

    names = [f"svc{i:04d}" for i in range(repos)]
    runtime = Runtime(Settings(home=root / ".baton", config=root / "absent.yml"), parse_baton_file({}))
    try:
        store = runtime.store
        store.create_run(spec_for(names))
        status = {r: ("done" if i % 2 else "failed" if i % 40 == 0 else "queued") for i, r in enumerate(names)}
        for i, repo in enumerate(names[1::2]):
            store.save_change(
                ChangeSet(
                    run_id="run1",
                    repo=repo,
                    branch="baton/x",
                    base="main",
                    number=1,
                    url=f"local://{repo}/pull/1",
                    head_sha="b" * 40,
                    order=i,
                    state=ChangeState.merged,
                    checks=ChecksState.passed,
                )
            )
        reasons = {r: "tests failed" for r, s in status.items() if s == "failed"}
        state = CampaignState(order=names, canary=names[:3], status=status, reasons=reasons)
        store.put_fact("run1", CAMPAIGN_FACT, state.model_dump(mode="json"))
        times: dict[str, float] = {}
        with serve(create_web_app(runtime)) as url, httpx.Client(timeout=60) as client:
            for label, path in (
                ("table", "/runs/run1/repos"),
                ("failed", "/runs/run1/repos?phase=failed"),
                ("run page", "/runs/run1"),
            ):
                client.get(url + path)  # warm: templates compiled, connections made
                samples = []
                for _ in range(repeats):
                    with timed() as t:
                        response = client.get(url + path)
                    if response.status_code != 200:
                        problems.append(f"dashboard {path}: {response.status_code}")
                    samples.append(t.ms)
                times[label] = median(samples)
        return times
    finally:
        runtime.shutdown()


def plot(wall: float, base_wall: float, chat: list[tuple[int, float, float]], search: dict[str, float], n: int) -> None:
    """campaign-overview.png: the campaign beside xargs -P, chat calls per repo as it grows, and the
    search over the generated repos beside its loops."""
    plt = pyplot()
    fig, (runs, calls, found) = plt.subplots(1, 3, figsize=(13, 3.8))
    runs.bar(["Baton campaign", "xargs -P"], [wall, base_wall], color=["#3b6ea5", "#999999"])
    runs.set_title(f"{n} repos, submit to all merged")
    runs.set_ylabel("seconds")
    sizes = [c[0] for c in chat]
    calls.plot(sizes, [c[1] for c in chat], "o-", color="#3b6ea5", label="Baton")
    calls.plot(sizes, [c[2] for c in chat], "k--", label="naive: one message per event")
    calls.set_title("Slack chat calls per repo")
    calls.set_xlabel("repos in the campaign")
    calls.legend()
    labels = ["mirrors fresh", "mirrors fetched", "no mirrors", "grep loop", "fresh-clone loop"]
    keys = ["warm", "refetch", "cold", "sequential_grep", "fresh_clone_loop"]
    found.barh(labels, [search[k] for k in keys], color=["#3b6ea5"] * 3 + ["#999999"] * 2)
    found.set_title("discovery search, seconds")
    fig.tight_layout()
    save_figure(fig, "campaign", "overview")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 repos, chat at 3 and 12, a smoke run")
    args = parser.parse_args()
    from bot.observability.logging import configure

    n = 20 if args.quick else 200
    chat_small = 3 if args.quick else 10
    started = time.monotonic()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as tmp:
        root = Path(tmp)
        configure("json", level=logging.INFO, log_file=root / "baton.log")  # as `baton run` logs
        names = [f"repo{i:03d}" for i in range(n)]
        base_wall, base_cpu = baseline(root / "baseline", names)
        wall, cpu, store_bytes = rollout(root / "baton", names)
        remote_bytes = dir_size(root / "baton" / "remotes")
        figures += [
            Figure(f"(a) campaign of {n} repos, submit to all merged", wall, "s", base_wall, "<= 1.5x xargs -P"),
            Figure("(a) CPU per repo", cpu / n * 1000, "ms", base_cpu / n * 1000),
            Figure(
                "(b) store size per repo",
                store_bytes / n / 1024,
                "KiB",
                remote_bytes / n / 1024,
                note="baseline: the bare remote's own size per repo",
            ),
        ]
        shutil.rmtree(root / "baton", ignore_errors=True)
        small_calls, small_events = chat_calls(root / "chat-small", chat_small)
        large_calls, large_events = chat_calls(root / "chat-large", chat_small * 4)
        figures += [
            Figure(
                f"(c) Slack chat calls per repo, {chat_small} repos",
                small_calls / chat_small,
                "calls",
                small_events / chat_small,
                note="baseline: one message per event (naive)",
            ),
            Figure(
                f"(c) Slack chat calls per repo, {chat_small * 4} repos",
                large_calls / (chat_small * 4),
                "calls",
                large_events / (chat_small * 4),
                "falls as the campaign grows",
            ),
        ]
        searched = 100 if args.quick else 500
        search = search_repos(searched, root / "discovery")
        figures += [
            Figure(
                f"(e) discovery over {searched} repos, mirrors fresh",
                search["warm"],
                "s",
                search["sequential_grep"],
                "in seconds",
                note="baseline: git grep over the same mirrors one after another",
            ),
            Figure(
                f"(e) discovery over {searched} repos, no mirrors yet",
                search["cold"],
                "s",
                search["fresh_clone_loop"],
                note="baseline: a for loop of fresh clone + git grep",
            ),
        ]
        plot(
            wall,
            base_wall,
            [
                (chat_small, small_calls / chat_small, small_events / chat_small),
                (chat_small * 4, large_calls / (chat_small * 4), large_events / (chat_small * 4)),
            ],
            search,
            n,
        )
        pages = dashboard(root / "dashboard")
        figures += [
            Figure(
                "(d) dashboard table of 1,000 repos, first page",
                pages["table"],
                "ms",
                pages["run page"],
                "< 200 ms",
                note="baseline: the same run's own page",
            ),
            Figure(
                "(d) dashboard table of 1,000 repos, failed only", pages["failed"], "ms", pages["run page"], "< 200 ms"
            ),
        ]
    print(json.dumps({"problems": problems}) if problems else "", file=sys.stderr)
    return conclude("campaign", figures, time.monotonic() - started, problems)


if __name__ == "__main__":
    run_benchmark(main)
