"""Requests: inline options are read the same way from every source; run ids follow deliveries."""

from __future__ import annotations

import pytest

from bot.config.base import ConfigError
from bot.config.models import parse_baton_file
from bot.engine.intake import RequestError, build_spec, parse_request, run_id_for
from handlers.cli import cli_trigger


def test_options_are_taken_out_of_the_request() -> None:
    parsed = parse_request("rename /v1/items repo=api,web agent=claude budget=$5 playbook=safe")
    assert parsed.text == "rename /v1/items"
    assert parsed.repos == ["api", "web"]
    assert (parsed.agent, parsed.playbook, parsed.budget_usd) == ("claude", "safe", 5.0)


def test_a_bad_budget_is_a_clear_error() -> None:
    with pytest.raises(RequestError, match="budget must look like"):
        parse_request("fix it budget=lots")


def test_the_same_delivery_gives_the_same_run_id() -> None:
    assert run_id_for(cli_trigger("a", "d-1")) == run_id_for(cli_trigger("b", "d-1"))
    assert run_id_for(cli_trigger("a", "d-1")) != run_id_for(cli_trigger("a", "d-2"))


def test_explicit_repos_win_over_repos_in_the_text() -> None:
    config = parse_baton_file({})
    spec = build_spec(cli_trigger("do it repo=web"), config, repos=["api"])
    assert spec.repos == ["api"]


def test_the_request_budget_overrides_the_configured_one() -> None:
    config = parse_baton_file({"budget": {"max_usd": 1, "max_tokens": 1000}})
    spec = build_spec(cli_trigger("do it budget=$3"), config)
    assert (spec.budget.max_usd, spec.budget.max_tokens) == (3.0, 1000)


def test_a_multi_line_request_keeps_its_lines() -> None:
    parsed = parse_request("Rename the endpoint repo=api\n\n  Steps:  keep   the old one\n- update clients")
    assert parsed.text == "Rename the endpoint\nSteps: keep the old one\n- update clients"


def test_a_playbook_adds_its_own_repos_to_those_requested() -> None:
    config = parse_baton_file(
        {
            "repos": [{"name": n, "url": f"/r/{n}"} for n in ("api", "web", "sdk")],
            "playbooks": {"api-change": {"repos": ["sdk", "api"]}},
        }
    )
    spec = build_spec(cli_trigger("rename /items playbook=api-change"), config, repos=["api", "web"])
    assert spec.repos == ["api", "web", "sdk"]


def test_a_playbook_naming_an_unknown_repo_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"playbooks\.x\.repos: unknown repo 'ghost'"):
        parse_baton_file({"playbooks": {"x": {"repos": ["ghost"]}}})
