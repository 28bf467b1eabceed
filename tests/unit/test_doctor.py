"""`baton doctor` names a source that is half configured: it would accept work it cannot answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.settings import Settings
from bot.doctor import doctor_report

SOURCE_ENV = (
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_TOKEN",
    "GITHUB_APP_ID",
    "GITHUB_APP_PRIVATE_KEY",
    "LINEAR_WEBHOOK_SECRET",
    "LINEAR_API_KEY",
)


@pytest.fixture(autouse=True)
def _no_source_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in SOURCE_ENV:
        monkeypatch.delenv(name, raising=False)


def _report(tmp_path: Path, config: str = "") -> tuple[str, bool]:
    path = tmp_path / "baton.yml"
    path.write_text(config)
    return doctor_report(Settings(config=path, home=tmp_path / ".baton"))


def test_a_slack_signing_secret_without_a_bot_token_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret-signing")
    text, ok = _report(tmp_path)
    assert "✗ slack: SLACK_SIGNING_SECRET is set but SLACK_BOT_TOKEN is not" in text
    assert not ok


def test_a_linear_webhook_secret_without_an_api_key_is_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINEAR_WEBHOOK_SECRET", "lin-secret")
    text, _ = _report(tmp_path)
    assert "✗ linear: LINEAR_WEBHOOK_SECRET is set but LINEAR_API_KEY is not" in text


def test_github_repos_without_credentials_are_flagged_by_name(tmp_path: Path) -> None:
    config = "repos:\n  - name: api\n    url: /r/api\n    forge: github\n    github: acme/api\n"
    text, ok = _report(tmp_path, config)
    assert "✗ github: api use forge: github, but neither GITHUB_TOKEN nor" in text
    assert not ok


def test_github_app_credentials_count_as_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_APP_ID", "123")
    monkeypatch.setenv("GITHUB_APP_PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----")
    config = "repos:\n  - name: api\n    url: /r/api\n    forge: github\n    github: acme/api\n"
    text, _ = _report(tmp_path, config)
    assert "✗ github" not in text


def test_the_report_never_prints_a_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s3cret-signing")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_shouldnotappear")
    text, _ = _report(tmp_path)
    assert "s3cret-signing" not in text
    assert "ghp_shouldnotappear" not in text


def _who_can_approve(text: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index("who can approve:")
    block = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        block.append(line.strip())
    return block


def test_with_no_approvers_doctor_says_the_github_permission_decides_and_names_the_mapped_people(
    tmp_path: Path,
) -> None:
    config = (
        "people:\n"
        "  - {name: Maya, slack: U0MAYA, github: maya}\n"
        "  - {name: Lin, linear: lin-1}\n"
        "slack:\n  team_id: T0ACME\n"
    )
    text, _ = _report(tmp_path, config)

    assert _who_can_approve(text) == [
        "approval.approvers: none listed (the secure default)",
        "the terminal operator: `baton approve RUN`",
        "GitHub users with maintain access to every repo of the run (asked of GitHub when they approve)",
        "from Slack or Linear, people mapped to such a GitHub login: Maya (slack U0MAYA, github maya)",
        "not mapped to a GitHub login, so they cannot approve: Lin (linear lin-1)",
        "min_approvals: 1 person; the requester may not approve their own run (except from: cli)",
        "slack workspace: T0ACME (slack.team_id)",
    ]


def test_with_approvers_listed_doctor_prints_them_and_the_workspace_auth_test_will_name(tmp_path: Path) -> None:
    config = 'approval:\n  approvers: ["slack:U0BOB", "person:Maya"]\n  min_approvals: 2\n'
    text, _ = _report(tmp_path, config)

    assert _who_can_approve(text)[0] == "approval.approvers: slack:U0BOB, person:Maya"
    assert "min_approvals: 2 persons; the requester may not approve their own run (except from: cli)" in text
    assert "slack workspace: the one auth.test reports when Baton starts (set slack.team_id to pin it)" in text
