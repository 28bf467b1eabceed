"""Where Baton reads its configuration and keeps its state when nothing says otherwise.

The configuration is the `baton.yml` in the working directory or, failing that, in the nearest
directory above it (as git finds a repository), so any command run inside a project uses that
project's file. The home — SQLite databases, workspaces, agents' homes, the local forge — is the
`.baton` directory beside that file: runs belong with the configuration that names their repos and
agents, so two projects on one machine never share (or recover) each other's runs, and a project
that kept its state in `./.baton` next to `./baton.yml` finds it where it always was. `BATON_CONFIG`
and `BATON_HOME` (or `baton --config` / `--home`) override either.

Only the standard library is imported here: `baton --help` reads nothing else.
"""

from __future__ import annotations

import re
from pathlib import Path

CONFIG_NAME = "baton.yml"
HOME_NAME = ".baton"


def find_config(start: Path) -> Path:
    """The `baton.yml` in `start` or its nearest parent that has one; else `baton.yml` in `start`
    (relative, as before: a missing file is an empty configuration)."""
    here = start.resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate if directory != here else Path(CONFIG_NAME)
    return Path(CONFIG_NAME)


def home_for(config: Path) -> Path:
    """The home that goes with a configuration file: `.baton` beside it."""
    return config.parent / HOME_NAME


_PASSWORD = re.compile(r"(://[^:/@]+):[^@/]*@")


def where(home: Path, database_url: str | None) -> str:
    """Where runs are stored, in words for a person: the home's path, or the database URL (its
    password hidden) when runs live in a server."""
    if database_url and not database_url.startswith("sqlite"):
        return _PASSWORD.sub(r"\1:***@", database_url)
    return str(home.resolve())


def has_store(home: Path, database_url: str | None) -> bool:
    """Whether there can be any run to read: a database server, or a SQLite file in the home."""
    if database_url and not database_url.startswith("sqlite"):
        return True
    if database_url:
        return Path(database_url.removeprefix("sqlite:///")).exists()
    return (home / "baton.db").exists()
