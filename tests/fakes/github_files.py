"""What the fake GitHub answers to `GET /repos/{o}/{r}/pulls/{n}/files`, computed by git in the
bare repo the way GitHub does: the PR's head against the merge base with its base branch (for a
merged PR, the merge base it had when it merged), renames detected, each file as GitHub's objects
(`sha`, `filename`, `status`, `additions`, `deletions`, `changes`, `blob_url`, `raw_url`,
`contents_url`, `patch` — absent for a binary file — and `previous_filename` for a rename)."""

from __future__ import annotations

from typing import Any

from bot.scm.git import run_git
from tests.fakes.github_state import Pull, Repo

_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}


def pull_base(repo: Repo, pull: Pull, head: str, base_sha: str) -> str:
    """Where the PR forked from its base branch (kept from merge time once it merged)."""
    if pull.merge_base:
        return pull.merge_base
    return _git(repo, ["merge-base", base_sha, head]).strip()


def pull_files(repo: Repo, base: str, head: str, web: str) -> list[dict[str, Any]]:
    """The PR's files as GitHub lists them (unpaged)."""
    raw = _git(repo, ["diff", "-M", "--raw", "-z", "--no-abbrev", base, head]).split("\0")
    counts = _git(repo, ["diff", "-M", "--numstat", "-z", base, head]).split("\0")
    files: list[dict[str, Any]] = []
    i = 0
    while i < len(raw) and raw[i].startswith(":"):
        meta = raw[i][1:].split(" ")
        status = meta[4][:1]
        names = raw[i + 1 : i + (3 if status in "RC" else 2)]
        i += 1 + len(names)
        files.append(_file(repo, base, head, web, meta[3], status, names))
    for entry, file in zip(_numstat(counts), files, strict=True):
        added, deleted = entry
        binary = added is None
        file.update({"additions": added or 0, "deletions": deleted or 0, "changes": (added or 0) + (deleted or 0)})
        if not binary:
            patch = _git(repo, ["diff", "-M", base, head, "--", *file.pop("_paths")])
            hunks = patch[patch.find("\n@@") + 1 :] if "\n@@" in patch else ""
            if hunks:
                file["patch"] = hunks.rstrip("\n")  # GitHub's patch has no final newline
        file.pop("_paths", None)
    return files


def _file(repo: Repo, base: str, head: str, web: str, blob: str, status: str, names: list[str]) -> dict[str, Any]:
    path = names[-1]
    ref = head if status != "D" else base
    body: dict[str, Any] = {
        "sha": blob if status != "D" else "0" * 40,
        "filename": path,
        "status": _STATUS.get(status, "modified"),
        "blob_url": f"{web}/{repo.full_name}/blob/{ref}/{path}",
        "raw_url": f"{web}/{repo.full_name}/raw/{ref}/{path}",
        "contents_url": f"{web}/api/repos/{repo.full_name}/contents/{path}?ref={ref}",
        "_paths": names,
    }
    if status in "RC":
        body["previous_filename"] = names[0]
    return body


def _numstat(entries: list[str]) -> list[tuple[int | None, int | None]]:
    """Numstat -z: `a\\td\\tpath`, or for a rename `a\\td\\t` then the two paths as entries."""
    found: list[tuple[int | None, int | None]] = []
    i = 0
    while i < len(entries) and entries[i]:
        added, deleted, path = entries[i].split("\t", 2)
        i += 1 if path else 3
        found.append((None, None) if added == "-" else (int(added), int(deleted)))
    return found


def _git(repo: Repo, args: list[str]) -> str:
    return run_git(["--git-dir", str(repo.git_dir), "-c", "core.quotePath=false", *args], repo.git_dir, strip=False)
