"""Where a finished agent step's commit waits on the repo's own remote until the run ends.

A step's commit is made in one worker's checkout; a worker on another machine (another volume) that
takes the repo over needs that commit to continue from the SHA the workflow recorded. So, after
every agent step, Baton pushes the commit to `refs/baton/steps/<run>/<repo>/<step>` on the remote:
not a branch (no PR, no CI, no webhook a branch would trigger), one ref per step (a retried step
never rewrites another's). A checkout missing a recorded SHA fetches the run's refs and resets to
that SHA, never to whatever a ref says: a ref someone else moved leads to a missing commit, not to
their code. The refs go when the run ends.

Baton pushes these with the repo's credential, from its own git; an agent never can (its `.git` is
read-only under bwrap and the remote's credential never reaches it, see bot/scm/gitguard.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from bot.domain.naming import safe_component
from bot.scm.git import GitError, failure_tail, git_result, run_git

NAMESPACE = "refs/baton/steps"
"""Beside `refs/baton/candidates` (a best-of race's local refs), never under `refs/heads`."""


def run_prefix(run_id: str, repo: str) -> str:
    """The folder of one run's step refs for one repo (no trailing slash)."""
    return f"{NAMESPACE}/{safe_component(run_id, 'run')}/{safe_component(repo, 'repo')}"


def step_ref(run_id: str, repo: str, step_key: str) -> str:
    """The ref of one agent step's commit; the hash keeps two keys that sanitize alike apart."""
    digest = hashlib.sha256(step_key.encode()).hexdigest()[:10]
    return f"{run_prefix(run_id, repo)}/{safe_component(step_key, 'step')}-{digest}"


def save(path: Path, sha: str, ref: str, env: Mapping[str, str] | None) -> None:
    """Push `sha` to `ref` on origin (forced: a step that ran again made a new commit)."""
    push = ["push", "--quiet", "--no-verify", "--porcelain", "origin", f"+{sha}:{ref}"]
    proc = git_result(push, path, env)
    if proc.returncode != 0:
        raise GitError(["push", "origin", ref], proc.returncode, failure_tail(proc))


def fetch(path: Path, run_id: str, repo: str, env: Mapping[str, str] | None) -> None:
    """Bring the run's step commits for `repo` from origin into this checkout, under the same names."""
    prefix = run_prefix(run_id, repo)
    run_git(["fetch", "--quiet", "--no-tags", "origin", f"+{prefix}/*:{prefix}/*"], path, env)


def drop(path: Path, url: str, run_id: str, repo: str, env: Mapping[str, str] | None) -> int:
    """Delete the run's step refs for `repo` from the remote at `url` (run from any repository at
    `path`); how many there were."""
    prefix = run_prefix(run_id, repo)
    listed = run_git(["ls-remote", "--refs", "--", url, f"{prefix}/*"], path, env)
    refs = [line.partition("\t")[2] for line in listed.splitlines() if line.strip()]
    if refs:
        run_git(["push", "--quiet", "--no-verify", "--", url, *(f":{ref}" for ref in refs)], path, env)
    return len(refs)
