"""The documentation and the packaging tell the truth: `baton.example.yml` loads and uses every key
and pattern; docs/configuration.md documents every key (with the models' defaults) and environment
variable; the README is a way in (the two first commands at its top, short enough to read); LICENSE
is the licence pyproject declares. (The Dockerfile and docker-compose.yml: tests/unit/test_dockerfile.py;
links between the documents: tests/unit/test_doc_links.py.)
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import re
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bot.config import models as cfg
from bot.config import playbooks as plays
from bot.config.agents import AgentConfig, AgentKind, McpServer
from bot.config.github import GitHubConfig
from bot.config.linear import LinearConfig
from bot.config.models import BatonFile, load_baton_file
from bot.config.playbooks import Node
from bot.config.retention import Retention
from bot.config.settings import Settings
from bot.config.slack import SlackConfig
from bot.domain.models import Budget, Person

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "baton.example.yml"
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "configuration.md"
LICENSE = ROOT / "LICENSE"
PYPROJECT = ROOT / "pyproject.toml"

DESIGN_ENV_VARS = [
    "BATON_CONFIG",
    "BATON_DATABASE_URL",
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "GITHUB_WEBHOOK_SECRET",
    "GITHUB_TOKEN",
    "GITHUB_APP_ID",
    "GITHUB_APP_PRIVATE_KEY",
    "GITHUB_API_URL",
    "LINEAR_WEBHOOK_SECRET",
    "LINEAR_API_KEY",
    "LINEAR_API_URL",
]

# Each model of baton.yml and the path its keys have in docs/configuration.md.
REFERENCE: list[tuple[type[BaseModel], str]] = [
    (cfg.BatonFile, ""),
    (cfg.RepoConfig, "repos[]."),
    (AgentConfig, "agents[]."),
    (McpServer, "agents[].mcp_servers.<name>."),
    (cfg.Routing, "routing."),
    (cfg.RoutingRule, "routing.rules[]."),
    (plays.Playbook, "playbooks.<name>."),
    (plays.Campaign, "playbooks.<name>.campaign."),
    (plays.Node, "<node>."),
    (plays.BestOf, "<node>.best_of."),
    (plays.GroupChat, "<node>.group_chat."),
    (plays.Handoff, "<node>.handoff."),
    (plays.HandoffRoute, "<node>.handoff.routes[]."),
    (plays.Verify, "<node>.verify."),
    (cfg.ApprovalPolicy, "approval."),
    (Budget, "budget."),
    (cfg.Concurrency, "concurrency."),
    (cfg.RateLimit, "rate_limits.<service>."),
    (cfg.Schedule, "schedules[]."),
    (cfg.Cleanup, "cleanup."),
    (Retention, "retention."),
    (cfg.Limits, "limits."),
    (GitHubConfig, "github."),
    (SlackConfig, "slack."),
    (LinearConfig, "linear."),
    (Person, "people[]."),
]


# -- helpers -------------------------------------------------------------------------------------
def _key(name: str, field: FieldInfo) -> str:
    return field.alias or name


def _reference_paths() -> list[tuple[str, FieldInfo]]:
    return [
        (prefix + _key(name, field), field) for model, prefix in REFERENCE for name, field in model.model_fields.items()
    ]


def _default_text(field: FieldInfo) -> str:
    """How docs/configuration.md states a field's default (the same rule generated the tables)."""
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    factory: Any = field.default_factory
    value = factory() if factory is not None else field.default
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return f"`{json.dumps(value)}`"


