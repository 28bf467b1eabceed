"""docs/architecture.md stays true: its house is import-linter's layers contract, the files it walks
through exist, and the shape the architecture promises holds (few modules at bot/'s top, no handler
on the composition root, DBOS through its public API only)."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def _contracts() -> list[dict[str, object]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(data["tool"]["importlinter"]["contracts"])


def _python_files(*tops: str) -> list[Path]:
    return [p for top in tops for p in (ROOT / top).rglob("*.py")]


def _imports(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return found


def test_the_house_drawn_is_the_layers_contract_import_linter_checks() -> None:
    block = DOC.split("<!-- layers -->")[1].split("<!-- /layers -->")[0]
    drawn = [re.split(r"\s{2,}", line.strip())[0] for line in block.splitlines() if line.strip() not in ("", "```")]
    [layers] = [c for c in _contracts() if c["type"] == "layers"]
    assert drawn == layers["layers"]


def test_at_least_six_contracts_are_checked() -> None:
    assert len(_contracts()) >= 6


def test_every_file_the_doc_names_exists() -> None:
    named = set(re.findall(r"`((?:bot|handlers|tests)/[\w/.]+\.py)`", DOC))
    assert len(named) >= 6
    assert sorted(p for p in named if not (ROOT / p).is_file()) == []


def test_the_walk_from_approve_to_merge_takes_at_most_six_files() -> None:
    walk = DOC.split("## What happens when someone clicks Approve")[1].split("## ")[0]
    steps = re.findall(r"^\d+\. `([\w/.]+\.py)`", walk, flags=re.MULTILINE)
    assert 1 < len(steps) <= 6


def test_bot_keeps_at_most_twelve_modules_at_its_top() -> None:
    assert len(list((ROOT / "bot").glob("*.py"))) <= 12


def test_no_handler_imports_the_composition_root() -> None:
    offenders = [p.name for p in _python_files("handlers") if any(m == "bot.app" for m in _imports(p))]
    assert offenders == []


def test_dbos_is_used_through_its_public_api_only() -> None:
    private = [
        f"{p.relative_to(ROOT)}: {m}"
        for p in _python_files("bot", "handlers", "bench")
        for m in _imports(p)
        if m.startswith("dbos._")
    ]
    assert private == []
