"""Setting up a GitHub world for a test: the fake server, bare repos it serves, people with roles,
and the matching `baton.yml` (repos with `forge: github`, a `github:` section without client-side
throttling or back-off, so tests stay fast)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.config.models import BatonFile, parse_baton_file
from bot.services.github.client import GitHubApi, GitHubCredentials
from tests.fakes.github_api import FakeGitHub
from tests.gitutil import make_remote

OWNER = "acme"
BOT = "baton-bot"
TOKEN = "ghp_fAkEtOkEn0123456789abcdefABCDEF0123"
FAST = {
    "seconds_between_requests": 0,
    "seconds_between_writes": 0,
    "retry_backoff_s": 0,
    "mergeable_poll_interval_s": 0.01,
    "checks_poll_interval_s": 0,
    # GitHub's own limit less a second: a loaded test machine must not turn a 200 into a 202.
    "webhook_answer_s": 9,
}


def start_fake(tmp_path: Path, names: list[str], *, enterprise: bool = False) -> tuple[FakeGitHub, dict[str, Path]]:
    """A running fake GitHub (with Enterprise Server's paths if `enterprise`) serving `acme/<name>`
    for each name, each a bare repo with one commit."""
    fake = FakeGitHub(enterprise=enterprise).start()
    fake.add_user(BOT, token=TOKEN)
    root = tmp_path / "remotes"
    root.mkdir(parents=True, exist_ok=True)
    remotes = {}
    for name in names:
        remotes[name] = make_remote(root, name, {"README.md": f"# {name}\n"})
        fake.add_repo(f"{OWNER}/{name}", remotes[name])
    return fake, remotes


def config_dict(remotes: dict[str, Path], **github: Any) -> dict[str, Any]:
    return {
        "repos": [
            {"name": n, "url": str(p), "forge": "github", "github": f"{OWNER}/{n}", "checks": "test ! -e BROKEN"}
            for n, p in remotes.items()
        ],
        "github": {**FAST, **github},
    }


def baton_config(remotes: dict[str, Path], **github: Any) -> BatonFile:
    return parse_baton_file(config_dict(remotes, **github))


def api_for(fake: FakeGitHub, config: BatonFile, token: str = TOKEN) -> GitHubApi:
    return GitHubApi(GitHubCredentials(token=token, api_url=fake.url), config.github)
