"""Where a run's pages live (its page and its review page under `BATON_PUBLIC_URL`), and where a
PR's link points: a forge's own web page, or for a local-forge PR (`local://…`, which no browser
opens) that PR's part of the review page. Every surface links through here."""

from __future__ import annotations

from bot.domain.models import ChangeSet


def run_page_url(public_url: str, run_id: str) -> str:
    """Where people (and Linear's agent session, and the cards) find a run's page."""
    return f"{public_url.rstrip('/')}/runs/{run_id}"


def review_page_url(public_url: str, run_id: str) -> str:
    """`<public_url>/runs/<id>/diff`, or "" when Baton does not know its own address."""
    return f"{run_page_url(public_url, run_id)}/diff" if public_url else ""


def review_url_of(page_url: str) -> str:
    """The review page beside a run page's URL ("" stays "")."""
    return f"{page_url}/diff" if page_url else ""


def is_web(url: str) -> bool:
    return url.startswith(("https://", "http://"))


def pr_href(change: ChangeSet, review_url: str) -> str:
    """Where a link to `change` should go: its forge's page, else its anchor on the review page
    (`<review_url>#<repo>`), else "" (nothing a browser can open)."""
    if is_web(change.url):
        return change.url
    return f"{review_url}#{change.repo}" if review_url else ""


def diffstat_text(change: ChangeSet) -> str:
    """The PR's recorded diffstat ("3 files +10 \u22122"), or "" before its checks first ran."""
    return change.diffstat.text() if change.diffstat is not None else ""
