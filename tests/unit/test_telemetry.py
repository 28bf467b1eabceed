"""Logs: secret values never reach a log line, whatever field they hide in."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import structlog

from bot.config.models import BatonFile
from bot.config.settings import Settings
from bot.observability.logging import binds_run_id, configure, process_secrets


def test_a_secret_value_is_redacted_from_every_field(tmp_path: Path) -> None:
    log_file = tmp_path / "baton.log"
    configure("json", secrets=["xoxb-very-secret-token"], log_file=log_file)
    structlog.get_logger("t").info(
        "posting with xoxb-very-secret-token", run_id="r1", header="Bearer xoxb-very-secret-token"
    )
    line = json.loads(log_file.read_text().splitlines()[-1])
    assert "xoxb-very-secret-token" not in log_file.read_text()
    assert line["header"] == "Bearer [REDACTED]"
    assert line["run_id"] == "r1"


def test_json_logs_carry_the_run_id_and_level(tmp_path: Path) -> None:
    log_file = tmp_path / "baton.log"
    configure("json", log_file=log_file)
    structlog.get_logger("t").info("state", run_id="r2", state="working")
    line = json.loads(log_file.read_text().splitlines()[-1])
    assert (line["event"], line["run_id"], line["level"]) == ("state", "r2", "info")


def test_a_secret_inside_an_exception_is_redacted_from_its_message_and_traceback(tmp_path: Path) -> None:
    log_file = tmp_path / "baton.log"
    configure("json", secrets=["ghp_secretinsideerror"], log_file=log_file)
    try:
        raise RuntimeError("GitHub said: token ghp_secretinsideerror is not allowed")
    except RuntimeError:
        structlog.get_logger("t").exception("call.failed", run_id="r3")
    line = json.loads(log_file.read_text().splitlines()[-1])
    assert "ghp_secretinsideerror" not in log_file.read_text()
    assert "RuntimeError: GitHub said: token [REDACTED] is not allowed" in line["exception"]


def test_secrets_nested_in_values_and_url_credentials_are_redacted(tmp_path: Path) -> None:
    log_file = tmp_path / "baton.log"
    configure("json", secrets=["lin_api_nestedsecret"], log_file=log_file)
    structlog.get_logger("t").info(
        "pushing", headers={"Authorization": ["lin_api_nestedsecret"]}, remote="https://x:pw123@github.com/acme/api"
    )
    line = json.loads(log_file.read_text().splitlines()[-1])
    assert line["headers"] == {"Authorization": ["[REDACTED]"]}
    assert line["remote"] == "https://github.com/acme/api"


def test_standard_library_records_are_json_and_redacted_too(tmp_path: Path) -> None:
    log_file = tmp_path / "baton.log"
    configure("json", secrets=["xoxb-stdlib-secret"], log_file=log_file)
    logging.getLogger("baton.slack.bolt").warning("request with %s failed", "xoxb-stdlib-secret")
    line = json.loads(log_file.read_text().splitlines()[-1])
    assert (line["event"], line["logger"]) == ("request with [REDACTED] failed", "baton.slack.bolt")
    assert line["level"] == "warning"


def test_dbos_records_are_json_lines_of_the_same_stream_once(tmp_path: Path) -> None:
    log_file = tmp_path / "baton.log"
    configure("json", secrets=["postgres-pw-secret"], log_file=log_file)
    logging.getLogger("dbos").warning("cannot reach postgresql://baton:postgres-pw-secret@db/baton")
    [line] = [json.loads(text) for text in log_file.read_text().splitlines()]
    assert (line["event"], line["logger"]) == ("cannot reach postgresql://db/baton", "dbos")


class _Workflow:
    @binds_run_id
    def work(self, run_id: str) -> None:
        structlog.get_logger("deep").info("inside")


def test_a_bound_run_id_reaches_lines_logged_inside_and_is_unbound_after(tmp_path: Path) -> None:
    log_file = tmp_path / "baton.log"
    configure("json", log_file=log_file)
    _Workflow().work("r4")
    structlog.get_logger("t").info("outside")
    inside, outside = (json.loads(line) for line in log_file.read_text().splitlines()[-2:])
    assert (inside["event"], inside["run_id"]) == ("inside", "r4")
    assert (outside["event"], "run_id" in outside) == ("outside", False)


def test_otlp_headers_and_other_token_named_settings_are_redacted_from_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20otlp-log-token-42,x-tenant=tenant-0042")
    monkeypatch.setenv("PROXY_PASSWORD", "proxy-pass-9876")
    monkeypatch.setenv("FEATURE_TOKEN_ENABLED", "true")  # too short to be a secret: left alone
    log_file = tmp_path / "baton.log"
    settings = Settings(home=tmp_path / ".baton", config=tmp_path / "absent.yml")
    configure("json", secrets=process_secrets(settings, BatonFile()), log_file=log_file)
    structlog.get_logger("t").info("exporting", auth="Bearer otlp-log-token-42", proxy="proxy-pass-9876", flag="true")
    line = json.loads(log_file.read_text().splitlines()[-1])
    assert (line["auth"], line["proxy"], line["flag"]) == ("[REDACTED]", "[REDACTED]", "true")
