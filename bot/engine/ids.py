"""Names of a run's durable parts: queues, topics and workflow ids (deterministic, so a second
start of the same work joins the first)."""

from __future__ import annotations

RUN_QUEUE = "baton-runs"
"""Runs wait here for a process that executes them (`baton worker`, or `serve` on SQLite / with
`--execute`), and so do parked runs' continuations; no limit: a run's work is bounded per repo."""
REPO_QUEUE = "baton-repos"
"""Each repo's work; partitioned by repo name (`concurrency.per_repo`), bounded by
`concurrency.global` across processes and `concurrency.per_worker` in each."""
ENGINE_NAME = "baton-engine"
"""The one configured instance of the engine class in every process."""
ENGINE_CLASS = "RunEngine"
RUN_WORKFLOW = "RunEngine.run_workflow"
CONTINUE_WORKFLOW = "RunEngine.continue_workflow"
REPO_WORKFLOW = "RunEngine.repo_workflow"
ROUND_WORKFLOW = "RunEngine.round_workflow"
"""Registered names (what DBOS records, and what a process that only enqueues names): constants, so
moving or renaming the Python class never strands a run recorded under the old name."""
BUDGET_TOPIC = "budget"


def workflow_id(run_id: str, attempt: int) -> str:
    return f"run-{run_id}-a{attempt}"


def repo_workflow_id(run_id: str, attempt: int, repo: str) -> str:
    return f"{workflow_id(run_id, attempt)}-{repo}"


def continuation_id(run_id: str, attempt: int, number: int) -> str:
    return f"{workflow_id(run_id, attempt)}-c{number}"


def describe(err: Exception) -> str:
    """An unexpected error as one line for people: its kind and message, no stack trace."""
    text = " ".join(str(err).split())[:400]
    return f"{type(err).__name__}: {text}" if text else type(err).__name__
