"""The message of the commit an agent's work becomes: the request as its subject (what was asked,
as a reviewer reads it in `git log` and in the PR's commits), then which agent made it and what it
said, then the run. The request is untrusted text: it travels as one argv entry (no shell), with
control characters (a NUL cannot be in argv at all) removed."""

from __future__ import annotations

SUBJECT_CHARS = 72
BODY_CHARS = 2000


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch in "\n\t" or ch >= " ")


def commit_message(request: str, agent: str, summary: str, run_id: str) -> str:
    first = next((line.strip() for line in _printable(request).splitlines() if line.strip()), "")
    subject = first if len(first) <= SUBJECT_CHARS else first[: SUBJECT_CHARS - 1] + "…"
    body = _printable(f"{agent}: {summary or 'agent changes'}").strip()[:BODY_CHARS]
    return f"{subject or f'{agent} changes'}\n\n{body}\n\nBaton run {run_id}"
