"""Starting a process that runs untrusted code — an agent, or a repo's `checks` — the one way.

`run_confined` is `run_process` (own process group, timeout and cancel kill the whole group, a
bounded output tail) inside the sandbox its `Confinement` asks for (`Sandbox.wrap`), with the
work tree's `.git` checksummed around it (`GitSnapshot`): whatever the process changed there
that could make git run code is put back and the step fails naming it (`GitTampered`). A process
that must be confined and cannot be never starts (`ConfinementUnavailable`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import structlog

from bot.agents.process import ProcessOutcome, run_process
from bot.agents.sandbox import Confinement, Sandbox
from bot.scm.gitguard import GitSnapshot

log = structlog.get_logger(__name__)


class GitTampered(RuntimeError):
    """The process changed its work tree's git config, hooks or info; they were put back."""


def run_confined(
    argv: list[str],
    workdir: Path,
    home: Path,
    env: dict[str, str],
    confinement: Confinement,
    sandbox: Sandbox,
    timeout_s: float,
    should_stop: Callable[[], bool],
    on_line: Callable[[str], None] | None = None,
    *,
    on_start: Callable[[int], None] | None = None,
) -> ProcessOutcome:
    """Run `argv` in `workdir` confined as `confinement` says; see the module docstring.

    Raises `ConfinementUnavailable` (nothing started), `ProcessStartError`, or `GitTampered`.
    """
    wrapped = sandbox.wrap(argv, workdir, home, confinement)
    snapshot = GitSnapshot.take(workdir)
    try:
        outcome = run_process(wrapped, workdir, env, timeout_s, should_stop, on_line, on_start=on_start)
    finally:
        changed = snapshot.changes()
        if changed:
            log.warning("confinement.git_tampered", who=confinement.who, changed=changed)
    if changed:
        raise GitTampered(
            f"{confinement.who} changed {', '.join(changed)} — what could make Baton's git run its code; "
            "Baton put it back and failed the step"
        )
    return outcome
