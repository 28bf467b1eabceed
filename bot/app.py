"""Composition root: settings → store → adapters → engine → (optionally) the durable executor.

This is the one place that knows every concrete class. Commands that decide (`approve`) build a
Runtime without launching the executor (`runs list` reads the store alone, bot/cli/support.py);
commands that execute runs (`run`, `demo`, `worker`, and `serve` on SQLite or with `--execute`)
launch it. Either kind starts runs the same way: by enqueueing them on DBOS's run queue
(`submit`), which a Runtime that is not launched (`serve` on PostgreSQL) does as a client of DBOS's
database; a launched one on SQLite starts them in-process under the same workflow id instead.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from functools import partial
from importlib.metadata import version
from pathlib import Path
from typing import Any

import structlog
from dbos import DBOS, DBOSClient, DBOSConfig

from bot.agents.checks import ChecksRunner
from bot.agents.pids import PidFiles
from bot.agents.registry import CLI_ADAPTERS, AgentRegistry
from bot.agents.sandbox import Sandbox, local_remotes, sqlite_files
from bot.agents.script import ScriptAgent
from bot.clock.scheduler import Scheduler
from bot.config.agents import AgentConfig
from bot.config.models import BatonFile, RepoConfig, load_baton_file
from bot.config.settings import Settings
from bot.domain.models import Actor, Source, utcnow
from bot.domain.ports import Agent
from bot.engine import step_refs
from bot.engine.approvals import ApprovalService, GitHubCheck
from bot.engine.deps import EngineDeps
from bot.engine.dispatch import Dispatch
from bot.engine.drain import Drain
from bot.engine.ids import REPO_QUEUE, RUN_QUEUE
from bot.engine.pace import QueuePace
from bot.engine.recovery import ExecutorLease, new_executor_id
from bot.engine.runs import RunEngine
from bot.engine.service import RunService
from bot.observability.logging import Redactor, process_secrets
from bot.observability.metrics import Metrics
from bot.observability.tracing import Tracer
from bot.scm.gitguard import remote_auth_env
from bot.scm.github import GitHubForge
from bot.scm.local import LocalForge
from bot.scm.mirrors import Mirrors
from bot.scm.router import ForgeRouter
from bot.scm.workspace import GitWorkspace
from bot.services.github.client import GitHubApi, GitHubCredentials
from bot.store.metrics import StoreCollector
from bot.store.ratelimit import Throttle, throttles, unthrottled
from bot.store.schema import schema_problem
from bot.store.store import Store, make_engine, migrate
from bot.surfaces.hub import SurfaceHub

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
        # One bare mirror per repo: discovery searches them, workspaces are cloned from them.
        self.mirrors = Mirrors(home / "mirrors", self._remote_auth())
        self.deps = EngineDeps(
            settings=settings,
            config=self.config,
            store=self.store,
            forge=self.forges,
            workspace=GitWorkspace(home / "workspaces", repo, self.config.limits, self._remote_auth(), self.mirrors),
            agents=AgentRegistry(self.config, self._agent_factories()),
            tracer=self.tracer,
            checks=checks,
            processes=PidFiles(settings.home / "pids"),
            search=self.mirrors,
        )
        # Runs are handed to DBOS by name; the edge, the clock and the CLI command them through `runs`.
        self.dispatch = Dispatch(self.store, settings.system_database_url, APP_VERSION)
        # Queues polled quickly while there is work, slowly when idle (bot/engine/pace.py).
        self.pace = QueuePace(
            self.dispatch.workflows,
            [RUN_QUEUE, REPO_QUEUE],
            settings.queue_polling_s,
            _idle_polling_s(settings),
            settings.queue_idle_after_s,
        )
        self.dispatch.pace = self.pace
        self.approvals = ApprovalService(self.store, self.config, self.dispatch.notify)
        if self.github_api is not None:  # GitHub identities approve only with `github.approve_permission`
            self.approvals.github = github_approvers(self.github_api, self.config)
        self.runs = RunService(self.store, self.config, self.approvals, self.dispatch, step_refs.stop_run(self.deps))
        # Cron playbooks, approval reminders and expiry, cleanup, pollers; `serve` starts it.
        self.scheduler = self.make_scheduler()
        # Webhooks stored before they are answered are processed from here (sources register on it).
        self.drain = Drain(self.store)
        self.engine: RunEngine | None = None
        self.lease: ExecutorLease | None = None

    def make_scheduler(self, clock: Callable[[], datetime] = utcnow) -> Scheduler:
        """The clock over this runtime's runs (replicas in tests make more than one)."""
        return Scheduler(self.runs, self.deps.workspace, clock, has_surface=lambda name: name in self.hub.names)

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
        self.engine = _engine(self.deps)
        executor_id = new_executor_id()
        config: DBOSConfig = {
            "name": "baton",
            "system_database_url": self.settings.system_database_url,
            "application_version": APP_VERSION,
            "executor_id": executor_id,
            "max_executor_threads": self.settings.executor_threads,
            "notification_listener_polling_interval_sec": self.settings.notification_polling_s,
            "log_level": "WARNING",
            # DBOS's own OTLP spans stay off: ours (bot/observability/tracing.py) carry the run, steps and calls.
            "enable_otlp": False,
            # Migrated by `apply_migrations` (serve, `baton migrate`), never by a worker: verify only.
            "run_migrations": False,
            # DBOS's own pool (default 20 per process) beside the store's: see make_engine.
            "sys_db_pool_size": 10,
        }
        self._register_queues()
        DBOS(config=config)
        DBOS.launch()
        self.dispatch.executing = True
        self.lease = ExecutorLease(self.store, executor_id, on_beat=self.pace.settle)
        self.lease.start()
        self.dispatch.resume_claimed()

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
        self.drain.stop()
        self.scheduler.stop()
        if self.lease is not None:
            self.lease.stop()
        if self.engine is not None:
            DBOS.destroy(destroy_registry=False)
            self.engine = None
            self.dispatch.executing = False
        self.dispatch.close()
        self.tracer.shutdown()
        self.db.dispose()


def _idle_polling_s(settings: Settings) -> float:
    """`queue_idle_polling_s`, else 2 s on SQLite (work queued right after a quiet spell waits for
    one slow poll) and never slowed on PostgreSQL, where every run goes from `serve` to a worker
    through the run queue."""
    if settings.queue_idle_polling_s is not None:
        return settings.queue_idle_polling_s
    return 2.0 if settings.system_database_url.startswith("sqlite") else settings.queue_polling_s


def github_approvers(api: GitHubApi, config: BatonFile) -> GitHubCheck:
    """Whether a GitHub login holds `github.approve_permission` on every GitHub repo of a run."""
    from bot.services.github.issues import GitHubIssues
    from handlers.github.access import GitHubAccess  # the composition root may know the edges

    access = GitHubAccess(GitHubIssues(api), config)
    return lambda login, run: access.approver_refusal(Actor(source=Source.github, id=login), run)


_ENGINES: dict[str, RunEngine] = {}
"""The engine instance DBOS knows in this process. DBOS keeps a registered instance for the life of
the process (its name is recorded with every workflow, for recovery), so a later Runtime in the same
process (tests, `baton demo` after `baton run`) hands its dependencies to that instance."""


def _engine(deps: EngineDeps) -> RunEngine:
    engine = _ENGINES.get("engine")
    if engine is None:
        engine = _ENGINES["engine"] = RunEngine(deps)
    engine.deps = deps
    return engine
