"""The `script` agent: runs a configured command (a codemod, a formatter, the demo's agent).

The task reaches the command as data only: placeholders are substituted inside argv entries (never
through a shell) and the same values are exported as BATON_* variables. The script reports back
through its exit status and output; two optional output lines let it say more:

    BATON_USAGE {"tokens_in": 120, "tokens_out": 40, "cost_usd": 0.002}   (each line adds to usage)
    BATON_SUMMARY text                                                      (overrides the summary)

It does not diff or commit: the engine reads the workspace afterwards.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from bot.agents.cli import SUMMARY_CHARS, TAIL_CHARS, exit_reason, positional, reports_start
from bot.agents.confined import GitTampered, run_confined
from bot.agents.process import ProcessOutcome, ProcessStartError, scrubbed_env
from bot.agents.sandbox import Confinement, ConfinementUnavailable, Sandbox, default_sandbox
from bot.config.agents import AgentConfig
from bot.config.env_refs import AgentEnvError, referenced_secrets
from bot.domain.models import AgentResult, AgentStatus, AgentTask, Usage
from bot.domain.ports import ProgressSink, StopCheck
from bot.observability.redaction import redact

USAGE_PREFIX = "BATON_USAGE "
SUMMARY_PREFIX = "BATON_SUMMARY "
_PLACEHOLDER = re.compile(r"\{(task|repo|plan|feedback|role|run_id)\}")
_UNSAFE_PATH = re.compile(r"[^A-Za-z0-9._-]")


def _trim(text: str, limit: int = SUMMARY_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def command_argv(command: list[str] | str, values: dict[str, str]) -> list[str]:
    """The argv to run: `command` (split with shlex if a string) with `{task}` etc. filled in.

    One pass per argument, so text substituted in is never scanned for placeholders again. An
    argument the config does not start with `-` never starts with one after substitution (a
    leading space is added, as the CLI adapters do): untrusted text is never read as an option.
    """
    args = shlex.split(command) if isinstance(command, str) else list(command)
    filled = [_PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in args]
    return [new if old.startswith("-") else positional(new) for old, new in zip(args, filled, strict=True)]


class _Reporter:
    """Watches output lines as they stream: usage, summary, and redacted progress."""

    def __init__(self, progress: ProgressSink, secrets: list[str], rates: tuple[float, float]):
        self._progress = progress
        self._secrets = secrets
        self._rates = rates
        self.usage = Usage()
        self.summary_override: str | None = None
        self.last_line = ""

    def __call__(self, line: str) -> None:
        shown = redact(line, self._secrets)
        self._progress("output", {"line": shown})
        stripped = line.strip()
        if stripped.startswith(USAGE_PREFIX) and self._add_usage(stripped):
            return
        if stripped.startswith(SUMMARY_PREFIX):
            self.summary_override = shown.strip()[len(SUMMARY_PREFIX) :]
            return
        if stripped:
            self.last_line = shown

    def _add_usage(self, line: str) -> bool:
        try:
            data = json.loads(line[len(USAGE_PREFIX) :])
            tokens_in = int(data.get("tokens_in", 0))
            tokens_out = int(data.get("tokens_out", 0))
            if "cost_usd" in data:
                cost = float(data["cost_usd"])
            else:
                cost = (tokens_in * self._rates[0] + tokens_out * self._rates[1]) / 1_000_000
        except (ValueError, TypeError, AttributeError):
            return False  # not a usage report after all: treat it as ordinary output
        if min(tokens_in, tokens_out, cost) < 0:
            return False
        self.usage = self.usage + Usage(tokens_in=tokens_in, tokens_out=tokens_out, cost_usd=cost)
        totals = self.usage.model_dump(include={"tokens_in", "tokens_out", "cost_usd"})
        self._progress("usage", totals)
        return True


class ScriptAgent:
    """An `Agent` that runs `config.command` in the workspace; see the module docstring."""

    def __init__(self, config: AgentConfig, home_root: Path, sandbox: Sandbox | None = None) -> None:
        self.config = config
        self.name = config.name
        self._home_root = home_root
        self._sandbox = sandbox or default_sandbox()

    def home_for(self, run_id: str) -> Path:
        """The per-run HOME this agent gets: `<home_root>/<run_id>/<agent>`."""
        return self._home_root / _UNSAFE_PATH.sub("_", run_id) / self.name

    def run(
        self,
        task: AgentTask,
        workdir: Path,
        should_stop: StopCheck,
        progress: ProgressSink,
    ) -> AgentResult:
        values = {
            "task": task.prompt,
            "repo": task.repo,
            "plan": task.plan,
            "feedback": task.feedback,
            "role": task.role,
            "run_id": task.run_id,
        }
        # A NUL cannot travel in argv or the environment; untrusted text must not crash the run.
        values = {key: value.replace("\0", "") for key, value in values.items()}
        argv = command_argv(self.config.command or [], values)
        if not argv:
            return self._failed(f"agent {self.name} has an empty command")
        home = self.home_for(task.run_id)
        try:
            env = scrubbed_env(self.config.env, home)
            secrets = referenced_secrets(self.config.env)
        except AgentEnvError as err:
            return self._failed(str(err))
        env.update({f"BATON_{key.upper()}": value for key, value in values.items()})
        # A group chat's shared transcript, one turn per line, for agents that take part in one.
        env["BATON_TRANSCRIPT"] = "\n".join(task.transcript).replace("\0", "")

        reporter = _Reporter(progress, secrets, self.config.usd_per_million_tokens)
        confinement = Confinement.of_agent(self.config)
        try:
            outcome = run_confined(
                argv,
                workdir,
                home,
                env,
                confinement,
                self._sandbox,
                self.config.timeout_s,
                should_stop,
                reporter,
                on_start=reports_start(progress),
            )
        except (ConfinementUnavailable, GitTampered) as err:
            return self._failed(str(err))
        except ProcessStartError as err:
            return self._failed(f"agent {self.name}: {err}")
        # A silent script is summed up by what it was asked (the step and the commit show it).
        asked = next((line.strip() for line in task.prompt.splitlines() if line.strip()), "")
        return self._result(outcome, reporter, secrets, f"done: {_trim(asked, 120)}" if asked else "")

    def _result(
        self, outcome: ProcessOutcome, reporter: _Reporter, secrets: list[str], silent: str = ""
    ) -> AgentResult:
        usage = reporter.usage + Usage(agent_seconds=outcome.duration_s, agent_steps=1)
        last = reporter.summary_override or reporter.last_line
        if outcome.cancelled:
            status, summary = AgentStatus.cancelled, "cancelled while running"
        elif outcome.timed_out:
            status = AgentStatus.timed_out
            summary = f"timed out after {self.config.timeout_s:g}s" + (f": {last}" if last else "")
        elif outcome.exit_code == 0:
            status, summary = AgentStatus.succeeded, last or silent or "finished with no output"
        else:
            how = exit_reason(outcome.exit_code)
            status, summary = AgentStatus.failed, f"{how}: {last}" if last else how
        return AgentResult(
            status=status,
            summary=_trim(summary),
            usage=usage,
            output_tail=redact(outcome.output, secrets)[-TAIL_CHARS:],
        )

    def _failed(self, reason: str) -> AgentResult:
        return AgentResult(
            status=AgentStatus.failed,
            summary=_trim(reason),
            usage=Usage(agent_steps=1),
            output_tail=reason,
        )
