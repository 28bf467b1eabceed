"""Finding the repos a request touches: what a search of every configured repo found (the plan's
evidence) and the error for a pattern git cannot read.

The pattern comes from people (`--discover`, `discover=`, a playbook's `discover:`) and is data: the
search adapter hands it to `git grep` after `-e`, never as an option or to a shell.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

HITS_SHOWN = 3
"""How many matching lines per repo the plan shows (and a planner agent receives)."""


class DiscoveryError(ValueError):
    """The search could not run (a pattern git rejects, a mirror that cannot be fetched); the
    message says which and why, in words for the requester."""


class Hit(BaseModel):
    path: str
    line: int
    text: str


class RepoHits(BaseModel):
    """One repo's matches on its default branch: the first few lines, and how many files matched."""

    repo: str
    hits: list[Hit] = Field(default_factory=list)
    files: int = 0
    truncated: bool = False
    """More matched than was read (the counts are lower bounds)."""


class Evidence(BaseModel):
    """Why a repo is in a discovered plan: its hits, or the consumers it provides for."""

    hits: list[Hit] = Field(default_factory=list)
    files: int = 0
    truncated: bool = False
    provider_of: list[str] = Field(default_factory=list)
    explicit: bool = False
