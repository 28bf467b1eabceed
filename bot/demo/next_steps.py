"""What `baton demo` says last: the run it made, where that run is kept, the exact commands that
show it again (terminal and dashboard), and the sandbox's `baton.yml` as the start of one's own."""

from __future__ import annotations

import shlex
from pathlib import Path


def command_name(argv0: str) -> str:
    """How the person started Baton (`.venv/bin/baton` from `make demo`), so the commands printed
    work as typed from the same directory; `baton` when it was `python -m bot`."""
    return shlex.quote(argv0) if Path(argv0).name == "baton" else "baton"


def next_steps(run_id: str, config: Path, home: Path, baton: str = "baton") -> str:
    """The closing lines of the demo, every path absolute and quoted for a shell."""
    at = shlex.quote(str(home.resolve()))
    yml = shlex.quote(str(config.resolve()))
    return "\n".join(
        [
            "",
            "What next",
            f"  run:        {run_id}",
            f"  its state:  {home.resolve()} (SQLite: baton.db, the PRs under forge/)",
            f"  see it:     {baton} --home {at} runs show {run_id}",
            f"  all runs:   {baton} --home {at} runs list",
            f"  dashboard:  {baton} --home {at} serve   then open http://127.0.0.1:8000/runs/{run_id}",
            f"  your own:   cp {yml} baton.yml   (repos, a script agent, a playbook, an approval policy;",
            "              point `repos:` at your own remotes, then `baton doctor` checks it)",
        ]
    )
