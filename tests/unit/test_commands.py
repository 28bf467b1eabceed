"""Commands and mentions in comments: only a person's own words on their own line count."""

from __future__ import annotations

from handlers.commands import Command, mention_text, parse_commands


def test_a_command_alone_on_its_line_counts() -> None:
    assert parse_commands("/baton approve") == [Command(name="approve")]


def test_a_command_keeps_its_arguments() -> None:
    assert parse_commands("/baton reject the migration is wrong") == [
        Command(name="reject", args="the migration is wrong")
    ]


def test_commands_are_case_insensitive_and_may_be_indented_a_little() -> None:
    assert parse_commands("  /Baton CANCEL") == [Command(name="cancel")]


def test_a_command_inside_a_sentence_does_not_count() -> None:
    assert parse_commands("please /baton approve this") == []


def test_a_quoted_command_does_not_count() -> None:
    assert parse_commands("> /baton approve\nI disagree") == []


def test_a_command_in_a_fenced_code_block_does_not_count() -> None:
    assert parse_commands("```\n/baton approve\n```\n~~~\n/baton cancel\n~~~") == []


def test_a_command_in_an_indented_code_block_does_not_count() -> None:
    assert parse_commands("example:\n\n    /baton approve\n") == []


def test_a_command_in_inline_code_does_not_count() -> None:
    assert parse_commands("`/baton approve`") == []


def test_a_command_after_a_closed_fence_counts() -> None:
    assert parse_commands("```\nlog\n```\n/baton retry") == [Command(name="retry")]


def test_an_unknown_command_is_not_a_command() -> None:
    assert parse_commands("/baton deploy") == []


def test_a_word_that_starts_with_a_command_is_not_that_command() -> None:
    assert parse_commands("/baton approved") == []


def test_a_mention_yields_the_words_after_it() -> None:
    assert mention_text("@baton rename /v1/items to /v2/items", "@baton") == "rename /v1/items to /v2/items"


def test_a_mention_mid_sentence_yields_the_rest_of_the_comment() -> None:
    assert (
        mention_text("Hey @baton, please bump deps\nin both repos", "@baton") == "Hey please bump deps\nin both repos"
    )


def test_a_longer_handle_is_not_a_mention() -> None:
    assert mention_text("@batonbot do it", "@baton") is None


def test_an_email_address_is_not_a_mention() -> None:
    assert mention_text("write to ops@baton.dev", "@baton") is None


def test_a_quoted_mention_is_not_a_mention() -> None:
    assert mention_text("> @baton do it\nno thanks", "@baton") is None


def test_a_mention_in_inline_code_is_not_a_mention() -> None:
    assert mention_text("type `@baton fix` to ask", "@baton") is None


def test_no_mention_yields_none() -> None:
    assert mention_text("looks good to me", "@baton") is None


def test_a_campaigns_skip_and_close_are_commands() -> None:
    assert parse_commands("/baton skip client07\n/baton close") == [
        Command(name="skip", args="client07"),
        Command(name="close"),
    ]
