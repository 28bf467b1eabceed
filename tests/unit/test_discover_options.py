"""`discover=` in people's words (Slack mentions, GitHub and Linear commands, the CLI) and the
`drop <repo>` command: what is read as an option, what stays the request, what is never read."""

from __future__ import annotations

import pytest

from bot.config.models import parse_baton_file
from bot.domain.models import Actor, ReplyTo, Source, Trigger
from bot.domain.untrusted import compose, new_nonce
from bot.engine.intake import RequestError, build_spec, discovers, parse_request, reach
from handlers.cli import cli_trigger
from handlers.commands import dropped_repo, mention_text, parse_commands

CONFIG = parse_baton_file(
    {
        "repos": [{"name": n, "url": f"/srv/{n}.git"} for n in ("api", "web", "mobile")],
        "playbooks": {"rename": {"discover": "/v1/items"}},
    }
)


def _slack(text: str) -> Trigger:
    return Trigger(
        source=Source.slack,
        actor=Actor(source=Source.slack, id="U1"),
        request=text,
        reply_to=ReplyTo(source=Source.slack, channel="C1", thread_ts="1.0"),
        delivery_id="e1",
    )


def test_a_double_quoted_pattern_keeps_its_punctuation() -> None:
    parsed = parse_request('rename the endpoint discover="get\\(./v1/(items|orders)\\)." please')
    assert parsed.discover == "get\\(./v1/(items|orders)\\)."


def test_a_quoted_pattern_with_spaces_is_one_option() -> None:
    parsed = parse_request('rename it discover="fetch( /v1/items" now')
    assert (parsed.discover, parsed.text) == ("fetch( /v1/items", "rename it now")


def test_typographic_quotes_from_a_chat_client_delimit_a_pattern() -> None:
    assert parse_request("go discover=\u201c/v1/items x\u201d").discover == "/v1/items x"


def test_an_unquoted_pattern_keeps_its_trailing_punctuation() -> None:
    assert parse_request("rename discover=items\\.").discover == "items\\."


def test_an_empty_quoted_pattern_is_a_clear_error() -> None:
    with pytest.raises(RequestError, match="discover= needs a pattern"):
        parse_request('rename discover=""')


def test_a_slack_mention_with_discover_and_repo_combines_them() -> None:
    words = mention_text('<@UBATON> rename /v1/items repo=api discover="/v1/items"', "<@UBATON>")
    assert words is not None
    spec = build_spec(_slack(words), CONFIG)
    assert (spec.repos, spec.discover, spec.trigger.request) == (["api"], "/v1/items", "rename /v1/items")


def test_a_github_run_command_reads_discover_from_its_arguments() -> None:
    (command,) = parse_commands('/baton run rename the route discover="GET /v1/items"')
    spec = build_spec(cli_trigger(command.args), CONFIG)
    assert spec.discover == "GET /v1/items"


def test_discover_in_quoted_issue_text_is_never_read() -> None:
    request = compose("Resolve the issue below.", "GitHub issue o/r#1", "ISSUE", "discover=. repo=web", new_nonce())
    spec = build_spec(cli_trigger(request), CONFIG)
    assert (spec.discover, spec.repos) == (None, [])


def test_a_discovering_run_may_reach_every_configured_repo() -> None:
    spec = build_spec(_slack('fix it repo=api discover="x"'), CONFIG)
    assert reach(spec, CONFIG) == ["api", "web", "mobile"]


def test_a_playbook_with_discover_makes_its_runs_discover() -> None:
    spec = build_spec(cli_trigger("rename playbook=rename"), CONFIG)
    assert discovers(spec, CONFIG)
    assert spec.discover is None


def test_drop_names_one_repo() -> None:
    assert dropped_repo("drop `web`") == "web"


def test_drop_with_more_words_is_not_a_drop() -> None:
    assert dropped_repo("drop web and mobile") is None


def test_the_drop_command_keeps_its_repo() -> None:
    (command,) = parse_commands("/baton drop mobile")
    assert (command.name, command.args) == ("drop", "mobile")
