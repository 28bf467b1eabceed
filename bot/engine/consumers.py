"""What a consumer's repo is told about the providers it depends on in the same run: each
provider's PR (URL, head, size) and its agent's summary of the change go into the plan its agent
is given (CLI agents read it in their prompt as "Plan for the whole change"; the sub-task stays its
own), and its PR body carries a `Depends-On: <provider PR URL>` line per provider (the
Zuul/Mergify convention), so outside gates and people merging by hand follow the same order.

Providers work in earlier waves (workflow.py), so their outcomes are recorded when a consumer
starts; they are read through the durable `finished_repo_step`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.engine.patterns.manager import SubTask
from bot.engine.steps import RunSteps

SUMMARY_CHARS = 1500
"""Of a provider's summary, what a consumer's prompt carries."""


class ProviderContext(BaseModel):
    prompt: str = ""
    """Added to the plan the consumer's agent is given ("" without providers); its task stays its own."""
    urls: list[str] = Field(default_factory=list)
    """The providers' PR URLs, in plan order (the Depends-On lines)."""


def provider_context(steps: RunSteps, run_id: str, task: SubTask) -> ProviderContext:
    parts: list[str] = []
    urls: list[str] = []
    for provider in task.depends_on:
        outcome = steps.finished_repo_step(run_id, provider)
        if outcome is None or outcome.change is None:
            continue  # dropped from the plan, or it made no PR: nothing to build on
        change = outcome.change
        urls.append(change.url)
        size = f", {change.diffstat.text()}" if change.diffstat is not None else ""
        summary = "\n".join(f"> {line}" for line in outcome.summary.strip()[:SUMMARY_CHARS].splitlines())
        parts.append(
            f"- {provider}: PR {change.url} (branch {change.branch}, head {change.head_sha}{size}). "
            f"Its agent's summary of the change:\n{summary or '> (no summary)'}"
        )
    if not parts:
        return ProviderContext()
    prompt = (
        "\n\nThis repo consumes changes made in the same run, in repos it depends on; their PRs merge "
        "before this one. Make this repo work with them:\n" + "\n".join(parts)
    )
    return ProviderContext(prompt=prompt, urls=urls)
