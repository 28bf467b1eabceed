"""Every GraphQL document Baton can send to Linear is valid against Linear's published schema, and
the schema Baton ships for local validation is that published schema, byte for byte."""

from __future__ import annotations

import ast
from pathlib import Path

from graphql import GraphQLError, GraphQLSchema, parse, validate

from bot.services.linear import documents as linear_documents
from bot.services.linear.client import SCHEMA_PATH
from tests.fakes.linear_api import SCHEMA_FIXTURE, load_fixture_schema

BOT = Path(__file__).resolve().parents[2] / "bot"
_OPENINGS = ("query ", "query{", "mutation ", "mutation{", "subscription ", "fragment ", "{")


def _graphql_strings_in_python() -> dict[str, str]:
    """Every string constant in bot/ that is a GraphQL executable document, wherever it lives."""
    found: dict[str, str] = {}
    for path in sorted(BOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value.strip()
            if not text.startswith(_OPENINGS):
                continue
            try:
                parse(text)
            except GraphQLError:
                continue
            found[f"{path.relative_to(BOT)}:{node.lineno}"] = text
    return found


def _graphql_files() -> dict[str, str]:
    schema_dir = SCHEMA_PATH.parent
    return {
        str(p.relative_to(BOT)): p.read_text(encoding="utf-8")
        for p in sorted(BOT.rglob("*.graphql"))
        if p.parent != schema_dir
    }


def _problems(schema: GraphQLSchema, documents: dict[str, str]) -> dict[str, list[str]]:
    return {
        where: [e.message for e in errors]
        for where, text in documents.items()
        if (errors := validate(schema, parse(text)))
    }


def test_every_graphql_document_in_bot_validates_against_linears_published_schema() -> None:
    documents = {**_graphql_strings_in_python(), **_graphql_files()}
    assert len(documents) >= len(linear_documents.ALL)  # the scan sees at least the known ones
    assert _problems(load_fixture_schema(), documents) == {}


def test_the_scan_finds_every_document_the_client_module_declares() -> None:
    scanned = set(_graphql_strings_in_python().values())
    assert {d.strip() for d in linear_documents.ALL.values()} <= scanned


def test_a_document_with_an_unknown_field_is_reported_by_the_same_check() -> None:
    bad = {"probe": 'mutation Probe { commentCreate(input: {body: "x"}) { success nope } }'}
    assert _problems(load_fixture_schema(), bad) == {"probe": ["Cannot query field 'nope' on type 'CommentPayload'."]}


def test_the_schema_baton_ships_is_linears_published_sdl_byte_for_byte() -> None:
    assert SCHEMA_PATH.read_bytes() == SCHEMA_FIXTURE.read_bytes()


def test_every_operation_is_named_for_linears_logs() -> None:
    names = [parse(d).definitions[0].name for d in linear_documents.ALL.values()]  # type: ignore[attr-defined]
    assert all(n is not None and n.value.startswith("Baton") for n in names)