def _reference_rows() -> dict[str, list[str]]:
    """docs/configuration.md's table rows whose first cell is one code span: that text → the other cells."""
    rows: dict[str, list[str]] = {}
    for line in CONFIGURATION.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`([^`]+)`\s*\|(.*)\|\s*$", line)
        if match:
            rows[match.group(1)] = [c.strip() for c in re.split(r"(?<!\\)\|", match.group(2))]
    return rows


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _keys_set(data: Any, model: type[BaseModel], seen: dict[type[BaseModel], set[str]]) -> None:
    """Record which keys of each model `data` (parsed YAML for `model`) sets, recursively."""
    if not isinstance(data, dict):
        return
    by_key = {_key(name, field): field for name, field in model.model_fields.items()}
    for key, value in data.items():
        seen.setdefault(model, set()).add(key)
        field = by_key.get(key)
        if field is None:
            continue
        origin = typing.get_origin(field.annotation)
        for inner in _models_in(field.annotation):
            if isinstance(value, list):
                for item in value:
                    _keys_set(item, inner, seen)
            elif isinstance(value, dict) and origin is dict:
                for item in value.values():
                    _keys_set(item, inner, seen)
            else:
                _keys_set(value, inner, seen)


def _all_models(model: type[BaseModel], found: list[type[BaseModel]] | None = None) -> list[type[BaseModel]]:
    found = [] if found is None else found
    if model not in found:
        found.append(model)
        for field in model.model_fields.values():
            for inner in _models_in(field.annotation):
                _all_models(inner, found)
    return found


def _patterns(node: Node) -> set[str]:
    kinds = {node.pattern}
    children = list(node.sequential or [])
    if node.verify:
        children.append(node.verify.do)
    for child in children:
        kinds |= _patterns(child)
    return kinds


# -- baton.example.yml ---------------------------------------------------------------------------
def test_example_config_loads_whether_or_not_its_repo_urls_exist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_written = tmp_path / "as-written.yml"
    as_written.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for repo in data["repos"]:
        (tmp_path / f"{repo['name']}.git").mkdir()
        repo["url"] = str(tmp_path / f"{repo['name']}.git")
    existing = tmp_path / "existing.yml"
    existing.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # nothing in the file may be resolved against the checkout

    for path in (as_written, existing):
        loaded = load_baton_file(path)
        assert [r.name for r in loaded.repos] == [r["name"] for r in data["repos"]]


def test_example_config_uses_every_pattern_kind_and_a_planner() -> None:
    config = load_baton_file(EXAMPLE)
    used = set().union(*(_patterns(book.per_repo) for book in config.playbooks.values()))
    assert used == set(Node.pattern_fields())
    assert any(book.planner and book.approve_plan for book in config.playbooks.values())


def test_example_config_has_an_agent_of_every_kind_with_env_expansion() -> None:
    config = load_baton_file(EXAMPLE)
    assert {a.kind for a in config.agents} == set(typing.get_args(AgentKind))
    assert any("${" in value for a in config.agents for value in a.env.values())


def test_example_config_sets_every_key_of_every_model() -> None:
    seen: dict[type[BaseModel], set[str]] = {}
    _keys_set(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), BatonFile, seen)
    missing = [
        f"{model.__name__}.{_key(name, field)}"
        for model in _all_models(BatonFile)
        for name, field in model.model_fields.items()
        if _key(name, field) not in seen.get(model, set())
    ]
    assert missing == []


# -- docs/configuration.md -----------------------------------------------------------------------
def test_configuration_reference_has_a_row_for_every_key_of_every_model() -> None:
    covered = {model for model, _ in REFERENCE}
    assert set(_all_models(BatonFile)) <= covered
    rows = _reference_rows()
    assert [path for path, _ in _reference_paths() if path not in rows] == []


def test_configuration_reference_states_the_models_defaults() -> None:
    rows = _reference_rows()
    wrong = {
        path: (rows[path][1], _default_text(field))
        for path, field in _reference_paths()
        if path in rows and rows[path][1] != _default_text(field)
    }
    assert wrong == {}


def test_configuration_reference_documents_every_environment_variable_of_the_design() -> None:
    rows = _reference_rows()
    assert [name for name in DESIGN_ENV_VARS if name not in rows] == []


def test_configuration_reference_documents_every_environment_variable_settings_reads() -> None:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.append(str(choices[0]) if choices else f"BATON_{name.upper()}")
    rows = _reference_rows()
    assert [name for name in names if name not in rows] == []


# -- README.md -------------------------------------------------------------------------------------
def test_readme_first_code_block_is_exactly_make_demo_and_make_test() -> None:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    assert block is not None
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["make demo", "make test"]


def test_readme_names_make_demo_and_make_test_within_its_first_40_lines() -> None:
    top = README.read_text(encoding="utf-8").splitlines()[:40]
    assert [c for c in ("make demo", "make test") if not any(c in line for line in top)] == []


def test_readme_is_a_way_in_under_25000_characters() -> None:
    assert len(README.read_text(encoding="utf-8")) < 25_000


def test_readme_shows_a_screenshot_before_its_second_section() -> None:
    first_section = README.read_text(encoding="utf-8").split("\n## ", 1)[0]
    images = re.findall(r"!\[[^\]]*\]\((docs/images/[\w.-]+\.png)\)", first_section)
    assert images and all((ROOT / path).is_file() for path in images)


# -- LICENSE -----------------------------------------------------------------------------------------
# The opening lines of each licence's standard text, by its SPDX identifier.
LICENCE_TITLES = {"Apache-2.0": ["Apache License", "Version 2.0, January 2004", "http://www.apache.org/licenses/"]}


def test_license_file_is_the_standard_text_of_the_licence_pyproject_declares() -> None:
    declared = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["license"]
    lines = [line.strip() for line in LICENSE.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert lines[:3] == LICENCE_TITLES[declared]
    assert "END OF TERMS AND CONDITIONS" in lines


# -- pyproject -----------------------------------------------------------------------------------
def test_console_script_baton_points_at_an_existing_function() -> None:
    data = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    module_name, _, attr = data["project"]["scripts"]["baton"].partition(":")
    module = importlib.import_module(module_name)
    target = getattr(module, attr)
    assert isinstance(module, types.ModuleType) and inspect.isfunction(target)
