"""What a PR changes, as data: per file its path, status, line counts and (bounded) patch text; per
PR the files and a diffstat. Forges fill these (`Forge.diff`); surfaces only read them.

Patch text is bounded twice: per file (a generated lockfile must not push every other file off the
page) and per diff (a page or a download has an end). A file over either bound keeps the whole lines
that fit and says it was cut; its line counts are always complete.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

KIB = 1024
MIB = 1024 * KIB
LIMIT_NOTE = "left out: the diff reached its size limit"
MINUS = "\u2212"


class DiffLimits(BaseModel):
    """How much patch text a diff may carry: `total` bytes in all (0: line counts only), `per_file`
    bytes per file (None: only the total), and with `whole_files` a file that would be cut is left
    out entirely and its bytes go back to the budget (a patch that must apply has no cut hunks)."""

    model_config = ConfigDict(frozen=True)

    total: int
    per_file: int | None = None
    whole_files: bool = False

    def shared(self, left: int) -> DiffLimits:
        """These limits within what is `left` of a budget several diffs share."""
        return self.model_copy(update={"total": max(min(self.total, left), 0)})


STAT_ONLY = DiffLimits(total=0)
"""A diffstat: line counts for every file, no patch text."""
PAGE_LIMITS = DiffLimits(total=MIB, per_file=64 * KIB)
"""Per PR on the review page; a cut file is one click away from `diff.patch`."""
PAGE_TOTAL = 4 * MIB
"""Patch text on the whole review page, shared by its PRs in merge order."""
PATCH_LIMITS = DiffLimits(total=16 * MIB, per_file=8 * MIB, whole_files=True)
"""Per PR in `diff.patch` and the terminal: a file is there whole or named in a note."""


class DiffStat(BaseModel):
    """A PR's size at one head: how many files, lines added and lines removed."""

    sha: str = ""
    files: int = 0
    additions: int = 0
    deletions: int = 0

    def text(self) -> str:
        """ "3 files +10 \u22122": a true minus sign, as GitHub shows it."""
        noun = "file" if self.files == 1 else "files"
        return f"{self.files} {noun} +{self.additions} {MINUS}{self.deletions}"


class FileStatus(StrEnum):
    added = "added"
    modified = "modified"
    deleted = "deleted"
    renamed = "renamed"
    copied = "copied"
    changed = "changed"
    """Only its mode or type changed."""


class FileDiff(BaseModel):
    path: str
    old_path: str | None = None
    """Where a renamed or copied file came from."""
    status: FileStatus = FileStatus.modified
    additions: int = 0
    deletions: int = 0
    binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    patch: str = ""
    """The hunks, from the first `@@` line (no `diff --git`/`---`/`+++` header)."""
    truncated: bool = False
    """The patch was cut short or left out; `note` says why."""
    note: str = ""


class ChangeDiff(BaseModel):
    """One PR's diff: its base (what it is compared with), head, and every file it touches."""

    repo: str
    number: int
    url: str
    base: str
    head_sha: str
    files: list[FileDiff]
    truncated: bool = False
    """Some patch text was left out to keep the whole diff within its bound."""

    @property
    def stat(self) -> DiffStat:
        return DiffStat(
            sha=self.head_sha,
            files=len(self.files),
            additions=sum(f.additions for f in self.files),
            deletions=sum(f.deletions for f in self.files),
        )


def size_text(limit: int) -> str:
    """ "16 MB", "64 KB", "40 bytes"."""
    if limit >= 1024 * KIB:
        return f"{limit // (1024 * KIB)} MB"
    return f"{limit // KIB} KB" if limit >= KIB else f"{limit} bytes"


class PatchBudget:
    """Keeps patch text within `DiffLimits`, whole lines only.

    Fed a line at a time (`start_file`, then `add` per line) so a reader can stop reading git's
    output once the budget is spent, or a whole patch at once (`keep`)."""

    def __init__(self, limits: DiffLimits) -> None:
        self.left = max(limits.total, 0)
        self.per_file = limits.per_file if limits.per_file is not None else self.left
        self.whole_files = limits.whole_files
        self._used = 0
        self.cut = False
        self.reason = ""

    @property
    def spent(self) -> bool:
        return self.left <= 0

    def start_file(self) -> None:
        self._used = 0
        self.cut = False
        self.reason = ""

    def add(self, line: str) -> bool:
        """Whether `line` is kept; once a line of a file is refused, the rest of that file is too
        (and with `whole_files`, the lines kept before it are given back: `kept_text` drops them)."""
        if self.cut:
            return False
        size = len(line.encode("utf-8", errors="replace"))
        if self._used + size > self.per_file:
            self.cut, self.reason = True, f"larger than {size_text(self.per_file)}"
        elif size > self.left:
            self.cut, self.reason = True, LIMIT_NOTE
        else:
            self._used += size
            self.left -= size
        if self.cut and self.whole_files:
            self.left += self._used
            self._used = 0
        return not self.cut

    def kept_text(self, kept: list[str]) -> str:
        """What stays of a file whose kept lines are `kept`, once it is fed."""
        return "" if self.cut and self.whole_files else "".join(kept)

    def keep(self, patch: str) -> tuple[str, bool]:
        """(the part of `patch` kept, whether it was cut; `reason` says why)."""
        self.start_file()
        kept: list[str] = []
        for line in patch.splitlines(keepends=True):
            if not self.add(line):
                break
            kept.append(line)
        return self.kept_text(kept), self.cut
