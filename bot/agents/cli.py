"""The shared body of every coding-agent CLI adapter (Claude Code, Codex, Aider, opencode, Cursor).

An adapter says only what differs per CLI: the argv and config files for one invocation
(`invocation`) and how to read its output (`parser`). This module does the rest, the same way
for all of them:

- a scrubbed environment (only what the agent's `env` lists, plus a per-run HOME) and the
  run's workspace as the working directory;
- the process in its own group through `run_process` (timeout and cancel kill the group);
- the process confined (bot/agents/confined.py: bwrap unless `isolation: none`, `.git` read-only
  and checksummed around the step);
- every output line parsed as it arrives into progress callbacks, and written (secrets
  redacted) to a transcript file capped at `limits.max_transcript_bytes` (tail kept);
- a watchdog that stops the CLI when it retries a failing endpoint more than `max_retries`
  times or spends more than the agent's step budget;
- the result: status from the exit code AND the stream's own verdict (`is_error` wins over a
  zero exit), permission denials, the files changed (from git), tokens and cost (the CLI's own
  cost when it reports one, else tokens priced with `usd_per_million_tokens`), and the session id, kept so
  a follow-up step can resume the session that produced the commit it builds on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.agents import gitstate, mcp
from bot.agents.confined import GitTampered, run_confined
from bot.agents.process import ProcessOutcome, ProcessStartError, scrubbed_env
from bot.agents.sandbox import Confinement, ConfinementUnavailable, Sandbox, default_sandbox
from bot.agents.stream import StreamParser, StreamState, cost_from_tokens, short
from bot.agents.transcript import Transcript
from bot.config.agents import AgentConfig
from bot.config.env_refs import AgentEnvError, expand_env, referenced_secrets
from bot.domain.models import FILES_KEPT, AgentResult, AgentStatus, AgentTask, Usage
from bot.domain.ports import ProgressSink, StopCheck
from bot.observability.redaction import redact

SUMMARY_CHARS = 300
TAIL_CHARS = 4000
TRANSCRIPT_BYTES = 5 * 1024 * 1024
"""The default cap of a transcript file (`limits.max_transcript_bytes`)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class Invocation:
    """One start of the CLI: its argv and what it adds to the scrubbed environment."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text) or "_"


def task_prompt(task: AgentTask) -> str:
    """The instruction the CLI receives: the request, then the plan, feedback and conversation."""
    parts = [task.prompt.strip()]
    if task.plan.strip():
        parts.append(f"Plan for the whole change:\n{task.plan.strip()}")
    if task.feedback.strip():
        parts.append(f"Feedback on the previous attempt:\n{task.feedback.strip()}")
    if task.transcript:
        parts.append("Conversation so far:\n" + "\n".join(task.transcript))
    if task.role == "reviewer":
        parts.append("You are reviewing the change in this repository. Do not edit files; answer LGTM if it is right.")
    elif task.role not in ("implementer", ""):
        parts.append(f"Your role: {task.role}.")
    return "\n\n".join(p for p in parts if p).replace("\0", "")


def positional(text: str) -> str:
    """A prompt passed as an argument must never be read as an option."""
    return " " + text if text.startswith("-") else text


def reports_start(progress: ProgressSink) -> Callable[[int], None]:
    """`run_process`'s `on_start` for an agent: its process group goes to progress as soon as it starts."""
    return lambda pgid: progress("process_started", {"pgid": pgid})


def exit_reason(code: int | None) -> str:
    """How a process that did not exit 0 ended, for people: its exit code or the signal that killed it."""
    return f"killed by signal {-(code or 0)}" if code is not None and code < 0 else f"exit code {code}"


