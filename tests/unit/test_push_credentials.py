"""A push credential reaches only the git calls that talk to the remote, as a header, and is never
written down: not in the clone's config, not in any file an agent could read. A real `git push` to
a local HTTP server that records what git sends."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config.models import RepoConfig
from bot.domain.ports import PushRejected
from bot.scm.git import git_result, run_git
from bot.scm.gitguard import remote_auth_env
from bot.scm.workspace import GitWorkspace
from tests.fakes.http_stub import StubHandler, StubServer
from tests.gitutil import make_remote

TOKEN = "ghs_push0token0only0for0git0000000000"
BRANCH = "baton/r1/change"


class _Recorder(StubHandler):
    def do_GET(self) -> None:
        self.owner.append(self.headers.get("Authorization"))
        self.send_json(403, {"message": "recorded"})


@pytest.fixture
def seen() -> Iterator[list[str | None]]:
    headers: list[str | None] = []
    server = StubServer(_Recorder, headers, "git-http").start()
    headers.append(server.url)  # first entry: where it listens
    yield headers
    server.stop()


def test_the_push_alone_carries_the_token_and_no_file_holds_it(tmp_path: Path, seen: list[str | None]) -> None:
    url = f"{seen.pop(0)}/acme/api.git"
    local = make_remote(tmp_path, "api", {"README.md": "# api\n"})
    on_disk = GitWorkspace(tmp_path / "runs", {"api": RepoConfig(name="api", url=str(local))}.__getitem__)
    path = on_disk.prepare("r1", "api", BRANCH)
    (path / "change.txt").write_text("x\n")
    on_disk.commit_all(path, "change")
    run_git(["remote", "set-url", "origin", url], path)

    github = RepoConfig(name="api", url=url, forge="github", github="acme/api")
    ws = GitWorkspace(
        tmp_path / "runs", {"api": github}.__getitem__, remote_auth=lambda cfg: remote_auth_env(cfg.url, TOKEN)
    )
    with pytest.raises(PushRejected):
        ws.push(path, "api", BRANCH)
    pushed = list(seen)
    git_result(["ls-remote", "--heads", "origin"], path)  # any other call to the remote: no token

    expected = "Basic " + base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert pushed == [expected]
    assert seen[len(pushed) :] == [None]
    written = [p for p in path.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert written == []
    assert "extraheader" not in (path / ".git" / "config").read_text().lower()
