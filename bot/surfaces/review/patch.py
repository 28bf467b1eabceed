"""A run's diffs as one plain unified diff (`diff.patch`, `baton runs show --diff`, the terminal's
pager): each PR in merge order, every path prefixed by its repo (`a/<repo>/<path>`), so one repo's
part applies with `git apply -p2` in that repo. Files whose patch was cut, and binary files, are left
out with a `# baton:` note (git apply skips lines outside a file's patch); a cut hunk would not apply.
"""

from __future__ import annotations

from bot.domain.diffs import ChangeDiff, FileDiff, FileStatus

NOTE = "# baton: "
_DEFAULT_MODE = "100644"
_C_ESCAPES = {'"': '\\"', "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def quote_path(path: str) -> str:
    """A path as git writes it in a patch header: C-quoted when it holds a quote, a backslash or a
    control character (non-ASCII stays as it is, as with `core.quotePath=false`)."""
    if not any(c in _C_ESCAPES or ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        return path
    body = "".join(_C_ESCAPES.get(c, f"\\{ord(c):03o}" if ord(c) < 0x20 or ord(c) == 0x7F else c) for c in path)
    return f'"{body}"'


def _side(path: str) -> str:
    """A `---`/`+++` name: git ends one holding a space with a tab, so the name's end is plain."""
    quoted = quote_path(path)
    return f"{quoted}\t" if " " in path and quoted == path else quoted


def omitted_reason(file: FileDiff) -> str | None:
    """Why `file` cannot be part of an applicable patch, or None when it can."""
    if file.binary:
        return "binary file"
    if file.truncated:
        return file.note or "its patch was cut"
    return None


def file_patch(repo: str, file: FileDiff) -> str:
    """One file's patch in git's format, its paths under `<repo>/`."""
    old = f"{repo}/{file.old_path or file.path}"
    new = f"{repo}/{file.path}"
    lines = [f"diff --git {quote_path('a/' + old)} {quote_path('b/' + new)}"]
    if file.status is FileStatus.added:
        lines.append(f"new file mode {file.new_mode or _DEFAULT_MODE}")
    elif file.status is FileStatus.deleted:
        lines.append(f"deleted file mode {file.old_mode or _DEFAULT_MODE}")
    elif file.old_mode and file.new_mode and file.old_mode != file.new_mode:
        lines += [f"old mode {file.old_mode}", f"new mode {file.new_mode}"]
    if file.status in (FileStatus.renamed, FileStatus.copied) and file.old_path:
        verb = "rename" if file.status is FileStatus.renamed else "copy"
        lines += [f"{verb} from {quote_path(old)}", f"{verb} to {quote_path(new)}"]
    if file.patch:
        source = "/dev/null" if file.status is FileStatus.added else _side(f"a/{old}")
        target = "/dev/null" if file.status is FileStatus.deleted else _side(f"b/{new}")
        lines += [f"--- {source}", f"+++ {target}"]
        body = file.patch if file.patch.endswith("\n") else file.patch + "\n"
        return "\n".join(lines) + "\n" + body
    return "\n".join(lines) + "\n"


def change_patch(diff: ChangeDiff) -> str:
    """One PR's section: a note naming it, notes for what is left out, then its files."""
    notes = [f"{NOTE}{diff.repo} #{diff.number} {diff.url} ({diff.base}...{diff.head_sha}): {diff.stat.text()}"]
    parts: list[str] = []
    for file in diff.files:
        reason = omitted_reason(file)
        if reason is not None:
            notes.append(f"{NOTE}{diff.repo}/{file.path} not included: {reason}")
        else:
            parts.append(file_patch(diff.repo, file))
    return "".join(f"{n}\n" for n in notes) + "".join(parts)


def run_patch(diffs: list[ChangeDiff], problems: dict[str, str] | None = None) -> str:
    """Every PR's section in merge order; `problems` names repos whose diff could not be read."""
    sections = [change_patch(d) for d in diffs]
    sections += [f"{NOTE}{repo}: diff not available: {why}\n" for repo, why in (problems or {}).items()]
    return "".join(sections)


def split_git_patch(text: str) -> list[list[str]]:
    """`git diff` output cut into one list of lines per file (each starting with `diff --git`)."""
    blocks: list[list[str]] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("diff --git ") or not blocks:
            blocks.append([])
        blocks[-1].append(line)
    return [b for b in blocks if b and b[0].startswith("diff --git ")]


def hunks_of(block: list[str]) -> str:
    """The hunks of one file's block (its lines from the first `@@`), or "" for none."""
    for i, line in enumerate(block):
        if line.startswith("@@"):
            return "".join(block[i:])
    return ""
