"""The buttons of a run's Slack card and what they carry: the action ids the Slack handlers route
on, each button's value (the run and the digest of the heads people saw), the confirmation dialogs,
and the select that drops a repo from a plan awaiting approval. Pure functions, no I/O.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.domain.models import RunState
from bot.domain.records import RunView
from bot.store.store import shas_digest
from bot.surfaces.render import next_actions, one_line, short_sha

Block = dict[str, Any]
CONFIRM_TEXT_LIMIT = 300
"""Slack's limit on a confirmation dialog's text."""
ACTIONS_BLOCK = "baton_actions"
ACTION_IDS = {
    "cancel": "baton_cancel",
    "approve": "baton_approve",
    "reject": "baton_reject",
    "retry": "baton_retry",
    "revert": "baton_revert",
    "drop": "baton_drop",
    "close": "baton_close",
}
DROP_OPTIONS = 100
"""Slack's limit on a select's options: a plan of more repos lists its first 100 (`@baton drop <repo>` takes any)."""


class ButtonValue(BaseModel):
    """What a button carries: the run, and for decisions the digest of the heads people saw."""

    run: str
    heads: str | None = None
    repo: str | None = None
    """The repo a "drop from the plan" option names."""


def button_value(run_id: str, heads: dict[str, str] | None = None) -> str:
    value = ButtonValue(run=run_id, heads=shas_digest(heads) if heads is not None else None)
    return value.model_dump_json(exclude_none=True)


def parse_button_value(raw: str) -> ButtonValue | None:
    try:
        return ButtonValue.model_validate(json.loads(raw))
    except (ValueError, ValidationError):
        return None


def _button(action: str, text: str, value: str, style: str | None = None, confirm: Block | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": ACTION_IDS[action],
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _confirm(title: str, text: str, yes: str, no: str) -> Block:
    return {
        "title": {"type": "plain_text", "text": title[:100]},
        "text": {
            "type": "plain_text",
            "text": text if len(text) <= CONFIRM_TEXT_LIMIT else text[: CONFIRM_TEXT_LIMIT - 1] + "…",
        },
        "confirm": {"type": "plain_text", "text": yes[:30]},
        "deny": {"type": "plain_text", "text": no[:30]},
    }


def buttons(view: RunView) -> list[Block]:
    run_id = view.run.run_id
    heads = {c.repo: c.head_sha for c in view.changes}
    open_prs = ", ".join(f"{c.repo} #{c.number} at {short_sha(c.head_sha)}" for c in view.changes)
    made: list[Block] = []
    for action in next_actions(view):
        if action == "cancel":
            confirm = _confirm("Cancel this run?", "The agents stop and nothing is merged.", "Cancel run", "Keep going")
            made.append(_button("cancel", "Cancel", button_value(run_id), "danger", confirm))
        elif action == "approve":
            confirm = _confirm("Approve & merge?", f"Merge {open_prs or 'the PRs'}.", "Approve & merge", "Not yet")
            made.append(_button("approve", "Approve & merge", button_value(run_id, heads), "primary", confirm))
        elif action == "reject":
            made.append(_button("reject", "Reject", button_value(run_id, heads), "danger"))
        elif action == "retry":
            label = "Retry failed" if view.campaign else "Retry"
            made.append(_button("retry", label, button_value(run_id)))
        elif action == "close":
            confirm = _confirm("Close this campaign?", "Nothing more starts or merges.", "Close", "Keep going")
            made.append(_button("close", "Close campaign", button_value(run_id), "danger", confirm))
        elif action == "revert":
            confirm = _confirm(
                "Revert the whole set?",
                "Baton opens a revert PR per merged PR, in reverse merge order; they merge after an approval.",
                "Open revert PRs",
                "Keep",
            )
            made.append(_button("revert", "Revert", button_value(run_id), None, confirm))
    run = view.run
    if run.state is RunState.awaiting_approval and run.waiting_for == "plan" and len(run.spec.repos) > 1:
        made.append(_drop_select(run_id, run.spec.repos))
    return made


def _drop_select(run_id: str, repos: list[str]) -> Block:
    """A select that takes one repo out of the plan awaiting approval (one block, however many repos)."""
    values = [(r, ButtonValue(run=run_id, repo=r).model_dump_json(exclude_none=True)) for r in repos]
    options = [
        {"text": {"type": "plain_text", "text": one_line(repo, 75)}, "value": value}
        for repo, value in values
        if len(value) <= 150  # Slack's limit on an option's value
    ]
    return {
        "type": "static_select",
        "action_id": ACTION_IDS["drop"],
        "placeholder": {"type": "plain_text", "text": "Drop a repo from the plan"},
        "options": options[:DROP_OPTIONS],
    }
