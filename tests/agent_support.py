"""Helpers for the agent adapter tests: recorded streams, the replay shim, a work tree, progress.

An adapter under test runs the replay shim (`tests/tools/replay_agent.py`) as its CLI, so the
whole real path runs: argv and config files built, scrubbed environment, process group, streamed
parsing, transcript, git diff. Only the model is missing: the shim prints a real recording.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.agents.cli import CliAgent
from bot.agents.registry import CLI_ADAPTERS
from bot.agents.stream import StreamParser
from bot.config.agents import AgentConfig
from bot.domain.models import AgentResult, AgentTask
from bot.scm.git import run_git

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT.parent / "shared" / "fixtures" / "agents"
"""Real CLI output recorded against a scripted model server (see its README)."""
ASSEMBLED = ROOT / "tests" / "fixtures" / "agents"
"""Cursor streams assembled from its documented event shapes (it cannot run here)."""
SHIM = ROOT / "tests" / "tools" / "replay_agent.py"


class Progress:
    """A ProgressSink that keeps every callback, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        self.events.append((kind, dict(data)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [data for k, data in self.events if k == kind]

    def tools(self) -> list[str]:
        return [data["tool"] for data in self.of("tool")]


def make_task(**fields: Any) -> AgentTask:
    data: dict[str, Any] = {"run_id": "run-1", "repo": "svc", "step_key": "svc/01-impl", "prompt": "create hello.txt"}
    data.update(fields)
    return AgentTask.model_validate(data)


def work_tree(root: Path) -> Path:
    """A git work tree with one commit (README.md), as the engine's workspace would be."""
    tree = root / "work"
    tree.mkdir(parents=True)
    run_git(["init", "--quiet", "--initial-branch=main"], tree)
    (tree / "README.md").write_text("# svc\n", encoding="utf-8")
    run_git(["add", "-A"], tree)
    run_git(["commit", "--quiet", "-m", "initial"], tree)
    return tree


def replay_agent(
    kind: str, tmp_path: Path, recording: Path, *, env: dict[str, str] | None = None, **fields: Any
) -> CliAgent:
    """The adapter for `kind` with the replay shim (printing `recording`) as its CLI. Where the
    shim records how it was started (REPLAY_RECORD, REPLAY_CHILD_PID) is writable to it, confined."""
    env = env or {}
    outside = [str(Path(env[k]).parent) for k in ("REPLAY_RECORD", "REPLAY_CHILD_PID") if k in env]
    config = AgentConfig.model_validate(
        {
            "name": f"{kind}-replay",
            "kind": kind,
            "command": [sys.executable, str(SHIM), str(recording)],
            "env": env,
            "timeout_s": fields.pop("timeout_s", 20),
            "isolation_writable": outside,
            **fields,
        }
    )
    return CLI_ADAPTERS[kind](config, home_root=tmp_path / "homes")


def run(agent: CliAgent, workdir: Path, task: AgentTask | None = None, progress: Progress | None = None) -> AgentResult:
    return agent.run(task or make_task(), workdir, lambda: False, progress or Progress())


def recorded_call(path: Path) -> dict[str, Any]:
    """What the shim recorded about how it was started (REPLAY_RECORD)."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def replay(
    kind: str, tmp_path: Path, recording: Path, exit_code: int = 0, **fields: Any
) -> tuple[AgentResult, Progress]:
    """Run the `kind` adapter over `recording` (the CLI exiting with `exit_code`): its result and progress."""
    agent = replay_agent(kind, tmp_path, recording, env={"REPLAY_EXIT": str(exit_code)}, **fields)
    progress = Progress()
    return run(agent, tmp_path, progress=progress), progress


def feed_recording(stream: type[StreamParser], recording: Path, root: Path | None = None) -> Progress:
    """The progress a CLI's parser reports while it reads every line of `recording`, as it would live."""
    progress = Progress()
    parser = stream(progress, root)
    for line in recording.read_text().splitlines():
        parser.feed(line)
    return progress


@dataclass
class Started:
    """One run of an adapter through the shim, and what the shim recorded about how it was started."""

    agent: CliAgent
    result: AgentResult
    argv: list[str]
    env: dict[str, str]


def start(
    kind: str,
    tmp_path: Path,
    recording: Path,
    *,
    workdir: Path | None = None,
    task: AgentTask | None = None,
    env: dict[str, str] | None = None,
    **fields: Any,
) -> Started:
    """Run the `kind` adapter once over `recording` (in `workdir`, default `tmp_path`) and record its start."""
    record = tmp_path / "call.json"
    agent = replay_agent(kind, tmp_path, recording, env={"REPLAY_RECORD": str(record), **(env or {})}, **fields)
    result = run(agent, workdir or tmp_path, task)
    call = recorded_call(record)
    return Started(agent, result, call["argv"], call["env"])


def follow_up_argv(kind: str, tmp_path: Path, recording: Path, follow_up: AgentTask) -> list[str]:
    """The argv of `follow_up` after a successful step of the same agent whose work the engine committed."""
    tree = work_tree(tmp_path)
    record = tmp_path / "call.json"
    env = {"REPLAY_RECORD": str(record), "REPLAY_WRITE": "hello.txt=hi"}
    agent = replay_agent(kind, tmp_path, recording, env=env)
    assert run(agent, tree).ok
    run_git(["add", "-A"], tree)
    run_git(["commit", "--quiet", "-m", "agent work"], tree)  # what the engine does after a success
    run(agent, tree, follow_up)
    argv: list[str] = recorded_call(record)["argv"]
    return argv
