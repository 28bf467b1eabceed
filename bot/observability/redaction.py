"""The one redactor: secret values and URL credentials blanked out of anything people see (logs,
events, cards, pages, agent output).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "[REDACTED]"

# scheme://user[:password]@host  ->  scheme://host
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/@\s'\"]+@")


def redact(text: str, secrets: Iterable[str], *, min_length: int = 4) -> str:
    """`text` with every occurrence of each secret replaced by `[REDACTED]`.

    Values shorter than `min_length` are left alone: blanking every "1" or "yes" would destroy the
    output while hiding nothing worth hiding.
    """
    for secret in sorted({s for s in secrets if len(s) >= min_length}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def strip_url_credentials(text: str) -> str:
    """`text` with credentials removed from any URL in it."""
    return _URL_CREDENTIALS.sub(r"\1", text)
