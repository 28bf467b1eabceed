"""The `baton demo` sandbox: real remotes whose checks pass, and mean something, before and after
the codemod the demo's `script` agent runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config.models import load_baton_file
from bot.demo import NEW_PATH, OLD_PATH, REQUEST, Sandbox, create_sandbox


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Sandbox:
    return create_sandbox(tmp_path_factory.mktemp("demo"))


def _clone(sandbox: Sandbox, repo: str, dest: Path) -> Path:
    work = dest / repo
    subprocess.run(
        ["git", "clone", "--quiet", str(sandbox.remotes[repo]), str(work)],
        check=True,
        capture_output=True,
    )
    return work


def _checks(
    sandbox: Sandbox, repo: str, work: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = load_baton_file(sandbox.config_path).repo(repo).checks
    assert command is not None
    clean = {k: v for k, v in os.environ.items() if k != "INVENTORY_API_CONTRACT"}
    return subprocess.run(
        ["sh", "-c", command],  # as the local forge runs checks
        cwd=work,
        env=clean | (env or {}),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _codemod(sandbox: Sandbox, work: Path) -> subprocess.CompletedProcess[str]:
    command = load_baton_file(sandbox.config_path).agent("renamer").command
    assert isinstance(command, list)
    return subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=60)


def _mentions(work: Path, text: str) -> list[str]:
    return sorted(
        str(p.relative_to(work))
        for p in work.rglob("*")
        if p.is_file() and ".git" not in p.parts and text in p.read_text("utf-8", "replace")
    )


def test_config_loads_with_the_demo_repos_agent_and_playbook(sandbox: Sandbox) -> None:
    config = load_baton_file(sandbox.config_path)

    assert [r.name for r in config.repos] == [
        "inventory-api",
        "storefront",
        "billing",
        "checkout",
        "search",
        "warehouse",
        "mobile-bff",
    ]
    assert [r.url for r in config.repos] == [str(p) for p in sandbox.remotes.values()]
    assert config.repo("billing").depends_on == ["inventory-api"]
    assert config.agent("renamer").kind == "script"
    assert config.agent("renamer").command == [
        sys.executable,
        str(sandbox.codemod),
        OLD_PATH,
        NEW_PATH,
    ]
    assert config.routing.default_agent == "renamer"
    assert config.approval.approvers == ["cli:*"]
    assert config.approval.require_green_checks
    node = config.playbook("default").per_repo
    assert node.verify is not None and node.verify.max_attempts == 2
    assert node.verify.do.agent == "renamer"
    assert sandbox.request == REQUEST


def test_remotes_are_bare_repos_with_one_demo_commit_on_main(sandbox: Sandbox) -> None:
    for remote in sandbox.remotes.values():
        git = ["git", f"--git-dir={remote}"]
        head = subprocess.run([*git, "symbolic-ref", "HEAD"], capture_output=True, text=True)
        log = subprocess.run([*git, "log", "--format=%an <%ae>", "main"], capture_output=True, text=True)
        assert head.stdout.strip() == "refs/heads/main"
        assert log.stdout.splitlines() == ["Demo <demo@localhost>"]


def test_every_repo_passes_its_checks_on_main(sandbox: Sandbox, tmp_path: Path) -> None:
    for repo in sandbox.remotes:
        result = _checks(sandbox, repo, _clone(sandbox, repo, tmp_path))
        assert result.returncode == 0, f"{repo}: {result.stderr}"


def test_after_the_codemod_every_repo_passes_and_no_file_mentions_the_old_path(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    for repo in sandbox.remotes:
        work = _clone(sandbox, repo, tmp_path)
        renamed = _codemod(sandbox, work)

        assert renamed.returncode == 0
        assert f"{OLD_PATH} -> {NEW_PATH}" in renamed.stdout
        assert _mentions(work, OLD_PATH) == []
        assert _mentions(work, NEW_PATH) != []
        result = _checks(sandbox, repo, work)
        assert result.returncode == 0, f"{repo}: {result.stderr}"


def test_clients_fail_against_a_renamed_api_they_were_not_updated_for(sandbox: Sandbox, tmp_path: Path) -> None:
    api = _clone(sandbox, "inventory-api", tmp_path)
    assert _codemod(sandbox, api).returncode == 0
    assert _checks(sandbox, "inventory-api", api).returncode == 0
    renamed_contract = {"INVENTORY_API_CONTRACT": str(api / "contract.json")}

    for client in sandbox.clients:
        result = _checks(sandbox, client, _clone(sandbox, client, tmp_path), renamed_contract)
        assert result.returncode != 0, f"{client} passed against a provider it does not match"
        assert "404" in result.stderr


def test_a_client_fails_when_its_code_and_the_providers_contract_disagree(sandbox: Sandbox, tmp_path: Path) -> None:
    work = _clone(sandbox, "storefront", tmp_path)
    contract = work / "contracts" / "inventory-api.json"
    contract.write_text(contract.read_text("utf-8").replace(OLD_PATH, NEW_PATH), "utf-8")

    assert _checks(sandbox, "storefront", work).returncode != 0


def test_codemod_reports_no_occurrences_and_exits_zero_when_nothing_matches(sandbox: Sandbox, tmp_path: Path) -> None:
    work = _clone(sandbox, "billing", tmp_path)
    assert _codemod(sandbox, work).returncode == 0

    again = _codemod(sandbox, work)

    assert again.returncode == 0
    assert "no occurrences" in again.stdout
    assert len(again.stdout.strip().splitlines()) == 1


def test_codemod_matches_whole_paths_and_skips_git_and_binaries(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text(f"url = {OLD_PATH}\n")
    (tmp_path / "blob.bin").write_bytes(b"\0" + OLD_PATH.encode())
    (tmp_path / "routes.txt").write_text(f"{OLD_PATH}\n{OLD_PATH}/42\n{OLD_PATH}ets\n")

    result = _codemod(sandbox, tmp_path)

    assert result.returncode == 0
    assert "1 file(s): routes.txt" in result.stdout
    assert (tmp_path / "routes.txt").read_text() == f"{NEW_PATH}\n{NEW_PATH}/42\n{OLD_PATH}ets\n"
    assert (tmp_path / ".git" / "config").read_text() == f"url = {OLD_PATH}\n"
    assert (tmp_path / "blob.bin").read_bytes() == b"\0" + OLD_PATH.encode()


def test_more_clients_are_named_client_n_and_depend_on_the_api(tmp_path: Path) -> None:
    sandbox = create_sandbox(tmp_path, clients=7)

    config = load_baton_file(sandbox.config_path)

    assert sandbox.clients[-2:] == ["mobile-bff", "client-7"]
    assert config.repo("client-7").depends_on == ["inventory-api"]
    work = _clone(sandbox, "client-7", tmp_path / "work")
    assert _checks(sandbox, "client-7", work).returncode == 0


def test_fewer_clients_take_the_first_names(tmp_path: Path) -> None:
    assert create_sandbox(tmp_path, clients=2).clients == ["storefront", "billing"]


def test_all_clients_of_the_demo_fan_out_at_once(sandbox: Sandbox) -> None:
    config = load_baton_file(sandbox.config_path)
    assert config.concurrency.per_run >= len(sandbox.clients)
    assert config.concurrency.global_ >= len(sandbox.remotes)


def test_creation_is_deterministic_and_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    first = create_sandbox(tmp_path / "a")
    elapsed = time.perf_counter() - started
    second = create_sandbox(tmp_path / "b")

    def heads(sandbox: Sandbox) -> list[str]:
        return [
            subprocess.run(
                ["git", f"--git-dir={remote}", "rev-parse", "main"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            for remote in sandbox.remotes.values()
        ]

    assert heads(first) == heads(second)
    assert elapsed < 2.0


def test_creating_again_over_a_sandbox_resets_it(tmp_path: Path) -> None:
    first = create_sandbox(tmp_path)
    remote = first.remotes["storefront"]
    (remote / "refs" / "heads" / "stray").write_text("0" * 40 + "\n")

    create_sandbox(tmp_path)

    assert not (remote / "refs" / "heads" / "stray").exists()


def test_negative_clients_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="clients"):
        create_sandbox(tmp_path, clients=-1)
