"""The run page's links back to where the run was asked for, derived from the trigger's reply_to,
and the dashboard's templates shipping inside the `bot` package (so the wheel has them)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.domain.models import Actor, ReplyTo, RunSpec, Source, Trigger
from bot.surfaces.dashboard.pages import RunLink, github_web_url, run_links
from bot.surfaces.render import TEMPLATES

ROOT = Path(__file__).resolve().parents[2]


def _spec(reply_to: ReplyTo) -> RunSpec:
    actor = Actor(source=reply_to.source, id="u1")
    trigger = Trigger(source=reply_to.source, actor=actor, request="x", reply_to=reply_to, delivery_id="d1")
    return RunSpec(run_id="r1", trigger=trigger, repos=["api"], playbook="default")


def test_a_slack_run_links_to_its_thread_without_a_workspace_domain() -> None:
    spec = _spec(ReplyTo(source=Source.slack, channel="C111", thread_ts="1700000000.123456"))
    assert run_links(spec, None, None, "https://api.github.com") == [
        RunLink(label="Slack thread", url="https://slack.com/archives/C111/p1700000000123456")
    ]


def test_a_slash_command_run_links_to_its_card_message() -> None:
    spec = _spec(ReplyTo(source=Source.slack, channel="C111"))
    card = {"channel": "C111", "ts": "1700000001.000200", "thread_ts": None}
    assert [link.url for link in run_links(spec, card, None, "")] == [
        "https://slack.com/archives/C111/p1700000001000200"
    ]


def test_a_github_run_links_to_its_issue_on_the_forges_web_address() -> None:
    spec = _spec(ReplyTo(source=Source.github, repo="acme/api", issue_number=12))
    assert run_links(spec, None, None, "https://api.github.com") == [
        RunLink(label="GitHub issue acme/api#12", url="https://github.com/acme/api/issues/12")
    ]


def test_github_enterprise_api_addresses_map_to_the_web_address() -> None:
    assert github_web_url("https://ghe.example.com/api/v3/") == "https://ghe.example.com"


def test_a_linear_run_links_to_the_issue_url_its_surface_recorded() -> None:
    spec = _spec(ReplyTo(source=Source.linear, issue_id="uuid-1"))
    target = {"issue_id": "uuid-1", "identifier": "ENG-7", "url": "https://linear.app/acme/issue/ENG-7/x"}
    assert run_links(spec, None, target, "") == [
        RunLink(label="Linear issue ENG-7", url="https://linear.app/acme/issue/ENG-7/x")
    ]


def test_a_cli_run_has_no_links() -> None:
    assert run_links(_spec(ReplyTo(source=Source.cli)), None, None, "https://api.github.com") == []


def test_the_templates_live_in_the_bot_package_and_are_not_ignored_by_git() -> None:
    # hatch's wheel takes every file of `packages = ["bot", "handlers"]` that git does not ignore.
    names = sorted(p.name for p in TEMPLATES.glob("*.html"))
    assert names == ["base.html", "campaign.html", "review.html", "run.html", "runs.html"]
    assert TEMPLATES.resolve().is_relative_to(ROOT / "bot")
    ignored = subprocess.run(
        ["git", "check-ignore", *[str(TEMPLATES / n) for n in names]], cwd=ROOT, capture_output=True, text=True
    )
    assert ignored.stdout == ""
