"""Every secret the process holds is known to the redactor, including ones added later."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bot.config.settings import Settings


def test_every_secret_setting_is_listed_for_redaction(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [n for n, f in Settings.model_fields.items() if f.annotation == SecretStr | None]
    for i, name in enumerate(names):
        alias = Settings.model_fields[name].validation_alias
        env = alias.choices[0] if alias is not None else f"BATON_{name.upper()}"  # type: ignore[union-attr]
        monkeypatch.setenv(str(env), f"secret-value-{i}")

    values = Settings().secret_values()

    assert sorted(values) == sorted(f"secret-value-{i}" for i in range(len(names)))
    assert len(names) >= 7


def test_an_empty_secret_is_not_listed_so_redaction_cannot_blank_every_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_real")
    values = Settings().secret_values()
    assert "" not in values
    assert "ghp_real" in values
