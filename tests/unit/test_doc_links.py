"""The README and the pages under docs/ (and SECURITY.md) link to each other: every relative link
points at a file that exists and, when it names an anchor, at a heading that page has (as GitHub
makes anchors from headings), and every page under docs/ can be reached from the README."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", ROOT / "SECURITY.md", *(ROOT / "docs").glob("*.md")])

FENCE = re.compile(r"^(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose_lines(path: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def _links(path: Path) -> list[str]:
    """Every link target of the page, outside code blocks and code spans."""
    return [t for line in _prose_lines(path) for t in LINK.findall(CODE_SPAN.sub("", line))]


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    """The anchors GitHub gives the page's headings (a repeated one gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    anchors = set()
    for line in _prose_lines(path):
        match = HEADING.match(line)
        if not match:
            continue
        slug = _slug(match.group(2))
        count = seen.get(slug, 0)
        anchors.add(slug if count == 0 else f"{slug}-{count}")
        seen[slug] = count + 1
    return anchors


def _relative(target: str) -> bool:
    return not re.match(r"^[a-z][a-z0-9+.-]*:", target)  # http:, https:, mailto: ...


def _resolve(page: Path, target: str) -> tuple[Path, str]:
    path, _, anchor = target.partition("#")
    return ((page.parent / path).resolve() if path else page), anchor


def test_the_pages_link_to_each_other_at_all() -> None:
    relative = [t for page in DOCS for t in _links(page) if _relative(t)]
    assert len(DOCS) >= 9 and len(relative) >= 50


def test_every_relative_link_points_at_a_file_that_exists() -> None:
    broken = [
        f"{page.relative_to(ROOT)}: {target}"
        for page in DOCS
        for target in _links(page)
        if _relative(target) and not _resolve(page, target)[0].exists()
    ]
    assert broken == []


def test_every_anchor_names_a_heading_of_the_page_it_points_at() -> None:
    broken = []
    for page in DOCS:
        for target in _links(page):
            path, anchor = _resolve(page, target)
            checkable = _relative(target) and anchor and path.suffix == ".md" and path.exists()
            if checkable and anchor not in _anchors(path):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []


def test_anchors_are_made_as_github_makes_them() -> None:
    assert [_slug(h) for h in ("Scaling out", "`baton.yml`", "What it costs — to run", "Who, by default.")] == [
        "scaling-out",
        "batonyml",
        "what-it-costs--to-run",
        "who-by-default",
    ]


def test_every_page_under_docs_is_reached_from_the_readme() -> None:
    reached, todo = {ROOT / "README.md"}, [ROOT / "README.md"]
    while todo:
        page = todo.pop()
        for target in _links(page):
            path, _ = _resolve(page, target)
            if _relative(target) and path.suffix == ".md" and path.exists() and path not in reached:
                reached.add(path)
                todo.append(path)
    assert sorted(p.name for p in (ROOT / "docs").glob("*.md") if p.resolve() not in reached) == []
