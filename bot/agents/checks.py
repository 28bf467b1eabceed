"""A repo's `checks` command, run on code an agent just wrote: the one runner both the engine's
checks step (in the run's workspace or a best-of worktree) and the local forge's PR checks (in a
fresh checkout of the head) use.

The command runs through `sh -c` (it is the operator's, from baton.yml) under `run_confined`:
confined like an agent unless `checks_isolation: none`, no network unless `checks_network: host`,
a HOME of its own, and an environment of exactly `PATH`, `HOME`, `LANG`/`LC_ALL`, `TMPDIR`,
`PYTHONDONTWRITEBYTECODE=1` and what `repos[].checks_env` lists (`${NAME}` from Baton's
environment, redacted from the output) — never Baton's own environment or the operator's HOME.

`run_set` runs a playbook's `integration_checks` the same way over a whole change set laid out as
`BATON_SET_DIR/<repo>`: always confined (bwrap, no network), an environment of the same base plus
`BATON_SET_DIR` and nothing else — no `checks_env`, so no secret reaches it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from bot.agents.confined import GitTampered, run_confined
from bot.agents.process import ProcessStartError, scrubbed_env
from bot.agents.sandbox import Confinement, ConfinementUnavailable, Sandbox
from bot.config.env_refs import AgentEnvError, referenced_secrets
from bot.config.models import RepoConfig
from bot.domain.checks import program_missing
from bot.domain.models import CheckOutcome
from bot.observability.redaction import redact

OUTPUT_TAIL = 4000
SET_CONFINEMENT = Confinement(
    who="the integration checks",
    off_switch="nothing: integration checks always run confined; run Baton where bubblewrap works",
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class ChecksRunner:
    """Runs `repo.checks` in a work tree; HOMEs live under `homes/<key>`."""

    def __init__(self, sandbox: Sandbox, homes: Path) -> None:
        self.sandbox = sandbox
        self.homes = homes

    def _home(self, key: str) -> Path:
        return self.homes.joinpath(*(_UNSAFE.sub("_", part) or "_" for part in key.split("/")))

    def run(
        self,
        repo: RepoConfig,
        workdir: Path,
        sha: str,
        *,
        key: str,
        timeout_s: float,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> CheckOutcome:
        """The outcome of `repo.checks` in `workdir` (at `sha`); `key` names its HOME."""
        assert repo.checks, "only repos with a checks command are checked"
        home = self._home(key)
        try:
            env = scrubbed_env({"PYTHONDONTWRITEBYTECODE": "1", **repo.checks_env}, home, what="checks_env")
            secrets = referenced_secrets(repo.checks_env)
        except AgentEnvError as err:
            return CheckOutcome(passed=False, output_tail=f"checks of {repo.name}: {err}", sha=sha)
        confinement = Confinement.of_checks(repo)
        argv = ["sh", "-c", repo.checks]
        try:
            outcome = run_confined(argv, workdir, home, env, confinement, self.sandbox, timeout_s, should_stop)
        except (ConfinementUnavailable, GitTampered, ProcessStartError) as err:
            return CheckOutcome(passed=False, output_tail=str(err), sha=sha)
        output = redact(outcome.output, secrets)
        if outcome.timed_out:
            output += f"\nchecks timed out after {timeout_s:.0f}s"
        missing = program_missing(outcome.exit_code, outcome.timed_out or outcome.cancelled)
        return CheckOutcome(passed=outcome.ok, output_tail=output[-OUTPUT_TAIL:], sha=sha, program_missing=missing)

    def run_set(
        self,
        command: str,
        set_dir: Path,
        *,
        key: str,
        timeout_s: float,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> CheckOutcome:
        """The outcome of `command` run in `set_dir` (every repo of the set under it, by name)."""
        home = self._home(key)
        env = scrubbed_env({"PYTHONDONTWRITEBYTECODE": "1", "BATON_SET_DIR": str(set_dir)}, home, what="integration")
        try:
            outcome = run_confined(
                ["sh", "-c", command], set_dir, home, env, SET_CONFINEMENT, self.sandbox, timeout_s, should_stop
            )
        except (ConfinementUnavailable, GitTampered, ProcessStartError) as err:
            return CheckOutcome(passed=False, output_tail=str(err))
        output = outcome.output
        if outcome.timed_out:
            output += f"\nintegration checks timed out after {timeout_s:.0f}s"
        return CheckOutcome(passed=outcome.ok, output_tail=output[-OUTPUT_TAIL:])
