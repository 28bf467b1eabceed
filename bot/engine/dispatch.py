"""Handing work to DBOS: enqueueing runs and continuations, messages to waiting workflows, listing
and cancelling a run's workflows — the same calls whether this process executes runs (DBOS itself)
or only ingests them (a client of DBOS's database, `baton serve` on PostgreSQL).

Workflows are named by the constants in `ids.py`, so a process that never registered the engine
class enqueues exactly what an executing process would run.
"""

from __future__ import annotations

from typing import Any

from dbos import DBOS, DBOSClient, EnqueueOptions

from bot.engine.ids import (
    CONTINUE_WORKFLOW,
    ENGINE_CLASS,
    ENGINE_NAME,
    RUN_QUEUE,
    RUN_WORKFLOW,
    continuation_id,
    workflow_id,
)
from bot.engine.messages import DECISION_TOPIC
from bot.engine.pace import QueuePace
from bot.store.store import Store


def _options(workflow_name: str, wf_id: str, app_version: str) -> EnqueueOptions:
    return {
        "workflow_name": workflow_name,
        "class_name": ENGINE_CLASS,
        "instance_name": ENGINE_NAME,
        "queue_name": RUN_QUEUE,
        "workflow_id": wf_id,
        "app_version": app_version,
    }


def run_enqueue_options(run_id: str, attempt: int, app_version: str) -> EnqueueOptions:
    """How a run's workflow is put on the run queue; the id is the run's, so a second enqueue of
    the same run joins the first."""
    return _options(RUN_WORKFLOW, workflow_id(run_id, attempt), app_version)


def continuation_enqueue_options(run_id: str, attempt: int, number: int, app_version: str) -> EnqueueOptions:
    """How a parked run's continuation is put on the run queue; its id is the claim's number, so
    enqueueing the same continuation twice joins the first."""
    return _options(CONTINUE_WORKFLOW, continuation_id(run_id, attempt, number), app_version)


class Dispatch:
    """DBOS, as seen by the run commands; `executing` once this process has launched DBOS."""

    def __init__(self, store: Store, system_database_url: str, app_version: str) -> None:
        self.store = store
        self.system_database_url = system_database_url
        self.app_version = app_version
        self.executing = False
        self._client: DBOSClient | None = None
        self.pace: QueuePace | None = None
        """Set when the queues' polling slows down while idle (`Runtime`): woken before each enqueue."""

    def workflows(self) -> Any:
        """DBOS itself when this process executes runs, else a client of its database."""
        if self.executing:
            return DBOS
        if self._client is None:
            self._client = DBOSClient(system_database_url=self.system_database_url, application_name="baton")
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.destroy()
            self._client = None

    def enqueue_run(self, run_id: str, attempt: int) -> None:
        """Put the run on the run queue for whichever executing process has room."""
        self._enqueue(run_enqueue_options(run_id, attempt, self.app_version), run_id, attempt)

    def enqueue_continuation(self, run_id: str, attempt: int, number: int) -> None:
        self._enqueue(continuation_enqueue_options(run_id, attempt, number, self.app_version), run_id, attempt, number)

    def _enqueue(self, options: EnqueueOptions, *args: Any) -> None:
        if self.pace is not None:  # the run's repo work goes through the repo queue
            self.pace.busy()
        if self.executing:
            DBOS.enqueue_workflow_with_options(options, *args)
        else:
            self.workflows().enqueue(options, *args)

    def notify(self, run_id: str, message: dict[str, Any]) -> None:
        """Hand a message to the run: kept in its inbox until its workflow takes it at a wait. A
        parked run is claimed by the message and goes on in a continuation workflow; a run blocked
        in `recv` is woken up."""
        posted = self.store.inbox.post(run_id, message)
        if posted is None:
            return
        if posted.claimed is not None:
            self.enqueue_continuation(run_id, posted.attempt, posted.claimed)
        elif posted.wake:
            self.workflows().send(workflow_id(run_id, posted.attempt), message, DECISION_TOPIC)

    def resume_claimed(self) -> int:
        """Enqueue the continuation of every claimed run again (a process may have stopped between
        claiming a run and enqueueing it); an enqueued or finished one is joined, not repeated."""
        claimed = self.store.inbox.claimed()
        for run_id, attempt, number in claimed:
            self.enqueue_continuation(run_id, attempt, number)
        return len(claimed)

    def run_workflows(self, run_id: str, attempt: int, *, pending_only: bool = False) -> list[Any]:
        """The workflows of a run's attempt (the run's own first)."""
        kwargs: dict[str, Any] = {"status": "PENDING"} if pending_only else {}
        return list(
            self.workflows().list_workflows(
                workflow_id_prefix=workflow_id(run_id, attempt), load_input=False, load_output=False, **kwargs
            )
        )

    def send(self, wf_id: str, message: dict[str, Any], topic: str) -> None:
        self.workflows().send(wf_id, message, topic)

    def cancel(self, wf_id: str) -> None:
        self.workflows().cancel_workflow(wf_id)
