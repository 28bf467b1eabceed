"""Read-only commands start without the durable executor: `baton --help`, `--version` and
`runs list` (over a store that holds a run) never import DBOS (checked in a fresh interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.domain.models import Actor, ReplyTo, RunSpec, Source, Trigger
from tests.views import migrated_store

PROBE = """
import sys
from bot.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print("DBOS-LOADED" if any(m == "dbos" or m.startswith("dbos.") for m in sys.modules) else "NO-DBOS")
"""


def _cli(*args: str, cwd: Path) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BATON_")}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()


def _home_with_a_run(tmp_path: Path) -> Path:
    home = tmp_path / ".baton"
    home.mkdir()
    store = migrated_store(home)
    actor = Actor(source=Source.cli, id="me")
    trigger = Trigger(
        source=Source.cli,
        actor=actor,
        request="Rename the endpoint",
        reply_to=ReplyTo(source=Source.cli),
        delivery_id="d1",
    )
    store.create_run(RunSpec(run_id="r-listed", trigger=trigger, repos=["api"], playbook="default"))
    store.engine.dispose()
    (tmp_path / "baton.yml").write_text("repos: []\n")
    return home


def test_help_imports_no_dbos(tmp_path: Path) -> None:
    assert _cli("--help", cwd=tmp_path)[-1] == "NO-DBOS"


def test_version_imports_no_dbos(tmp_path: Path) -> None:
    assert _cli("--version", cwd=tmp_path)[-1] == "NO-DBOS"


def test_runs_list_over_a_store_with_a_run_lists_it_and_imports_no_dbos(tmp_path: Path) -> None:
    home = _home_with_a_run(tmp_path)
    lines = _cli("--home", str(home), "--config", str(tmp_path / "baton.yml"), "runs", "list", "--json", cwd=tmp_path)
    assert '"run_id": "r-listed"' in "\n".join(lines[:-1])
    assert lines[-1] == "NO-DBOS"
