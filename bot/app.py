"""Composition root: settings → store → adapters → engine → (optionally) the durable executor.

This is the one place that knows every concrete class. Commands that only read or decide
(`runs list`, `approve`) build a Runtime without launching the executor; commands that execute
runs (`run`, `demo`, `worker`, and `serve` on SQLite or with `--execute`) launch it. Either kind
starts runs the same way: by enqueueing them on DBOS's run queue (`submit`), which a Runtime that
is not launched (`serve` on PostgreSQL) does as a client of DBOS's database.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import structlog
from dbos import DBOS, DBOSClient, DBOSConfig

from bot.agents.checks import ChecksRunner
from bot.agents.registry import CLI_ADAPTERS, AgentRegistry
from bot.agents.sandbox import Sandbox, local_remotes, sqlite_files
from bot.agents.script import ScriptAgent
from bot.approvals import ApprovalService, DecisionResult
from bot.audit import AuditKind
from bot.config import AgentConfig, BatonFile, RepoConfig, Settings, load_baton_file
from bot.domain import Actor, Budget, Decision, RunSpec, RunState
from bot.engine.activities import stop_run_agents
from bot.engine.deps import EngineDeps
from bot.engine.messages import DECISION_TOPIC, EXPIRE, FOLLOW_UP, RECHECK
from bot.engine.recovery import ExecutorLease, new_executor_id
from bot.engine.runs import (
    BUDGET_TOPIC,
    REPO_QUEUE,
    RUN_QUEUE,
    RunEngine,
    continuation_enqueue_options,
    run_enqueue_options,
    workflow_id,
)
from bot.metrics import Metrics
from bot.metrics_store import StoreCollector
from bot.ports import Agent
from bot.ratelimit import Throttle, throttles, unthrottled
from bot.scheduler import Scheduler
from bot.schema import schema_problem
from bot.scm.gitguard import remote_auth_env
from bot.scm.github import GitHubForge
from bot.scm.github_client import GitHubApi, GitHubCredentials
from bot.scm.local import LocalForge
from bot.scm.router import ForgeRouter
from bot.scm.workspace import GitWorkspace
from bot.store import Store, make_engine, migrate
from bot.surfaces.hub import SurfaceHub
from bot.telemetry import Redactor, process_secrets
from bot.tracing import Tracer

log = structlog.get_logger(__name__)

# Recovery replays a run only under the version that started it; bump the package version when a
# change to workflow code would make an in-flight run take a different path.
APP_VERSION = f"baton-{version('baton')}"


class Runtime:
    def __init__(self, settings: Settings, config: BatonFile | None = None, *, migrate: bool = True) -> None:
        """`migrate=False`: the schemas must already be current (`baton worker`, `serve --no-migrate`)."""
        self.settings = settings
        self.config = config if config is not None else load_baton_file(settings.config)
        settings.home.mkdir(parents=True, exist_ok=True)
        self.db = make_engine(settings.store_url)
        if migrate:
            self.apply_migrations()
        # What people read (errors, events, step details) never holds a secret value.
        self.store = Store(self.db, Redactor(process_secrets(settings, self.config)))
        # Outbound rate limits, one bucket per service shared by every process (`rate_limits`).
        self.throttles = throttles(self.db, {str(k): v for k, v in self.config.rate_limits.items()})
        # This process's Prometheus registry (`GET /metrics`); run figures are read from the store.
        self.metrics = Metrics([StoreCollector(self.db)])
        # OpenTelemetry spans (runs, steps, outbound calls) when an OTLP endpoint is configured.
        self.tracer = Tracer.from_environ(os.environ)
        home = settings.home.resolve()
        repo = self.config.repo
        # What confines agents and checks: Baton's home, config, databases and local remotes hidden.
        self.sandbox = self._sandbox()
        checks = ChecksRunner(self.sandbox, home / "homes")
        # Each repo's PRs go to the forge its config names; sources add theirs (e.g. GitHub).
        self.forges = ForgeRouter(self.config, LocalForge(home / "forge", repo, home / "forge-work", checks=checks))
        # GitHub: `forge: github` repos get real PRs in every process that runs work (serve and workers).
        github = GitHubCredentials(token=settings.github_token, api_url=settings.github_api_url)
        self.github_api = (
            GitHubApi(
                github,
                self.config.github,
                on_error=self.metrics.error_counter("github"),
                throttle=self.throttle("github"),
                tracer=self.tracer,
            )
            if github.configured
            else None
        )
        if self.github_api is not None:
            self.forges.add("github", GitHubForge(self.github_api, self.config))
        # Events → the places people look; sources register their surfaces, `serve` runs the thread.
        self.hub = SurfaceHub(self.store)
        self.deps = EngineDeps(
            settings=settings,
            config=self.config,
            store=self.store,
            forge=self.forges,
            workspace=GitWorkspace(home / "workspaces", repo, self.config.limits, self._remote_auth()),
            agents=AgentRegistry(self.config, self._agent_factories()),
            tracer=self.tracer,
            checks_runner=checks,
        )
        self.approvals = ApprovalService(self.store, self.config.approval, self._notify)
        # Cron playbooks, approval reminders and expiry, cleanup, pollers; `serve` starts it.
        self.scheduler = Scheduler(self)
        self.engine: RunEngine | None = None
        self.lease: ExecutorLease | None = None
        self._client: DBOSClient | None = None

    def apply_migrations(self) -> None:
        """DBOS's system database, then the store, to their newest schemas. Safe from several
        processes at once (each takes its own advisory lock on PostgreSQL); the store comes last,
        so a store found current (`baton worker`, `/readyz`) means both are."""
        url = self.settings.system_database_url
        if url.startswith("sqlite:///"):
            # DBOS leaves SQLite in rollback-journal mode; WAL lets readers and the one writer
            # overlap, which halves its lock waits under fan-out (the mode persists in the file).
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
        DBOS.migrate(url)
        migrate(self.db)

    def schema_problem(self) -> str | None:
        """None when the store answers and its migrations are current, else why not."""
        return schema_problem(self.db)

    def throttle(self, service: str) -> Throttle:
        """What an API client of `service` calls before each request (`rate_limits`)."""
        return self.throttles.get(service, unthrottled)

    def _sandbox(self) -> Sandbox:
        settings = self.settings
        hidden = [settings.home, settings.config, *sqlite_files(settings.store_url)]
        return Sandbox.detect(hidden + sqlite_files(settings.system_database_url) + local_remotes(self.config))

    def _remote_auth(self) -> Callable[[RepoConfig], dict[str, str]]:
        """A GitHub repo's https remote gets Baton's token as a header of the git calls that reach it."""

        def auth(cfg: RepoConfig) -> dict[str, str]:
            if cfg.forge != "github" or not cfg.url.startswith("https://") or self.github_api is None:
                return {}
            token = self.github_api.git_token(cfg.github or "")
            return remote_auth_env(cfg.url, token) if token else {}

        return auth

    def _agent_factories(self) -> dict[str, Any]:
        homes = self.settings.home.resolve() / "homes"
        sandbox = self.sandbox

        def script(config: AgentConfig) -> Agent:
            return ScriptAgent(config, homes, sandbox)

        factories: dict[str, Any] = {"script": script}
        transcripts = self.config.limits.max_transcript_bytes
        for kind, adapter in CLI_ADAPTERS.items():
            factories[kind] = partial(adapter, home_root=homes, sandbox=sandbox, transcript_bytes=transcripts)
        return factories

    # -- the durable executor -----------------------------------------------------------------
    def launch(self) -> None:
        """Start executing runs in this process (and recover runs of processes that died): it
        takes runs and repo work from the queues. A Runtime never launched (`baton serve` on
        PostgreSQL without `--execute`) still starts runs: it enqueues them for the processes that
        execute (`submit`), as a client of DBOS's database."""
        self.engine = RunEngine(self.deps)
        executor_id = new_executor_id()
        config: DBOSConfig = {
            "name": "baton",
            "system_database_url": self.settings.system_database_url,
            "application_version": APP_VERSION,
            "executor_id": executor_id,
            "max_executor_threads": self.settings.executor_threads,
            "notification_listener_polling_interval_sec": self.settings.notification_polling_s,
            "log_level": "WARNING",
            # DBOS's own OTLP spans stay off: ours (bot/tracing.py) carry the run, steps and calls.
            "enable_otlp": False,
            # Migrated by `apply_migrations` (serve, `baton migrate`), never by a worker: verify only.
            "run_migrations": False,
            # DBOS's own pool (default 20 per process) beside the store's: see make_engine.
            "sys_db_pool_size": 10,
        }
        self._register_queues()
        DBOS(config=config)
        DBOS.launch()
        self.lease = ExecutorLease(self.store, executor_id)
        self.lease.start()
        self.resume_claimed()

    def _register_queues(self) -> None:
        """Declare the queues before launching: DBOS's queue manager then starts polling them at
        once, instead of noticing a queue registered after launch up to a second later. Queues are
        rows of DBOS's database, so every executing process declares the same limits (the last
        one to start wins if their baton.yml differ)."""
        limits = self.config.concurrency
        polling = self.settings.queue_polling_s
        client = DBOSClient(system_database_url=self.settings.system_database_url, application_name="baton")
        try:
            client.register_queue(RUN_QUEUE, polling_interval_sec=polling)
            client.register_queue(
                REPO_QUEUE,
                global_concurrency=limits.global_,
                worker_concurrency=limits.per_worker,
                # Always partitioned by repo (each repo's work is enqueued with its name as the key);
                # without `per_repo` a repo may take up to the global limit.
                partition_concurrency=limits.per_repo or limits.global_,
                polling_interval_sec=polling,
            )
        finally:
            client.destroy()

    def shutdown(self) -> None:
        self.scheduler.stop()
        if self.lease is not None:
            self.lease.stop()
        if self.engine is not None:
            DBOS.destroy(destroy_registry=False)
            _forget_instance(self.engine)
            self.engine = None
        if self._client is not None:
            self._client.destroy()
            self._client = None
        self.tracer.shutdown()
        self.db.dispose()

    def _workflows(self) -> Any:
        """DBOS itself when this process executes runs, else a client of its database."""
        if self.engine is not None:
            return DBOS
        if self._client is None:
            self._client = DBOSClient(system_database_url=self.settings.system_database_url, application_name="baton")
        return self._client

    def _notify(self, run_id: str, message: dict[str, Any]) -> None:
        """Hand a message to the run: kept in its inbox until its workflow takes it at a wait. A
        parked run is claimed by the message and goes on in a continuation workflow; a run
        blocked in `recv` is woken up."""
        posted = self.store.inbox.post(run_id, message)
        if posted is None:
            return
        if posted.claimed is not None:
            self._enqueue_continuation(run_id, posted.attempt, posted.claimed)
        elif posted.wake:
            self._workflows().send(workflow_id(run_id, posted.attempt), message, DECISION_TOPIC)

    def _enqueue_continuation(self, run_id: str, attempt: int, number: int) -> None:
        options = continuation_enqueue_options(run_id, attempt, number, APP_VERSION)
        if self.engine is not None:
            DBOS.enqueue_workflow_with_options(options, run_id, attempt, number)
        else:
            self._workflows().enqueue(options, run_id, attempt, number)

    def resume_claimed(self) -> int:
        """Enqueue the continuation of every claimed run again (a process may have stopped between
        claiming a run and enqueueing it); an enqueued or finished one is joined, not repeated."""
        claimed = self.store.inbox.claimed()
        for run_id, attempt, number in claimed:
            self._enqueue_continuation(run_id, attempt, number)
        return len(claimed)

    def has_active_runs(self) -> bool:
        """Whether any run is doing work now (runs waiting for a person do not count)."""
        busy = {RunState.queued, RunState.planning, RunState.working, RunState.merging}
        return any(r.state in busy and r.waiting_for is None for r in self.store.list_runs(limit=1000))

    # -- what callers do with runs --------------------------------------------------------------
    def submit(self, spec: RunSpec, before_start: Callable[[str], None] | None = None) -> str:
        """Record and start a run; a second submit of the same spec joins the first.

        `before_start(run_id)` runs after the run is recorded and before its workflow can start
        (a source's first reply: the status card is in the thread before any agent work)."""
        if self.store.create_run(spec):
            self.store.audit.triggered(spec)
        if before_start is not None:
            with structlog.contextvars.bound_contextvars(run_id=spec.run_id):  # its log lines are the run's
                before_start(spec.run_id)
        run = self.store.get_run(spec.run_id)
        attempt = run.attempt if run else 1
        self._enqueue_run(spec.run_id, attempt)
        return spec.run_id

    def _enqueue_run(self, run_id: str, attempt: int) -> None:
        """Put the run on the run queue for whichever executing process has room (this one, when
        launched); the id is the run's, so enqueueing a run twice joins the first."""
        options = run_enqueue_options(run_id, attempt, APP_VERSION)
        if self.engine is not None:
            DBOS.enqueue_workflow_with_options(options, run_id, attempt)
        else:
            self._workflows().enqueue(options, run_id, attempt)

    def decide(
        self,
        run_id: str,
        actor: Actor,
        decision: Decision,
        reason: str = "",
        seen_shas: dict[str, str] | None = None,
    ) -> DecisionResult:
        return self.approvals.decide(run_id, actor, decision, reason, seen_shas=seen_shas)

    def _audited(self, kind: AuditKind, actor: Actor, run_id: str, result: DecisionResult) -> DecisionResult:
        """Record a command on a run in the audit trail (accepted, or refused and why) with its PRs' heads."""
        heads = {c.repo: c.head_sha for c in self.store.changes(run_id)}
        self.store.audit.command(kind, actor, run_id, result.message, accepted=result.accepted, shas=heads)
        return result

    def follow_up(self, run_id: str, actor: Actor, instruction: str, *, repair: bool = False) -> DecisionResult:
        result = self._follow_up(run_id, actor, instruction, repair=repair)
        return self._audited(AuditKind.follow_up, actor, run_id, result)

    def _follow_up(self, run_id: str, actor: Actor, instruction: str, *, repair: bool = False) -> DecisionResult:
        """Another round of work on the run's own branches: the same PRs get new commits and any
        approval is void. Queued if the run is still working; refused once it has ended."""
        run = self.store.get_run(run_id)
        if run is None:
            return DecisionResult(accepted=False, message=f"no run {run_id}")
        if run.state.terminal:
            return DecisionResult(
                accepted=False,
                message=f"run {run_id} is already {run.state.value}; ask for the change as a new request",
            )
        if not instruction.strip() and not repair:
            return DecisionResult(accepted=False, message="say what to change after the mention")
        kind = "repair" if repair else "follow_up"
        self.store.append_event(run_id, f"{kind}_requested", {"actor": actor.key, "instruction": instruction[:500]})
        self._notify(run_id, {"decision": FOLLOW_UP, "instruction": instruction, "actor": actor.key, "repair": repair})
        when = "now" if run.state is RunState.awaiting_approval else "when the current work is done"
        return DecisionResult(accepted=True, message=f"follow-up queued for run {run_id}: the agent starts {when}")

    def recheck(self, run_id: str) -> None:
        """Something the approval gate reads changed (a PR's checks finished): evaluate it again."""
        run = self.store.get_run(run_id)
        if run is not None and run.state is RunState.awaiting_approval:
            self._notify(run_id, {"decision": RECHECK})

    def expire(self, run_id: str) -> None:
        """The run's approval window closed (the scheduler's expiry job): it ends expired."""
        run = self.store.get_run(run_id)
        if run is not None and run.state is RunState.awaiting_approval:
            self._notify(run_id, {"decision": EXPIRE})

    def cancel(self, run_id: str, actor: Actor) -> DecisionResult:
        return self._audited(AuditKind.cancellation, actor, run_id, self._cancel(run_id, actor))

    def _cancel(self, run_id: str, actor: Actor) -> DecisionResult:
        run = self.store.get_run(run_id)
        if run is None:
            return DecisionResult(accepted=False, message=f"no run {run_id}")
        if run.state.terminal:
            return DecisionResult(accepted=False, message=f"run {run_id} is already {run.state.value}")
        self.store.request_cancel(run_id)
        self.store.append_event(run_id, "cancel_requested", {"actor": actor.key})
        self.store.set_state(run_id, RunState.cancelled, error=f"cancelled by {actor.key}")
        # Wake whatever waits for a person (the run for a decision, a repo for budget), then stop
        # every workflow of the run; running agents see the request and are killed.
        message = {"decision": Decision.cancel.value, "actor": actor.key}
        workflows = self._workflows()
        prefix = workflow_id(run_id, run.attempt)
        statuses = workflows.list_workflows(workflow_id_prefix=prefix, load_input=False, load_output=False)
        for status in statuses:
            if status.status == "PENDING":
                topic = DECISION_TOPIC if status.workflow_id == prefix else BUDGET_TOPIC
                workflows.send(status.workflow_id, message, topic)
        for status in statuses:
            workflows.cancel_workflow(status.workflow_id)
        stop_run_agents(self.settings.home, run_id)
        return DecisionResult(accepted=True, message=f"run {run_id} cancelled")

    def retry(self, run_id: str, actor: Actor) -> DecisionResult:
        return self._audited(AuditKind.retry, actor, run_id, self._retry(run_id, actor))

    def _retry(self, run_id: str, actor: Actor) -> DecisionResult:
        run = self.store.get_run(run_id)
        if run is None:
            return DecisionResult(accepted=False, message=f"no run {run_id}")
        if run.state not in (RunState.failed, RunState.expired, RunState.cancelled):
            return DecisionResult(accepted=False, message=f"run {run_id} is {run.state.value}; only failed runs retry")
        attempt = run.attempt + 1
        self.store.inbox.reset(run_id)  # no wait of an earlier attempt may be claimed
        self.store.set_attempt(run_id, attempt)
        self.store.clear_cancel(run_id)
        self.store.invalidate_approvals(run_id)
        self.store.append_event(run_id, "retry", {"actor": actor.key, "attempt": attempt})
        self.store.set_state(run_id, RunState.queued)
        self._enqueue_run(run_id, attempt)
        return DecisionResult(accepted=True, message=f"run {run_id} retrying (attempt {attempt})")

    def extend_budget(self, run_id: str, actor: Actor, budget: Budget) -> DecisionResult:
        run = self.store.get_run(run_id)
        if run is None or run.waiting_for != "budget":
            return DecisionResult(accepted=False, message=f"run {run_id} is not waiting for budget")
        self.store.update_budget(run_id, run.spec.budget.merged_with(budget))
        self.store.append_event(run_id, "budget_extended", {"actor": actor.key, **budget.model_dump()})
        message = {"decision": Decision.extend_budget.value, "actor": actor.key}
        workflows = self._workflows()
        prefix = workflow_id(run_id, run.attempt) + "-"
        for status in workflows.list_workflows(
            workflow_id_prefix=prefix, status="PENDING", load_input=False, load_output=False
        ):
            workflows.send(status.workflow_id, message, BUDGET_TOPIC)
        return DecisionResult(accepted=True, message="budget extended")


def _forget_instance(engine: RunEngine) -> None:
    """Let a later Runtime in this process register its engine under the same name (tests)."""
    from dbos._dbos import _get_or_create_dbos_registry

    registry = _get_or_create_dbos_registry()
    registry.instance_info_map = {k: v for k, v in registry.instance_info_map.items() if v is not engine}
