"""What the integration checks of a run decided, as the approval gate and the merge train read it:
the outcome model (kept as a run fact bound to the heads it checked), whether the current heads are
red, and the reports people get. No I/O beyond the store, so the approval service (which handlers
import) can ask it without pulling in the engine's runner.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.domain.models import ChangeSet, ChangeState
from bot.store.store import Store

FACT = "integration"
STEP_NAME = "integration checks"


class IntegrationOutcome(BaseModel):
    """One run of the integration checks: on which heads, and what they said."""

    passed: bool
    heads: dict[str, str] = Field(default_factory=dict)
    output: str = ""
    stage: str = ""
    """"approval" (before approval is offered) or "merge" (before the first merge)."""


def red_on(store: Store, run_id: str, heads: dict[str, str]) -> str | None:
    """The output's tail when the integration checks last ran red on exactly `heads`, else None
    (never run, run on other heads, or green)."""
    fact = store.get_fact(run_id, FACT)
    if not fact:
        return None
    outcome = IntegrationOutcome.model_validate(fact)
    if outcome.passed or outcome.heads != heads:
        return None
    return outcome.output[-500:] or "(no output)"


def approval_refusal(store: Store, run_id: str, changes: list[ChangeSet]) -> str | None:
    """Why an approval of `changes` is refused: the integration checks are red on these very heads."""
    red = red_on(store, run_id, {c.repo: c.head_sha for c in changes if c.state is not ChangeState.closed})
    if red is None:
        return None
    return f"the integration checks failed on the change set at these heads, so it cannot be approved. Output:\n{red}"


def merge_report(outcome: IntegrationOutcome) -> str:
    """Why the train did not start: the integration checks are red at the approved heads."""
    return (
        "Nothing was merged: the integration checks failed on the approved heads of the change set. "
        f"Fix it with a follow-up, then approve again or `retry`. Output:\n{outcome.output[-800:]}"
    )
