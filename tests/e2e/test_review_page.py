"""Reviewing a whole change set after a demo-style run (the demo's sandbox: an API and two clients,
the codemod agent, real checks, one approval, merged API first): `/runs/<id>/diff.patch` holds every
repo's removed and added lines and each repo's part applies with `git apply -p2`; `/runs/<id>/diff`
shows them in a real browser (Debian's Chromium, headless), and its screenshot is kept in
tests/artifacts/review.png (docs/images/ holds a copy for the README). The diffs are read from the
remotes, never from run facts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from bot.app import Runtime
from bot.config.settings import Settings
from bot.demo import NEW_PATH, OLD_PATH, create_sandbox
from bot.demo.sandbox import API_REPO
from bot.domain.models import RunState
from bot.domain.records import RunView
from bot.scm.git import run_git
from bot.surfaces.review.patch import NOTE
from bot.web import create_web_app
from tests.e2e.conftest import approve_until_merged, submit, wait_for
from tests.fakes.served_app import serve
from tests.gitutil import ref_sha

SCREENSHOT = Path(__file__).resolve().parents[2] / "tests" / "artifacts" / "review.png"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
REMOTE = ("203.0.113.7", 40000)


class Reviewed:
    def __init__(self, runtime: Runtime, view: RunView, root: Path) -> None:
        self.runtime, self.view, self.root = runtime, view, root
        self.run_id = view.run.run_id
        self.repos = [c.repo for c in view.changes]


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reviewed]:
    root = tmp_path_factory.mktemp("review") / "sandbox"
    sandbox = create_sandbox(root, clients=2)
    runtime = Runtime(Settings(config=sandbox.config_path, home=root / ".baton", database_url=None))
    runtime.launch()
    try:
        run_id = submit(runtime, sandbox.request, list(sandbox.remotes))
        wait_for(runtime, run_id, RunState.awaiting_approval, timeout=90)
        approve_until_merged(runtime, run_id, timeout=90)
        view = runtime.store.view(run_id)
        assert view is not None
        yield Reviewed(runtime, view, root)
    finally:
        runtime.shutdown()


def _get(reviewed: Reviewed, path: str, client: tuple[str, int] = ("127.0.0.1", 40000)) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_web_app(reviewed.runtime), client=client)

    async def fetch() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport, base_url="http://baton") as http:
            return await http.get(path)

    import asyncio

    return asyncio.run(fetch())


def _sections(patch: str) -> dict[str, str]:
    """The patch cut at each PR's opening note, keyed by repo, in the order they come."""
    parts = re.split(rf"^(?={re.escape(NOTE)}\S+ #\d+ )", patch, flags=re.M)
    return {p[len(NOTE) :].split(" ", 1)[0]: p for p in parts if p.startswith(NOTE)}


def test_the_patch_holds_every_repos_removed_and_added_lines_in_merge_order(reviewed: Reviewed) -> None:
    answer = _get(reviewed, f"/runs/{reviewed.run_id}/diff.patch")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert answer.headers["x-content-type-options"] == "nosniff"
    sections = _sections(answer.text)
    assert list(sections) == reviewed.repos
    assert reviewed.repos[0] == API_REPO
    for repo, text in sections.items():
        removed = [line for line in text.splitlines() if line.startswith("-") and not line.startswith("---")]
        added = [line for line in text.splitlines() if line.startswith("+") and not line.startswith("+++")]
        assert any(OLD_PATH in line for line in removed), repo
        assert any(NEW_PATH in line for line in added), repo
        paths = [line.split(" ")[2] for line in text.splitlines() if line.startswith("diff --git ")]
        assert paths and all(p.startswith(f"a/{repo}/") for p in paths), repo


def test_each_repos_part_of_the_patch_applies_with_p2_where_its_pr_forked(reviewed: Reviewed, tmp_path: Path) -> None:
    for change in reviewed.view.changes:
        remote = reviewed.root / "remotes" / f"{change.repo}.git"
        part = _get(reviewed, f"/runs/{reviewed.run_id}/diff.patch?repo={change.repo}").text
        work = tmp_path / change.repo
        run_git(["clone", "--quiet", str(remote), str(work)], tmp_path)
        run_git(["checkout", "--quiet", "--detach", f"{change.merge_sha}^1"], work)
        (tmp_path / f"{change.repo}.patch").write_text(part, encoding="utf-8")
        run_git(["apply", "-p2", str(tmp_path / f"{change.repo}.patch")], work)
        run_git(["add", "-A"], work)
        assert run_git(["write-tree"], work) == ref_sha(remote, f"{change.head_sha}^{{tree}}"), change.repo


def test_every_pr_records_the_diffstat_its_review_shows(reviewed: Reviewed) -> None:
    text = _get(reviewed, f"/runs/{reviewed.run_id}/diff.patch").text
    for change in reviewed.view.changes:
        assert change.diffstat is not None and change.diffstat.sha == change.head_sha
        assert f"#{change.number} " in text and f": {change.diffstat.text()}\n" in _sections(text)[change.repo]
        assert change.diffstat.additions >= 1 and change.diffstat.deletions >= 1


def test_the_review_routes_answer_only_whom_the_dashboard_answers(reviewed: Reviewed) -> None:
    codes = [_get(reviewed, f"/runs/{reviewed.run_id}/{p}", REMOTE).status_code for p in ("diff", "diff.patch")]
    assert codes == [403, 403]
    assert _get(reviewed, "/runs/no-such-run/diff").status_code == 404


def test_the_review_page_shows_every_repos_diff_in_a_browser(reviewed: Reviewed) -> None:
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with serve(create_web_app(reviewed.runtime)) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{base}/runs/{reviewed.run_id}/diff")
            order = page.locator("section.repo").evaluate_all("els => els.map(e => e.id)")
            seen = {
                repo: (
                    page.locator(f"section.repo[id='{repo}'] pre.diff .del").all_inner_texts(),
                    page.locator(f"section.repo[id='{repo}'] pre.diff .add").all_inner_texts(),
                    page.locator(f"section.repo[id='{repo}'] .checks").inner_text(),
                )
                for repo in order
            }
            page.goto(f"{base}/runs/{reviewed.run_id}/diff#{reviewed.repos[1]}")
            anchored = page.evaluate(f"document.getElementById('{reviewed.repos[1]}').getBoundingClientRect().top")
            page.goto(f"{base}/runs/{reviewed.run_id}/diff")
            # The top of the page (totals, merge order, the first repo's diff) reads at README width.
            page.screenshot(path=str(SCREENSHOT), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": 1400})
        finally:
            browser.close()

    assert order == reviewed.repos
    for repo, (removed, added, checks) in seen.items():
        assert any(OLD_PATH in line for line in removed), repo
        assert any(NEW_PATH in line for line in added), repo
        assert checks == "Checks: ✓ passed", repo
    assert abs(anchored) < 5
    assert SCREENSHOT.stat().st_size > 0
