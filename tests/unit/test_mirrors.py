"""Bare mirrors and the discovery search over real git: seeded bare remotes in tmp_path, no mocks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.config.models import RepoConfig
from bot.domain.discovery import DiscoveryError
from bot.scm.git import run_git
from bot.scm.mirrors import Mirrors
from bot.scm.workspace import GitWorkspace
from tests.gitutil import commit_to_remote, make_remote

CLIENT = 'import http\n\ndef items():\n    return http.get("/v1/items")\n'


@pytest.fixture
def repos(tmp_path: Path) -> dict[str, RepoConfig]:
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    files = {
        "web": {"src/client.py": CLIENT, "README.md": "web\n"},
        "mobile": {"app/api.py": CLIENT},
        "decoy": {"src/client.py": 'http.get("/v2/items")\n'},
    }
    return {n: RepoConfig(name=n, url=str(make_remote(remotes, n, f))) for n, f in files.items()}


def test_search_returns_exactly_the_repos_whose_default_branch_matches(
    tmp_path: Path, repos: dict[str, RepoConfig]
) -> None:
    found = Mirrors(tmp_path / "mirrors").search(r"/v1/items\b", list(repos.values()))
    assert [h.repo for h in found] == ["web", "mobile"]


def test_search_shows_each_match_with_its_file_and_line(tmp_path: Path, repos: dict[str, RepoConfig]) -> None:
    (web, _mobile) = Mirrors(tmp_path / "mirrors").search(r"/v1/items", list(repos.values()))
    assert [(h.path, h.line, h.text) for h in web.hits] == [("src/client.py", 4, 'return http.get("/v1/items")')]
    assert web.files == 1


def test_a_pattern_that_looks_like_an_option_is_searched_as_text(tmp_path: Path) -> None:
    remotes = tmp_path / "remotes"
    remotes.mkdir()
    planted = tmp_path / "pager-ran"
    # As an option, `-O<cmd>` would have git grep run <cmd> as a pager on the matching files.
    pattern = f"-Otouch {planted}"
    remote = make_remote(remotes, "tools", {"notes.txt": f"run with {pattern} to open files\n"})
    found = Mirrors(tmp_path / "mirrors").search(pattern, [RepoConfig(name="tools", url=str(remote))])
    assert [h.hits[0].text for h in found] == [f"run with {pattern} to open files"]
    assert not planted.exists()


def test_a_pattern_git_rejects_is_a_discovery_error_quoting_git(tmp_path: Path, repos: dict[str, RepoConfig]) -> None:
    with pytest.raises(DiscoveryError, match=r"rejected the pattern '\(unclosed'.*Unmatched \("):
        Mirrors(tmp_path / "mirrors").search("(unclosed", list(repos.values()))


def test_a_mirror_fetched_before_use_sees_a_new_commit(tmp_path: Path, repos: dict[str, RepoConfig]) -> None:
    mirrors = Mirrors(tmp_path / "mirrors", fresh_for_s=0)
    assert [h.repo for h in mirrors.search("v3/orders", list(repos.values()))] == []
    commit_to_remote(Path(repos["decoy"].url), "main", {"orders.py": 'get("/v3/orders")\n'}, "orders")
    assert [h.repo for h in mirrors.search("v3/orders", list(repos.values()))] == ["decoy"]


def test_a_freshly_fetched_mirror_is_searched_without_fetching_again(
    tmp_path: Path, repos: dict[str, RepoConfig]
) -> None:
    mirrors = Mirrors(tmp_path / "mirrors", fresh_for_s=3600)
    mirrors.search("v3/orders", list(repos.values()))
    commit_to_remote(Path(repos["decoy"].url), "main", {"orders.py": 'get("/v3/orders")\n'}, "orders")
    assert [h.repo for h in mirrors.search("v3/orders", list(repos.values()))] == []


def test_concurrent_callers_share_one_mirror_per_repo(tmp_path: Path, repos: dict[str, RepoConfig]) -> None:
    mirrors = Mirrors(tmp_path / "mirrors", fresh_for_s=0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        paths = set(pool.map(lambda _: mirrors.ensure(repos["web"]), range(8)))
    assert paths == {tmp_path / "mirrors" / "web.git"}
    assert sorted(p.name for p in (tmp_path / "mirrors").iterdir() if not p.name.endswith(".lock")) == ["web.git"]
    assert run_git(["rev-parse", "refs/heads/main"], mirrors.path("web")) == run_git(
        ["rev-parse", "refs/heads/main"], Path(repos["web"].url)
    )


def test_a_workspace_cloned_from_the_mirror_pushes_to_the_real_remote(
    tmp_path: Path, repos: dict[str, RepoConfig]
) -> None:
    mirrors = Mirrors(tmp_path / "mirrors")
    ws = GitWorkspace(tmp_path / "runs", repos.__getitem__, mirrors=mirrors)
    path = ws.prepare("r1", "web", "baton/r1/rename")
    assert run_git(["remote", "get-url", "origin"], path) == repos["web"].url
    (path / "src" / "client.py").write_text(CLIENT.replace("v1", "v2"))
    sha = ws.commit_all(path, "rename")
    assert ws.push(path, "web", "baton/r1/rename") == sha
    assert run_git(["rev-parse", "refs/heads/baton/r1/rename"], Path(repos["web"].url)) == sha


def test_a_workspace_cloned_from_the_mirror_has_no_alternates_into_the_home(
    tmp_path: Path, repos: dict[str, RepoConfig]
) -> None:
    ws = GitWorkspace(tmp_path / "runs", repos.__getitem__, mirrors=Mirrors(tmp_path / "mirrors"))
    path = ws.prepare("r1", "web", "baton/r1/rename")
    assert not (path / ".git" / "objects" / "info" / "alternates").exists()
    assert (tmp_path / "mirrors" / "web.git").is_dir()
