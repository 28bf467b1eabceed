"""Which repos a run takes when it was asked to discover them: every configured repo whose default
branch matches the pattern (the search port, over cached mirrors), the repos named explicitly, and
— so a consumer never lands before what it depends on — every provider of those, from `depends_on`.

The body of the plan step (planning.py): durable with it, so a replayed run never searches twice.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from bot.config.models import BatonFile
from bot.domain.discovery import DiscoveryError, Evidence
from bot.domain.models import RunSpec
from bot.engine.deps import EngineDeps


class Discovered(BaseModel):
    pattern: str
    repos: list[str]
    evidence: dict[str, Evidence] = Field(default_factory=dict)
    searched: int = 0


def pattern_for(config: BatonFile, spec: RunSpec) -> str | None:
    """The run's pattern: the request's own (`--discover`, `discover=`), else its playbook's."""
    if spec.discover:
        return spec.discover
    book = config.playbooks.get(spec.playbook)
    return book.discover if book is not None else None


def with_providers(config: BatonFile, repos: list[str]) -> list[str]:
    """`repos` and every configured repo they depend on, transitively (each once, first seen first)."""
    known = {r.name for r in config.repos}
    chosen: list[str] = []
    todo = list(repos)
    while todo:
        name = todo.pop(0)
        if name in chosen or name not in known:
            continue
        chosen.append(name)
        todo += config.repo(name).depends_on
    return chosen


def discover(deps: EngineDeps, spec: RunSpec, pattern: str) -> Discovered | str:
    """The repos the run takes and why each is there, or why the search could not say."""
    config = deps.config
    if deps.search is None:
        return "discovery needs repo mirrors, and this process has none"
    unknown = [r for r in spec.repos if r not in {c.name for c in config.repos}]
    if unknown:
        return f"unknown repo {', '.join(unknown)}; known repos: {', '.join(r.name for r in config.repos)}"
    try:
        found = deps.search.search(pattern, list(config.repos))
    except DiscoveryError as err:
        return str(err)
    evidence = {h.repo: Evidence(hits=h.hits, files=h.files, truncated=h.truncated) for h in found}
    for name in spec.repos:
        evidence.setdefault(name, Evidence()).explicit = True
    if not evidence:
        return f"no configured repo matches {pattern!r} on its default branch ({len(config.repos)} searched)"
    repos = with_providers(config, [*spec.repos, *(h.repo for h in found)])
    for name in repos:
        for provider in config.repo(name).depends_on:
            if provider in repos:
                evidence.setdefault(provider, Evidence()).provider_of.append(name)
    return Discovered(
        pattern=pattern,
        repos=repos,
        evidence={r: evidence[r] for r in repos},
        searched=len(config.repos),
    )
