"""The audit trail on real runs: a trigger (with its delivery id), an approval bound to every PR's
head, each merge with its merged SHA, rejections, cancellations, refused decisions with their
reason — and `baton audit --json` prints them for scripts. The log only grows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from bot.app import Runtime
from bot.domain.models import Actor, Decision, RunState, Source
from bot.store.audit import AuditKind, AuditLog, AuditOutcome
from tests.e2e.conftest import (
    APPROVER,
    RuntimeFactory,
    agent,
    approve_until_merged,
    make_repos,
    repo_entries,
    submit,
    wait_for,
)


def _runtime(tmp_path: Path, start_runtime: RuntimeFactory, **extra: object) -> Runtime:
    remotes = make_repos(tmp_path, ["api", "web"])
    config = {
        "repos": repo_entries(remotes, {"web": ["api"]}),
        "agents": [agent("coder", "--append", "README.md", "v2")],
        **extra,
    }
    return start_runtime(config)


def test_a_merged_run_records_its_trigger_approval_and_each_merge_with_shas(
    tmp_path: Path, start_runtime: RuntimeFactory
) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api", "web"])
    waiting = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    heads = {c.repo: c.head_sha for c in waiting.changes}
    merged = approve_until_merged(runtime, run_id)

    records = runtime.store.audit.records(run_id)

    assert [(r.kind, r.outcome) for r in records] == [
        (AuditKind.trigger, AuditOutcome.accepted),
        (AuditKind.approval, AuditOutcome.accepted),
        (AuditKind.merge, AuditOutcome.accepted),
        (AuditKind.merge, AuditOutcome.accepted),
    ]
    trigger, approval, *merges = records
    spec = merged.run.spec
    assert (trigger.actor, trigger.surface, trigger.delivery_id) == (
        spec.trigger.actor.key,
        "cli",
        spec.trigger.delivery_id,
    )
    assert (approval.actor, approval.surface, approval.shas) == (APPROVER.key, "cli", heads)
    assert len(heads) == 2
    assert [m.shas for m in merges] == [{c.repo: c.merge_sha} for c in merged.changes]
    assert all(m.shas[c.repo] for m, c in zip(merges, merged.changes, strict=True))


def test_a_rejection_is_recorded_with_the_heads_it_rejected(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api"])
    view = wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)

    assert runtime.runs.decide(run_id, APPROVER, Decision.reject, "not now").accepted
    wait_for(runtime, run_id, RunState.rejected, timeout=30)

    rejection = runtime.store.audit.records(run_id)[-1]
    assert (rejection.kind, rejection.outcome, rejection.reason) == (
        AuditKind.rejection,
        AuditOutcome.accepted,
        "not now",
    )
    assert rejection.shas == {"api": view.changes[0].head_sha}


def test_a_cancellation_is_recorded_with_who_cancelled(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)

    assert runtime.runs.cancel(run_id, APPROVER).accepted

    kinds = [(r.kind, r.outcome, r.actor) for r in runtime.store.audit.records(run_id)]
    assert kinds[-1] == (AuditKind.cancellation, AuditOutcome.accepted, APPROVER.key)


def test_a_refused_approval_is_recorded_with_its_reason(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _runtime(tmp_path, start_runtime, approval={"approvers": ["cli:boss"]})
    run_id = submit(runtime, "rename the endpoint", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    intern = Actor(source=Source.cli, id="intern")

    result = runtime.runs.decide(run_id, intern, Decision.approve)

    assert not result.accepted
    refused = runtime.store.audit.records(run_id)[-1]
    assert (refused.kind, refused.outcome, refused.actor, refused.reason) == (
        AuditKind.approval,
        AuditOutcome.refused,
        "cli:intern",
        result.message,
    )
    assert "is not an approver" in refused.reason


def test_a_refused_cancel_of_an_ended_run_is_recorded(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    runtime.runs.cancel(run_id, APPROVER)

    runtime.runs.cancel(run_id, APPROVER)

    last = runtime.store.audit.records(run_id)[-1]
    assert (last.kind, last.outcome, last.reason) == (
        AuditKind.cancellation,
        AuditOutcome.refused,
        f"run {run_id} is already cancelled",
    )


def test_a_retry_is_recorded_with_who_asked(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    remotes = make_repos(tmp_path, ["api"])
    flaky = agent("coder", "--fail-first-time", str(tmp_path / "failed-once"), "--append", "README.md", "v2")
    runtime = start_runtime({"repos": repo_entries(remotes), "agents": [flaky]})
    run_id = submit(runtime, "rename the endpoint", ["api"])
    wait_for(runtime, run_id, RunState.failed, timeout=60)

    assert runtime.runs.retry(run_id, APPROVER).accepted

    last = runtime.store.audit.records(run_id)[-1]
    assert (last.kind, last.outcome, last.actor, last.surface) == (
        AuditKind.retry,
        AuditOutcome.accepted,
        APPROVER.key,
        "cli",
    )


def test_the_audit_log_only_appends(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    log = runtime.store.audit
    log.record(
        AuditKind.merge, actor="baton", surface="merge_train", run_id="r1", shas={"api": "a" * 40}, dedupe_key="k"
    )
    before = log.records()

    again = log.record(AuditKind.merge, actor="baton", surface="merge_train", run_id="r1", dedupe_key="k")
    log.record(AuditKind.trigger, actor="cli:x", surface="cli", run_id="r2")

    assert again is False
    after = log.records()
    assert after[: len(before)] == before
    assert [r.run_id for r in after] == ["r1", "r2"]
    writers = {name for name in vars(AuditLog) if not name.startswith("_")} - {"records"}
    assert writers == {"record", "refused", "triggered", "command"}


def test_baton_audit_json_prints_the_runs_records(tmp_path: Path, start_runtime: RuntimeFactory) -> None:
    runtime = _runtime(tmp_path, start_runtime)
    run_id = submit(runtime, "rename the endpoint", ["api"])
    wait_for(runtime, run_id, RunState.awaiting_approval, timeout=60)
    approve_until_merged(runtime, run_id)
    (tmp_path / "baton.yml").write_text(yaml.safe_dump({}))
    env = {"BATON_HOME": str(tmp_path / ".baton"), "BATON_CONFIG": str(tmp_path / "baton.yml"), "PATH": "/usr/bin"}

    result = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--run", run_id, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    printed = json.loads(result.stdout)
    assert [r["kind"] for r in printed] == ["trigger", "approval", "merge"]
    assert set(printed[0]) == {"at", "run_id", "kind", "actor", "surface", "outcome", "reason", "shas", "delivery_id"}
    assert printed[2]["shas"] == {"api": runtime.store.changes(run_id)[0].merge_sha}
