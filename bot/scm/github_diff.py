"""A GitHub PR's diff (`Forge.diff` of the GitHub forge): `GET /repos/{o}/{r}/pulls/{n}/files`,
every page, through the client's retry policy. GitHub itself leaves out the patch of a binary or
very large file (and lists at most 3000 files); such a file keeps its line counts and says why its
patch is missing. GitHub keeps a merged PR's files, so a merged PR still shows what it merged.
"""

from __future__ import annotations

from github.File import File
from github.PaginatedList import PaginatedList

from bot.domain.diffs import LIMIT_NOTE, ChangeDiff, DiffLimits, FileDiff, FileStatus, PatchBudget
from bot.domain.models import ChangeSet
from bot.services.github.client import GitHubApi

PER_PAGE = 100  # GitHub's largest page: a 3000-file PR is 30 requests, not 100
NO_PATCH = "GitHub shows no patch for this file (binary, or too large to show)"
_STATUS = {
    "added": FileStatus.added,
    "removed": FileStatus.deleted,
    "modified": FileStatus.modified,
    "renamed": FileStatus.renamed,
    "copied": FileStatus.copied,
    "changed": FileStatus.changed,
    "unchanged": FileStatus.modified,
}


def github_diff(api: GitHubApi, full: str, change: ChangeSet, limits: DiffLimits) -> ChangeDiff:
    repo = api.repo(full)
    url = f"{repo.url}/pulls/{change.number}/files"

    def read() -> list[File]:
        return list(PaginatedList(File, repo.requester, url, {"per_page": PER_PAGE}))

    listed = api.call(f"read the files of {full}#{change.number}", read)
    budget = PatchBudget(limits)
    files = [_file(item, budget, limits.total > 0) for item in listed]
    return ChangeDiff(
        repo=change.repo,
        number=change.number,
        url=change.url,
        base=change.base,
        head_sha=change.head_sha,
        files=files,
        truncated=any(f.note == LIMIT_NOTE for f in files),
    )


def _file(item: File, budget: PatchBudget, with_patch: bool) -> FileDiff:
    status = _STATUS.get(item.status, FileStatus.modified)
    file = FileDiff(
        path=item.filename,
        old_path=item.previous_filename if status in (FileStatus.renamed, FileStatus.copied) else None,
        status=status,
        additions=item.additions,
        deletions=item.deletions,
    )
    changed_lines = bool(file.additions or file.deletions)
    if not with_patch:
        file.truncated, file.note = changed_lines, LIMIT_NOTE if changed_lines else ""
    elif item.patch is None:
        if changed_lines or status not in (FileStatus.renamed, FileStatus.copied):
            file.truncated, file.note = True, NO_PATCH
    else:
        file.patch, file.truncated = budget.keep(item.patch + "\n")
        file.note = budget.reason
    return file
