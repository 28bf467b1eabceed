"""Logs: secret values never reach a log line, whatever field they hide in."""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from bot.telemetry import configure


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
