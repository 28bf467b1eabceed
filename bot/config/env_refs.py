"""`${NAME}` in baton.yml values: what an agent's `env`, a repo's `checks_env` and similar lists take
from Baton's own environment — expanded only where they are used, never copied anywhere else.

A missing NAME is an `AgentEnvError` naming it (never its value); `referenced_secrets` lists the
values such references pull in, so everything shown to people can redact them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class AgentEnvError(ValueError):
    """An agent's configured environment refers to a variable Baton itself does not have."""


def expand(key: str, value: str, source: Mapping[str, str], what: str = "agent environment") -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in source:
            raise AgentEnvError(f"{what} {key} refers to ${{{name}}}, but {name} is not set in Baton's environment")
        return source[name]

    return _REF.sub(one, value)


def expand_env(values: Mapping[str, str], *, source: Mapping[str, str] | None = None) -> dict[str, str]:
    """`values` with `${NAME}` taken from Baton's environment (as `scrubbed_env` does), nothing added."""
    parent = os.environ if source is None else source
    return {key: expand(key, value, parent) for key, value in values.items()}


def referenced_secrets(allowed: Mapping[str, str], *, source: Mapping[str, str] | None = None) -> list[str]:
    """The values an agent's config pulls in from Baton's environment: what `redact` should hide."""
    parent = os.environ if source is None else source
    found: list[str] = []
    for key, value in allowed.items():
        names = _REF.findall(value)
        found += [parent[n] for n in names if n in parent]
        if names and all(n in parent for n in names):
            found.append(expand(key, value, parent))  # e.g. "Bearer ${TOKEN}" as a whole
    return [s for s in dict.fromkeys(found) if s]
