"""Which settings in Baton's environment hold secrets, judged by their names, and the values to hide.

Baton knows its own secrets by name (its SecretStr settings); others reach its environment for the
libraries it uses — `OTEL_EXPORTER_OTLP_HEADERS` carries the trace collector's `Authorization`, a
proxy's password sits in a variable of its own. Any variable whose name looks like a secret (token,
secret, password, key, credential, cookie, authorization, or `*_HEADERS`) is redacted from logs,
stored text and pages, and never reaches a repo's checks or an agent unless an agent's `env` lists it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote

SECRET_NAME = re.compile(
    r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|PRIVATE_KEY|CREDENTIAL|COOKIE|AUTHORIZATION|HEADERS", re.IGNORECASE
)
MIN_LENGTH = 8
"""Shorter values are not redacted: `true` or `1` in a token-named flag would blank out every log."""


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def environ_secrets(environ: Mapping[str, str]) -> list[str]:
    """The values of secret-named variables, and of each header in a `*_HEADERS` list
    (`key=value,key2=value2`, values URL-encoded, as OTLP's exporters read them) with and without
    its auth scheme (`Bearer <token>` and `<token>`)."""
    found: list[str] = []
    for name, value in environ.items():
        if not is_secret_name(name):
            continue
        found.append(value)
        if name.upper().endswith("HEADERS"):
            for part in value.split(","):
                header = unquote(part.partition("=")[2]).strip()
                found += [header, header.partition(" ")[2].strip()]
    return [v for v in dict.fromkeys(found) if len(v) >= MIN_LENGTH]
