"""Helpers for tests over real git: seeded bare remotes, commits pushed to them, files read back.

Plain functions (no fixtures) so any test module can use them with its own `tmp_path`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bot.scm.git import git_result, run_git


def _write(tree: Path, files: dict[str, str]) -> None:
    for rel, content in files.items():
        target = tree / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")


def make_remote(tmp: Path, name: str, files: dict[str, str]) -> Path:
    """A bare repo at `tmp/<name>.git` whose `main` holds one commit with `files`."""
    remote = tmp / f"{name}.git"
    run_git(["init", "--quiet", "--bare", "--initial-branch=main", str(remote)], tmp)
    commit_to_remote(remote, "main", files or {"README.md": f"# {name}\n"}, "initial commit")
    return remote


def commit_to_remote(remote: Path, branch: str, files: dict[str, str], message: str) -> str:
    """Commit `files` on top of `branch` (made from `main` if missing) straight into the bare repo.

    Plumbing, not clone-and-push, so it is quick and bypasses the remote's hooks: it stands for
    "someone else pushed" in tests. Returns the new commit's SHA.
    """
    git_dir = ["--git-dir", str(remote)]
    parent = None
    for ref in (f"refs/heads/{branch}", "refs/heads/main"):
        found = git_result([*git_dir, "rev-parse", "--verify", "--quiet", ref], remote)
        if found.returncode == 0:
            parent = found.stdout.strip()
            break
    with tempfile.TemporaryDirectory(prefix="gitutil-") as tmp:
        tree_dir = Path(tmp) / "tree"
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        work = [*git_dir, "--work-tree", str(tree_dir)]
        _write(tree_dir, files)
        if parent:
            run_git([*work, "read-tree", parent], remote, env)
        run_git([*work, "add", "--", *files], remote, env)
        tree = run_git([*work, "write-tree"], remote, env)
    parents = ["-p", parent] if parent else []
    sha = run_git([*git_dir, "commit-tree", tree, *parents, "-m", message], remote)
    run_git([*git_dir, "update-ref", f"refs/heads/{branch}", sha], remote)
    return sha


def read_file_on(remote: Path, ref: str, path: str) -> str:
    """The content of `path` at `ref` in the bare repo `remote`."""
    return run_git(["--git-dir", str(remote), "show", f"{ref}:{path}"], remote, strip=False)


def ref_sha(remote: Path, ref: str) -> str:
    """The SHA `ref` resolves to in the bare repo `remote`."""
    return run_git(["--git-dir", str(remote), "rev-parse", "--verify", ref], remote)
