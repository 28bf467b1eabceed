"""Group chat: several agents take turns on one shared transcript (e.g. an implementer and two
reviewers debating a diff). A moderator — an agent, or the built-in rule — picks the next speaker
and decides when they agree. Rounds are bounded; every turn is kept as a run event.

The built-in rule: the first participant implements, the others review in order; the chat ends
when every reviewer's latest turn contains the agree word (e.g. "LGTM") after the last change.
An agent moderator answers `NEXT: <name>` or `DONE`.
"""

from __future__ import annotations

import re

from bot.config.playbooks import GroupChat, Node
from bot.engine.patterns.base import NodeResult, PatternContext

_NEXT = re.compile(r"NEXT:\s*([A-Za-z0-9._-]+)")


def run(node: Node, ctx: PatternContext, feedback: str = "") -> NodeResult:
    chat = node.group_chat
    assert chat is not None
    transcript: list[str] = []
    if feedback:
        transcript.append(f"request: {feedback}")
    implementer = chat.participants[0]
    agreed: set[str] = set()
    speaker: str | None = implementer
    for _round in range(chat.max_rounds):
        turns = 0
        while speaker is not None and turns < len(chat.participants):
            turns += 1
            role = "implementer" if speaker == implementer else "reviewer"
            result = ctx.invoke(speaker, name=f"chat:{speaker}", role=role, transcript=list(transcript))
            line = f"{speaker}: {result.summary or result.status.value}"
            transcript.append(line)
            ctx.say(speaker, result.summary)
            if not result.ok:
                return NodeResult(ok=False, summary=f"{speaker} failed: {result.summary}", head=ctx.head)
            if role == "implementer" and result.files_changed:
                agreed.clear()
            elif role == "reviewer" and chat.agree_word.lower() in result.summary.lower():
                agreed.add(speaker)
            speaker = _next_speaker(chat, ctx, transcript, speaker, agreed)
        if speaker is None:
            return NodeResult(ok=True, summary=f"agreed after {len(transcript)} turns", head=ctx.head)
        # A round ended without agreement: the implementer answers the reviews next round.
        speaker = implementer
    return NodeResult(ok=False, summary=f"no agreement after {chat.max_rounds} round(s)", head=ctx.head)


def _next_speaker(
    chat: GroupChat, ctx: PatternContext, transcript: list[str], last: str, agreed: set[str]
) -> str | None:
    reviewers = chat.participants[1:]
    if chat.moderator:
        verdict = ctx.invoke(
            chat.moderator,
            name=f"moderator:{chat.moderator}",
            role="moderator",
            transcript=list(transcript),
        )
        if "DONE" in verdict.summary:
            return None
        match = _NEXT.search(verdict.summary)
        if match and match.group(1) in chat.participants:
            return match.group(1)
    if set(reviewers) <= agreed:
        return None
    if last == chat.participants[0]:
        return reviewers[0]
    index = reviewers.index(last)
    if index + 1 < len(reviewers):
        return reviewers[index + 1]
    return chat.participants[0]
