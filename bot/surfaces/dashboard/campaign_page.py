"""The dashboard's per-repo table of a campaign (`/runs/<id>/repos?phase=&page=`): every repo of
the campaign in plan order with its state, wave, PR and the reason it failed, filtered by state and
a page at a time, so a campaign of a thousand repos renders as quickly as one of ten.

Read from the run, its PRs and the campaign's progress only (not its steps, events or audit trail).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlencode

from pydantic import BaseModel, Field

from bot.domain.models import utcnow
from bot.domain.records import RunView
from bot.engine.campaign_plan import Phase
from bot.surfaces import campaign
from bot.surfaces.dashboard.pages import _environment, _shared, scrubbed
from bot.surfaces.render import state_label

REPOS_PAGE_SIZE = 100


class RepoFilter(BaseModel):
    """`?phase=&page=`: one state of the burndown (empty: every repo) and the page."""

    phase: Phase | None = None
    page: int = Field(default=1, ge=1)

    def query(self, page: int) -> str:
        params = {"phase": self.phase.value if self.phase else "", "page": str(page)}
        return urlencode({k: v for k, v in params.items() if v})


def render_campaign_page(view: RunView, filters: RepoFilter, secrets: Iterable[str] = ()) -> str | None:
    """The page, or None when the run is not a campaign."""
    data = campaign.summary(view)
    if data is None:
        return None
    hidden = list(secrets)
    shown = scrubbed(view, hidden)
    rows = campaign.rows(shown, filters.phase.value if filters.phase else None)
    start = (filters.page - 1) * REPOS_PAGE_SIZE
    counts = [(p.value, data["counts"][p.value]) for p in Phase]
    return (
        _environment(hidden)
        .get_template("campaign.html")
        .render(
            v=shown,
            rows=rows[start : start + REPOS_PAGE_SIZE],
            first=start + 1,
            page=filters.page,
            pages=max(1, -(-len(rows) // REPOS_PAGE_SIZE)),
            more=len(rows) > start + REPOS_PAGE_SIZE,
            phase=filters.phase.value if filters.phase else "",
            counts=counts,
            total=data["total"],
            count_line=campaign.count_line(data),
            query=filters.query,
            **_shared(utcnow()),
            state=state_label,
        )
    )
