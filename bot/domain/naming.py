"""Names Baton gives things in git, and how to read them back: a run's branch is
`baton/<run-id>/<slug>`, deterministic for the run and always a valid ref name.
"""

from __future__ import annotations

import re
import unicodedata

_SLUG_MAX = 40
_SAFE_COMPONENT = re.compile(r"[^A-Za-z0-9_-]+")


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:_SLUG_MAX].rstrip("-") or "change"


def safe_component(value: str, fallback: str) -> str:
    """A path/ref component made only of letters, digits, `_` and `-` (never `.`, `/` or empty)."""
    return _SAFE_COMPONENT.sub("-", value).strip("-") or fallback


def branch_name(run_id: str, request: str) -> str:
    """`baton/<run-id>/<slug>`: deterministic for a run and always a valid git ref name.

    `request` is untrusted chat text: only lowercase ASCII letters, digits and hyphens survive.
    """
    return f"baton/{safe_component(run_id, 'run')}/{_slug(request)}"


def run_of_branch(branch: str) -> str | None:
    """The run id in one of Baton's branches, or None for anyone else's branch."""
    parts = branch.split("/")
    return parts[1] if len(parts) >= 3 and parts[0] == "baton" else None