def _trim(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CliAgent:
    """Base adapter; subclasses set `kind` and `stream` and implement `invocation`."""

    kind = ""
    stream: type[StreamParser] = StreamParser
    """The parser class for the CLI's output (constructed with the progress sink and the work tree)."""
    enforces_retries = False
    """True when the CLI has no retry cap of its own, so the watchdog counts its retries."""
    needs_final_event = True
    """Whether a run without the CLI's terminal event counts as failed even with exit code 0."""
    excludes: list[str] = []
    """Files the CLI writes into the work tree for itself, kept out of diffs and commits."""

    def __init__(
        self,
        config: AgentConfig,
        home_root: Path,
        sandbox: Sandbox | None = None,
        transcript_bytes: int = TRANSCRIPT_BYTES,
    ) -> None:
        self.config = config
        self.name = config.name
        self._home_root = home_root
        self._sandbox = sandbox or default_sandbox()
        self._transcript_bytes = transcript_bytes

    # -- what subclasses provide -----------------------------------------------------------------
    def invocation(self, task: AgentTask, workdir: Path, home: Path, resume: str | None) -> Invocation:
        raise NotImplementedError

    def parser(self, sink: ProgressSink, workdir: Path) -> StreamParser:
        return self.stream(sink, workdir)

    def base_url(self) -> str | None:
        """`base_url` with `${NAME}` taken from Baton's environment (AgentEnvError when NAME is unset)."""
        if self.config.base_url is None:
            return None
        return expand_env({"base_url": self.config.base_url})["base_url"]

    # -- the shared body ---------------------------------------------------------------------------
    def home_for(self, run_id: str) -> Path:
        """The per-run HOME (and config dir) this agent gets: `<home_root>/<run_id>/<agent>`."""
        return self._home_root / safe_name(run_id) / self.name

    def run(self, task: AgentTask, workdir: Path, should_stop: StopCheck, progress: ProgressSink) -> AgentResult:
        home = self.home_for(task.run_id)
        try:
            env = scrubbed_env(self.config.env, home)
            secrets = referenced_secrets(self.config.env) + mcp.secrets(self.config)
            if self.config.base_url:
                secrets += referenced_secrets({"base_url": self.config.base_url})
        except AgentEnvError as err:
            return self._failed(str(err))
        base = gitstate.head(workdir)
        gitstate.exclude(workdir, self.excludes)
        resume = self._resumable(home, workdir) if self.config.resume and task.feedback.strip() else None
        try:
            invocation = self.invocation(task, workdir, home, resume)
        except (OSError, ValueError) as err:
            return self._failed(f"agent {self.name}: {err}")
        env.update(invocation.env)

        transcripts = home / "transcripts"
        transcripts.mkdir(parents=True, exist_ok=True)
        transcript_path = transcripts / f"{safe_name(task.step_key)}.log"
        parser = self.parser(self._priced(progress), workdir)
        watchdog = _Watchdog(self, parser.state, should_stop)
        with Transcript(transcript_path, self._transcript_bytes) as transcript:

            def on_line(line: str) -> None:
                transcript.write(redact(line, secrets))
                parser.feed(line)

            try:
                outcome = run_confined(
                    invocation.argv,
                    workdir,
                    home,
                    env,
                    Confinement.of_agent(self.config),
                    self._sandbox,
                    self.config.timeout_s,
                    watchdog,
                    on_line,
                    on_start=reports_start(progress),
                )
            except (ConfinementUnavailable, GitTampered) as err:
                return self._failed(str(err))
            except ProcessStartError as err:
                return self._failed(f"agent {self.name}: {err}")

        result = self._result(outcome, parser.state, watchdog.reason, secrets)
        files = gitstate.changed_files(workdir) if base else sorted(parser.state.files)
        result = result.model_copy(
            update={"files_changed": files[:FILES_KEPT], "transcript_path": str(transcript_path)}
        )
        self._remember(home, task, base, result)
        return result

    def _priced(self, progress: ProgressSink) -> ProgressSink:
        """Usage progress carries a cost even from CLIs that report only tokens (priced from config)."""

        def sink(kind: str, data: dict[str, object]) -> None:
            if kind == "usage" and data.get("cost_usd") is None:
                tokens_in, tokens_out = data.get("tokens_in"), data.get("tokens_out")
                if isinstance(tokens_in, int) and isinstance(tokens_out, int):
                    price = self.config.usd_per_million_tokens
                    data = {**data, "cost_usd": cost_from_tokens(tokens_in, tokens_out, price)}
            progress(kind, data)

        return sink

    def _result(
        self, outcome: ProcessOutcome, state: StreamState, abort: str | None, secrets: list[str]
    ) -> AgentResult:
        cost = state.cost_usd
        if cost is None:
            cost = cost_from_tokens(state.tokens_in, state.tokens_out, self.config.usd_per_million_tokens)
        usage = Usage(
            tokens_in=state.tokens_in,
            tokens_out=state.tokens_out,
            cost_usd=cost,
            agent_seconds=outcome.duration_s,
            agent_steps=1,
        )
        status, summary = self._verdict(outcome, state, abort)
        return AgentResult(
            status=status,
            summary=_trim(redact(summary, secrets)),
            usage=usage,
            session_id=state.session_id,
            output_tail=redact(outcome.output, secrets)[-TAIL_CHARS:],
            permission_denials=[redact(d, secrets) for d in state.denials],
        )

    def _verdict(self, outcome: ProcessOutcome, state: StreamState, abort: str | None) -> tuple[AgentStatus, str]:
        said = state.summary
        if abort is not None:
            return AgentStatus.failed, abort
        if outcome.cancelled:
            return AgentStatus.cancelled, "cancelled while running"
        if outcome.timed_out:
            return AgentStatus.timed_out, f"timed out after {self.config.timeout_s:g}s" + (f": {said}" if said else "")
        if state.is_error:
            return AgentStatus.failed, f"{self.kind} reported an error: {state.error or said or 'no detail'}"
        if outcome.exit_code != 0:
            how = exit_reason(outcome.exit_code)
            detail = state.error or said or _last_line(outcome.output)
            return AgentStatus.failed, f"{how}: {detail}" if detail else how
        if self.needs_final_event and not state.finished:
            detail = state.error or _last_line(outcome.output)
            return AgentStatus.failed, f"{self.kind} ended without its final result: {detail}"
        if state.denials:
            denied = "; ".join(state.denials)
            if self.config.on_permission_denial == "fail":
                return AgentStatus.failed, f"permission denied: {denied}"
            said = f"{said} (permission denied: {denied})"
        return AgentStatus.succeeded, said or "finished with no message"

    # -- resume: only onto the commit the previous session produced ---------------------------------
    def _sessions_file(self, home: Path) -> Path:
        return home / "sessions.json"

    def _remember(self, home: Path, task: AgentTask, base: str | None, result: AgentResult) -> None:
        if result.session_id is None or base is None:
            return
        record = {"step": task.step_key, "session_id": result.session_id, "base": base, "ok": result.ok}
        self._sessions_file(home).write_text(json.dumps(record), encoding="utf-8")

    def _resumable(self, home: Path, workdir: Path) -> str | None:
        """The last session's id when the work tree stands on exactly that session's commit."""
        try:
            record = json.loads(self._sessions_file(home).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict) or not record.get("ok"):
            return None
        if gitstate.parent(workdir) != record.get("base"):
            return None
        session = record.get("session_id")
        return session if isinstance(session, str) else None

    def _failed(self, reason: str) -> AgentResult:
        return AgentResult(
            status=AgentStatus.failed, summary=_trim(reason), usage=Usage(agent_steps=1), output_tail=reason
        )


class _Watchdog:
    """The stop check handed to `run_process`: the run's cancel, plus the adapter's own limits."""

    def __init__(self, agent: CliAgent, state: StreamState, should_stop: StopCheck) -> None:
        self._agent = agent
        self._state = state
        self._should_stop = should_stop
        self.reason: str | None = None

    def __call__(self) -> bool:
        if self._should_stop():
            return True
        self.reason = self.reason or self._limit_reached()
        return self.reason is not None

    def _limit_reached(self) -> str | None:
        config, state = self._agent.config, self._state
        if self._agent.enforces_retries and state.retries > config.max_retries:
            error = short(state.last_retry_error or "no detail")
            return f"endpoint still failing after {config.max_retries} retries: {error}"
        budget = config.budget
        tokens = state.tokens_in + state.tokens_out
        if budget.max_tokens is not None and tokens > budget.max_tokens:
            return f"stopped: used {tokens} tokens, over its budget of {budget.max_tokens}"
        cost = state.cost_usd
        if cost is None:
            cost = cost_from_tokens(state.tokens_in, state.tokens_out, config.usd_per_million_tokens)
        if budget.max_usd is not None and cost > budget.max_usd:
            return f"stopped: step cost ${cost:.4f} is over its budget of ${budget.max_usd:.2f}"
        return None


def _last_line(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    return short(lines[-1], SUMMARY_CHARS) if lines else ""
