"""Baton's own git never runs what a repository (or an agent that wrote into one) controls, and a
step that changes what could make it do so is caught, put back and failed — real git, real files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.agents.script import ScriptAgent
from bot.config.agents import AgentConfig
from bot.config.models import RepoConfig
from bot.domain.models import AgentStatus, AgentTask
from bot.scm.git import git_env, run_git
from bot.scm.gitguard import GitSnapshot, UnsafeRepoConfig, remote_auth_env
from bot.scm.workspace import GitWorkspace
from tests.gitutil import make_remote


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    remote = make_remote(tmp_path, "api", {"README.md": "# api\n"})
    ws = GitWorkspace(tmp_path / "runs", {"api": RepoConfig(name="api", url=str(remote))}.__getitem__)
    return ws.prepare("r1", "api", "baton/r1/x")


def _hook(clone: Path, name: str, marker: Path) -> None:
    hook = clone / ".git" / "hooks" / name
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)


def test_no_hook_runs_in_batons_git(clone: Path, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for name in ("pre-commit", "post-commit", "post-index-change", "reference-transaction", "post-checkout"):
        _hook(clone, name, marker)
    (clone / "file.txt").write_text("x\n")
    run_git(["add", "-A"], clone)
    run_git(["commit", "-qm", "work"], clone)
    run_git(["checkout", "-q", "-B", "other"], clone)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("core.fsmonitor", "touch ran"),
        ("core.sshCommand", "touch ran"),
        ("filter.evil.clean", "touch ran"),
        ("diff.external", "touch ran"),
        ("credential.helper", "!touch ran"),
        ("include.path", "/tmp/elsewhere"),
        ("core.hooksPath", "/tmp/hooks"),
        ("url.https://evil.example/.insteadOf", "https://github.com/"),
    ],
)
def test_batons_git_refuses_a_repository_whose_own_config_could_run_a_program(
    clone: Path, key: str, value: str
) -> None:
    config = clone / ".git" / "config"
    with config.open("a") as out:
        section, _, name = key.rpartition(".")
        head, _, sub = section.partition(".")
        out.write(f'[{head} "{sub}"]\n' if sub else f"[{head}]\n")
        out.write(f"\t{name} = {value}\n")
    with pytest.raises(UnsafeRepoConfig) as refused:
        run_git(["status"], clone)
    assert f"{config} sets {key.lower()}, which could make git run a program" in str(refused.value)
    assert not (clone / "ran").exists()


def test_git_gets_none_of_batons_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-not-for-git")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "not-for-git")
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.fsmonitor'='touch ran'")
    env = git_env()
    assert not {"GITHUB_TOKEN", "SLACK_SIGNING_SECRET", "GIT_CONFIG_PARAMETERS"} & set(env)
    assert env["HOME"] and env["PATH"]


def test_a_push_credential_is_a_header_for_one_url_in_the_calls_environment() -> None:
    env = remote_auth_env("https://github.com/acme/api.git", "ghs_token")
    assert env == {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.https://github.com/acme/api.git.extraHeader",
        "GIT_CONFIG_VALUE_0": "Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hzX3Rva2Vu",
    }


def test_a_snapshot_names_what_changed_in_the_git_directory_and_puts_it_back(clone: Path) -> None:
    config = (clone / ".git" / "config").read_bytes()
    snapshot = GitSnapshot.take(clone)
    _hook(clone, "post-commit", clone / "ran")
    (clone / ".git" / "config").write_text("[core]\n\tfsmonitor = touch ran\n")
    (clone / ".git" / "info" / "attributes").write_text("* filter=evil\n")
    assert snapshot.changes() == [
        ".git/config (modified)",
        ".git/hooks/post-commit (added)",
        ".git/info/attributes (added)",
    ]
    assert (clone / ".git" / "config").read_bytes() == config
    assert not (clone / ".git" / "hooks" / "post-commit").exists()
    assert GitSnapshot.take(clone).changes() == []


def test_an_unconfined_agent_that_plants_a_hook_fails_its_step_naming_it(clone: Path, tmp_path: Path) -> None:
    plant = (
        "import pathlib, subprocess; hook = pathlib.Path('.git/hooks/post-commit'); "
        "hook.write_text('#!/bin/sh\\nenv > ../stolen\\n'); hook.chmod(0o755); "
        "subprocess.run(['git', 'config', 'core.fsmonitor', 'env > ../stolen'], check=True)"
    )
    config = AgentConfig(name="loose", command=[sys.executable, "-c", plant], isolation="none")
    task = AgentTask(run_id="r1", repo="api", step_key="api/impl", prompt="work")
    result = ScriptAgent(config, tmp_path / "homes").run(task, clone, lambda: False, lambda kind, data: None)
    assert result.status is AgentStatus.failed
    assert result.summary.startswith(
        "agent loose changed .git/config (modified), .git/hooks/post-commit (added) — what could make Baton's git"
    )
    assert not (clone / ".git" / "hooks" / "post-commit").exists()
    assert "fsmonitor" not in (clone / ".git" / "config").read_text()
    run_git(["commit", "-q", "--allow-empty", "-m", "Baton commits again"], clone)
    assert not (clone.parent / "stolen").exists()


def test_an_embedded_repository_in_the_work_tree_is_never_entered(clone: Path, tmp_path: Path) -> None:
    """Content an agent (or a repo) puts in the work tree: a nested repository whose own config
    runs a program whenever git looks inside it. Baton commits the tree without looking inside."""
    marker = tmp_path / "ran"
    nested = clone / "vendor" / "lib"
    nested.mkdir(parents=True)
    run_git(["init", "-q"], nested)
    (nested / "a.txt").write_text("a\n")
    run_git(["add", "a.txt"], nested)
    run_git(["commit", "-qm", "nested"], nested)
    with (nested / ".git" / "config").open("a") as out:
        out.write(f"[core]\n\tfsmonitor = touch {marker}; true\n")
    (nested / "a.txt").write_text("changed\n")
    ws = GitWorkspace(tmp_path / "runs", lambda name: RepoConfig(name=name, url="/unused"))
    assert ws.commit_all(clone, "with an embedded repository") is not None
    (nested / "a.txt").write_text("changed again\n")
    run_git(["status", "--porcelain"], clone)
    ws.commit_all(clone, "again")
    assert not marker.exists()
