"""Slack views of many runs: the App Home tab (the viewer's recent runs and the approvals waiting for
them) and the short texts the `/baton` command answers with. Pure functions, within Slack's limits."""

from __future__ import annotations

from typing import Any

from bot.domain.records import RunView
from bot.surfaces.render import one_line, summary_line
from bot.surfaces.slack.card import esc
from bot.surfaces.slack.card_actions import Block

MAX_HOME_RUNS = 20
HELP = "\n".join(
    [
        "*Baton* — ask coding agents for a change, approve the PRs, merge.",
        "• `@baton <request> [repo=a,b] [agent=x] [playbook=y] [budget=$5]` in a channel starts a run in a thread;"
        " a mention inside that thread is a follow-up.",
        "• `/baton run <request>` — start a run here",
        "• `/baton status [run]` — a run (yours, latest, by default)",
        "• `/baton list` — recent runs",
        "• `/baton cancel <run>` — stop a run (its requester or an approver)",
        "• `/baton skip <run> <repo>` — drop one repo from a campaign; `/baton close <run>` — end the campaign",
        "• `/baton help` — this text",
        "React with :x: on a run's card to cancel it.",
    ]
)


def run_line(view: RunView) -> str:
    """One mrkdwn line per run: id, what was asked, and the summary."""
    request = esc(one_line(view.run.spec.trigger.request, 80))
    return f"`{view.run.run_id}` {request} — {esc(summary_line(view))}"


def status_text(view: RunView) -> str:
    lines = [run_line(view)]
    lines += [f"• {esc(c.repo)} #{c.number} {c.state.value}, checks {c.checks.value}" for c in view.changes]
    if view.run.error:
        lines.append(f"_{esc(one_line(view.run.error, 500))}_")
    return "\n".join(lines)


def list_text(views: list[RunView]) -> str:
    if not views:
        return "No runs yet."
    return "*Recent runs*\n" + "\n".join(run_line(v) for v in views)


def _runs_section(title: str, views: list[RunView], empty: str) -> list[Block]:
    blocks: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": title}}]
    if not views:
        return [*blocks, {"type": "section", "text": {"type": "mrkdwn", "text": empty}}]
    for view in views[:MAX_HOME_RUNS]:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": run_line(view)[:3000]}})
    return blocks


def home_view(mine: list[RunView], waiting: list[RunView]) -> dict[str, Any]:
    """The App Home tab: approvals waiting for the viewer first, then the viewer's recent runs."""
    blocks = _runs_section("Waiting for your approval", waiting, "Nothing waits for you.")
    blocks.append({"type": "divider"})
    blocks += _runs_section("Your recent runs", mine, "You have not started a run yet. Mention @baton in a channel.")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "`/baton help` for commands"}]})
    return {"type": "home", "blocks": blocks}
