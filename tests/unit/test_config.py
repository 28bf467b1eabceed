"""baton.yml: invalid configuration fails at start with a message naming the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config.base import ConfigError
from bot.config.models import load_baton_file, parse_baton_file

AGENT = {"name": "fixer", "command": ["true"]}


def test_a_missing_file_is_an_empty_configuration(tmp_path: Path) -> None:
    config = load_baton_file(tmp_path / "baton.yml")
    assert config.repos == [] and config.agents == []


def test_an_empty_file_is_an_empty_configuration(tmp_path: Path) -> None:
    path = tmp_path / "baton.yml"
    path.write_text("")
    assert load_baton_file(path).repos == []


def test_a_wrong_type_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"agents\[fixer\]\.timeout_s: Input should be greater than 0"):
        parse_baton_file({"agents": [{**AGENT, "timeout_s": -1}]})


def test_an_unknown_key_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"repos\[a\]\.colour: unknown key \(extra inputs are not permitted\)"):
        parse_baton_file({"repos": [{"name": "a", "url": "/x", "colour": "red"}]})


def test_a_reference_to_an_unknown_agent_names_where_it_is_used() -> None:
    with pytest.raises(ConfigError, match=r"playbooks\.p\.per_repo: unknown agent 'ghost'"):
        parse_baton_file({"agents": [AGENT], "playbooks": {"p": {"per_repo": {"agent": "ghost"}}}})


def test_a_dependency_on_an_unknown_repo_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"repos\[a\]\.depends_on: unknown repo 'b'"):
        parse_baton_file({"repos": [{"name": "a", "url": "/x", "depends_on": ["b"]}]})


def test_a_repo_is_named_by_its_name_not_its_place_in_the_list() -> None:
    repos = [{"name": "api", "url": "/a"}, {"name": "web", "url": "/w"}, {"name": "billing", "url": 3}]
    with pytest.raises(ConfigError, match=r"repos\[billing\]\.url: Input should be a valid string") as raised:
        parse_baton_file({"repos": repos})
    assert "repos.2" not in str(raised.value)


def test_an_item_without_a_name_is_named_by_its_place() -> None:
    with pytest.raises(ConfigError, match=r"repos\[0\]\.name: Field required"):
        parse_baton_file({"repos": [{"url": "/a"}]})


def test_a_misspelt_key_gets_the_nearest_key_of_its_section() -> None:
    with pytest.raises(ConfigError, match=r"repos\[api\]\.chekcs: unknown key, did you mean `checks`\?"):
        parse_baton_file({"repos": [{"name": "api", "url": "/a", "chekcs": "make test"}]})


def test_a_misspelt_top_level_key_gets_the_nearest_section() -> None:
    with pytest.raises(ConfigError, match=r"repoz: unknown key, did you mean `repos`\?"):
        parse_baton_file({"repoz": []})


def test_a_misspelt_key_deep_in_a_playbook_gets_the_nearest_key_of_its_node() -> None:
    book = {"per_repo": {"verify": {"do": {"agnt": "fixer"}}}}
    with pytest.raises(
        ConfigError, match=r"playbooks\.p\.per_repo\.verify\.do\.agnt: unknown key, did you mean `agent`"
    ):
        parse_baton_file({"agents": [AGENT], "playbooks": {"p": book}})


def test_a_misspelt_reference_to_a_repo_suggests_the_nearest_repo() -> None:
    repos = [{"name": "mathlib", "url": "/m"}, {"name": "docs", "url": "/d", "depends_on": ["mathlb"]}]
    with pytest.raises(
        ConfigError, match=r"repos\[docs\]\.depends_on: unknown repo 'mathlb' \(did you mean 'mathlib'\?\)"
    ):
        parse_baton_file({"repos": repos})


def test_a_playbook_node_needs_exactly_one_pattern() -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        parse_baton_file(
            {"agents": [AGENT], "playbooks": {"p": {"per_repo": {"agent": "fixer", "fallback": ["fixer"]}}}}
        )


def test_invalid_yaml_says_so(tmp_path: Path) -> None:
    path = tmp_path / "baton.yml"
    path.write_text("repos: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_baton_file(path)


def test_a_top_level_list_is_refused() -> None:
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        parse_baton_file(["repos"])


def test_the_default_playbook_verifies_with_the_routed_agent() -> None:
    book = parse_baton_file({}).playbook("default")
    assert book.per_repo.pattern == "verify"
    assert book.per_repo.verify is not None
    assert book.per_repo.verify.do.fallback == ["@routed"]


def test_a_per_repo_or_per_worker_limit_above_the_global_one_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"concurrency: per_repo \(9\) may not exceed global \(8\)"):
        parse_baton_file({"concurrency": {"per_repo": 9}})
    with pytest.raises(ConfigError, match=r"per_worker \(3\) may not exceed global \(2\)"):
        parse_baton_file({"concurrency": {"global": 2, "per_worker": 3}})


def test_a_rate_limit_names_a_known_service() -> None:
    with pytest.raises(ConfigError, match=r"rate_limits\.gitlab"):
        parse_baton_file({"rate_limits": {"gitlab": {"calls": 1, "per_s": 1}}})


def test_sandbox_bwrap_is_read_as_isolation_bwrap() -> None:
    config = parse_baton_file({"agents": [{"name": "fixer", "kind": "codex", "sandbox": "bwrap"}]})
    fixer = config.agent("fixer")
    assert (fixer.isolation, fixer.sandbox) == ("bwrap", "workspace-write")


def test_sandbox_bwrap_with_isolation_none_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="sandbox: bwrap contradicts isolation: none"):
        parse_baton_file({"agents": [{"name": "fixer", "kind": "codex", "sandbox": "bwrap", "isolation": "none"}]})


def test_slack_github_logins_fold_into_people() -> None:
    config = parse_baton_file(
        {
            "people": [{"name": "Maya", "slack": "U0MAYA"}],
            "slack": {"github_logins": {"U0MAYA": "maya", "U0BOB": "bob"}},
        }
    )
    assert [(p.name, p.slack, p.github) for p in config.people] == [("Maya", "U0MAYA", "maya"), ("bob", "U0BOB", "bob")]


def test_one_identity_in_two_people_is_refused_by_name() -> None:
    people = [{"name": "Maya", "github": "maya"}, {"name": "Imposter", "github": "Maya"}]
    with pytest.raises(ConfigError, match=r"people\.1: github id Maya is already Maya's"):
        parse_baton_file({"people": people})


def test_a_github_login_contradicting_people_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"slack\.github_logins\.U0MAYA: octocat contradicts people entry 'Maya'"):
        parse_baton_file(
            {
                "people": [{"name": "Maya", "slack": "U0MAYA", "github": "maya"}],
                "slack": {"github_logins": {"U0MAYA": "octocat"}},
            }
        )


def test_a_slack_team_id_must_look_like_one() -> None:
    with pytest.raises(ConfigError, match=r"slack\.team_id"):
        parse_baton_file({"slack": {"team_id": "acme"}})
