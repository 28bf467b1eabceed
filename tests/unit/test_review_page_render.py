"""The review page as HTML: PRs in merge order under their repo's anchor, diff lines classed for
colour and escaped, cut files saying so with a way to the whole diff, and the agent's summary,
transcript and cost passed through the store's redactor."""

from __future__ import annotations

import re

from bot.domain.diffs import ChangeDiff, FileDiff, FileStatus
from bot.domain.models import Actor, ChangeSet, ChecksState, RunState, Source, Usage
from bot.domain.records import RunEvent, Step, StepState
from bot.observability.logging import Redactor
from bot.surfaces.review.collect import RepoDiff
from bot.surfaces.review.page import diff_lines, render_review_page
from tests.views import run_view

SECRET = "sk-live-0123456789abcdef"
REDACT = Redactor([SECRET]).value
ALICE = Actor(source=Source.cli, id="alice")


def _change(repo: str, order: int, url: str = "") -> ChangeSet:
    return ChangeSet(
        run_id="r1",
        repo=repo,
        branch="baton/r1/x",
        base="main",
        number=order + 1,
        url=url or f"local://{repo}/pull/{order + 1}",
        head_sha=f"{order}" * 40,
        order=order,
        checks=ChecksState.passed,
        checks_output=f"ran 3 tests\nOK with {SECRET}",
    )


def _diff(change: ChangeSet, files: list[FileDiff]) -> RepoDiff:
    diff = ChangeDiff(
        repo=change.repo, number=change.number, url=change.url, base="b" * 40, head_sha=change.head_sha, files=files
    )
    return RepoDiff(change=change, diff=diff)


def _page(diffs: list[RepoDiff], events: list[RunEvent] | None = None, steps: list[Step] | None = None) -> str:
    view = run_view(RunState.awaiting_approval, actor=ALICE, changes=[d.change for d in diffs], steps=steps or [])
    return render_review_page(view, events or [], diffs, REDACT)


def test_diff_lines_are_classed_for_added_removed_hunk_and_context() -> None:
    assert diff_lines("@@ -1 +1 @@\n-old\n+new\n same\n\\ No newline at end of file\n") == [
        ("hunk", "@@ -1 +1 @@"),
        ("del", "-old"),
        ("add", "+new"),
        ("ctx", " same"),
        ("note", "\\ No newline at end of file"),
    ]


def test_each_pr_has_a_section_under_its_repos_anchor_in_merge_order() -> None:
    api, web = _change("api", 0), _change("web", 1, "https://github.com/acme/web/pull/2")
    page = _page([_diff(api, []), _diff(web, [])])

    assert re.findall(r'<section class="repo" id="([^"]+)">', page) == ["api", "web"]
    assert '<a href="#api">api</a>' in page
    assert '<a href="https://github.com/acme/web/pull/2">#2</a>' in page


def test_diff_text_is_escaped_and_coloured_by_line() -> None:
    file = FileDiff(path="page.html", additions=1, deletions=1, patch="@@ -1 +1 @@\n-<b>old</b>\n+<script>x</script>\n")
    page = _page([_diff(_change("api", 0), [file])])

    assert '<span class="del">-&lt;b&gt;old&lt;/b&gt;</span>' in page
    assert '<span class="add">+&lt;script&gt;x&lt;/script&gt;</span>' in page
    assert "<script>x" not in page


def test_a_cut_file_says_why_and_links_to_its_repos_whole_patch() -> None:
    cut = FileDiff(path="big.lock", status=FileStatus.added, additions=9000, patch="@@ -0,0 +1,9000 @@\n+a\n")
    cut.truncated, cut.note = True, "larger than 64 KB"
    page = _page([_diff(_change("api", 0), [cut])])

    assert "Cut short: larger than 64 KB." in page
    assert '<a href="diff.patch?repo=api">diff.patch</a>' in page


def test_the_agents_summary_transcript_and_checks_output_are_redacted() -> None:
    change = _change("api", 0)
    step = Step(
        run_id="r1",
        key="api/01-code",
        name="code",
        repo="api",
        agent="coder",
        state=StepState.succeeded,
        usage=Usage(tokens_in=1200, tokens_out=300, cost_usd=0.0421),
        detail=f"renamed it using {SECRET}",
    )
    said = RunEvent(
        run_id="r1",
        seq=5,
        kind="agent_progress",
        data={"step": "api/01-code", "kind": "text", "text": f"token {SECRET}"},
    )
    other = RunEvent(
        run_id="r1", seq=6, kind="agent_progress", data={"step": "web/01-code", "kind": "text", "text": "web work"}
    )
    page = _page([_diff(change, [])], events=[said, other], steps=[step])

    assert SECRET not in page
    assert "renamed it using [REDACTED]" in page
    assert "[01-code] text: token [REDACTED]" in page
    assert "OK with [REDACTED]" in page
    assert "web work" not in page
    assert "1.5k tokens · cost $0.0421" in page


def test_a_repo_whose_diff_could_not_be_read_says_so() -> None:
    page = _page([RepoDiff(change=_change("api", 0), problem="api's remote is gone")])

    assert "The diff could not be read: api&#39;s remote is gone" in page
