"""The terminal's side of reviewing: `$PAGER` (default `less -R`) gets the diff on its stdin, its
words are split but never given to a shell, a pager that cannot start leaves the diff printed, and
the diff is coloured as git colours it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from bot.domain.diffs import DiffStat
from bot.domain.models import Actor, ChangeSet, RunState, Source
from bot.surfaces.review.terminal import DEFAULT_PAGER, coloured, diffstat_lines, page
from tests.views import run_view


def _pager(tmp_path: Path) -> str:
    script = tmp_path / "pager.py"
    script.write_text("import sys\nopen(sys.argv[1], 'ab').write(sys.stdin.buffer.read())\n")
    return f"{sys.executable} {script}"


def test_the_pager_is_given_the_text_on_its_stdin(tmp_path: Path) -> None:
    page("diff --git a/api/x b/api/x\n", {"PAGER": f"{_pager(tmp_path)} {tmp_path / 'out.txt'}"})

    assert (tmp_path / "out.txt").read_text() == "diff --git a/api/x b/api/x\n"


def test_the_pagers_words_never_reach_a_shell(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    page("text\n", {"PAGER": f"{_pager(tmp_path)} {target} ;touch {tmp_path / 'pwned'}"})

    assert target.read_text() == "text\n"
    assert not (tmp_path / "pwned").exists()


def test_a_pager_that_cannot_start_leaves_the_diff_printed(capsys: pytest.CaptureFixture[str]) -> None:
    page("+added\n", {"PAGER": "/nonexistent/pager -R"})

    assert capsys.readouterr().out == "+added\n"


def test_without_pager_set_the_diff_goes_to_less_dash_r(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    less = bin_dir / "less"
    record = f"open({str(tmp_path / 'less.txt')!r}, 'w').write(repr(sys.argv[1:]) + sys.stdin.read())"
    less.write_text(f"#!{sys.executable}\nimport sys\n{record}\n")
    less.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")

    page("+new\n", {})

    assert DEFAULT_PAGER == "less -R"
    assert (tmp_path / "less.txt").read_text() == "['-R']+new\n"


def test_the_diff_is_coloured_as_git_colours_it() -> None:
    text = coloured("diff --git a/api/x b/api/x\n@@ -1 +1 @@\n-old\n+new\n same\n")

    assert text.splitlines() == [
        "\x1b[1mdiff --git a/api/x b/api/x\x1b[0m",
        "\x1b[36m@@ -1 +1 @@\x1b[0m",
        "\x1b[31m-old\x1b[0m",
        "\x1b[32m+new\x1b[0m",
        " same",
    ]


def test_the_prompt_lists_each_prs_size_in_merge_order() -> None:
    measured = DiffStat(sha="a" * 40, files=2, additions=9, deletions=3)
    changes = [
        ChangeSet(run_id="r1", repo="web", branch="b", base="main", number=4, url="u", head_sha="b" * 40, order=1),
        ChangeSet(
            run_id="r1", repo="api", branch="b", base="main", number=2, url="u", head_sha="a" * 40, diffstat=measured
        ),
    ]
    view = run_view(RunState.awaiting_approval, actor=Actor(source=Source.cli, id="me"), changes=changes)

    assert diffstat_lines(view) == [
        "Pull requests (merge order):",
        "  1. api #2  2 files +9 \u22123",
        "  2. web #4  size not measured yet",
    ]
