"""Discovery: finding the repos a request touches, over 500 real bare repos on this machine.

    .venv/bin/python bench/discovery.py [--quick]

Generates N bare repos (500; 100 with --quick), each a small service (a dozen files); one in ten
calls `/v1/items` (the pattern), every one mentions `/v2/items` (near misses). Then, in the same run:

- cold: `Mirrors.search` with no mirrors yet (clone every mirror, then grep), beside the baseline
  a script would do — a plain `for` loop that makes a fresh clone of each repo and runs `git grep`;
- refetch: the search when every mirror must be fetched first (`fresh_for_s=0`, the remotes
  unchanged), beside the same fresh-clone loop;
- warm: the search over mirrors fetched in the last minute (grep only), beside a plain `for` loop
  of `git grep` over the same mirrors, one after another;
- workspaces: a run's clone of a larger repo (3,000 files; 500 with --quick) made from its mirror
  (`GitWorkspace(mirrors=...)`) beside a clone from the remote (a `file://` URL: git's transport
  packs the objects, as for a remote on a network), per repo: once with the mirror just fetched by
  a discovery (reused), once with the mirror fetched again first.

Every search must find exactly the repos that match; a wrong set is reported as lost work (exit 1).
`search_repos(n)` is importable for other benches (the campaign bench) to time discovery the same way.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
from pathlib import Path

from _common import Figure, conclude, median, run_benchmark, timed

from bot.config.models import RepoConfig
from bot.scm.mirrors import Mirrors
from bot.scm.workspace import GitWorkspace

PATTERN = r'get\("/v1/items'
problems: list[str] = []


def _git(*args: str, cwd: Path, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True)
    return done.stdout.decode()


def make_repo(root: Path, name: str, matches: bool, files_n: int = 10) -> Path:
    """A bare repo with one commit on main, written by `git fast-import` (two processes a repo)."""
    path = root / f"{name}.git"
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(path), cwd=root)
    body = "def f():\n    return 1\n" * 20
    files = {f"src/module_{i}.py": f"# {name} module {i}\n{body}" for i in range(files_n)}
    files["src/client.py"] = 'def items():\n    return get("/v2/items")\n'
    if matches:
        files["src/legacy.py"] = 'def old_items():\n    return get("/v1/items")\n'
    files["README.md"] = f"# {name}\n"
    stream = ["commit refs/heads/main", "committer Bench <b@localhost> 1700000000 +0000", "data 4", "init"]
    for rel, text in files.items():
        data = text.encode()
        stream += [f"M 100644 inline {rel}", f"data {len(data)}", text]
    _git("fast-import", "--quiet", cwd=path, stdin=("\n".join(stream) + "\n").encode())
    return path


def make_world(root: Path, n: int) -> tuple[list[RepoConfig], set[str]]:
    remotes = root / "remotes"
    remotes.mkdir(parents=True)
    repos, expected = [], set()
    for i in range(n):
        name = f"svc-{i:04d}"
        matches = i % 10 == 3
        repos.append(RepoConfig(name=name, url=str(make_repo(remotes, name, matches))))
        if matches:
            expected.add(name)
    return repos, expected


def baseline_fresh_clones(repos: list[RepoConfig], scratch: Path) -> set[str]:
    """What a script does without mirrors: a fresh clone of each repo, then `git grep`, in a loop."""
    found = set()
    for cfg in repos:
        target = scratch / cfg.name
        _git("clone", "--quiet", cfg.url, str(target), cwd=scratch)
        if subprocess.run(["git", "grep", "-q", "-E", "-e", PATTERN], cwd=target, check=False).returncode == 0:
            found.add(cfg.name)
        shutil.rmtree(target)
    return found


def baseline_sequential_grep(mirrors: Mirrors, repos: list[RepoConfig]) -> set[str]:
    found = set()
    for cfg in repos:
        grep = ["git", "grep", "-q", "-E", "-e", PATTERN, "refs/heads/main", "--"]
        if subprocess.run(grep, cwd=mirrors.path(cfg.name), check=False).returncode == 0:
            found.add(cfg.name)
    return found


def check(what: str, found: set[str], expected: set[str]) -> None:
    if found != expected:
        missed, extra = sorted(expected - found), sorted(found - expected)
        problems.append(f"{what}: missed {missed[:5]} ({len(missed)}), extra {extra[:5]} ({len(extra)})")


def search_repos(n: int, root: Path) -> dict[str, float]:
    """Seconds for the cold, refetch and warm searches over `n` generated repos under `root`,
    with their same-run baselines (fresh-clone loop, sequential grep loop)."""
    with timed() as made:
        repos, expected = make_world(root, n)
    print(f"{n} bare repos generated in {made.s:.1f}s ({len(expected)} match)", flush=True)
    mirrors = Mirrors(root / "mirrors")
    with timed() as cold:
        check("cold search", {h.repo for h in mirrors.search(PATTERN, repos)}, expected)
    refetching = Mirrors(root / "mirrors", fresh_for_s=0)
    with timed() as refetch:
        check("refetch search", {h.repo for h in refetching.search(PATTERN, repos)}, expected)
    with timed() as warm:
        check("warm search", {h.repo for h in mirrors.search(PATTERN, repos)}, expected)
    scratch = root / "scratch"
    scratch.mkdir()
    with timed() as loop_clones:
        check("baseline fresh clones", baseline_fresh_clones(repos, scratch), expected)
    with timed() as loop_grep:
        check("baseline sequential grep", baseline_sequential_grep(mirrors, repos), expected)
    return {
        "cold": cold.s,
        "refetch": refetch.s,
        "warm": warm.s,
        "fresh_clone_loop": loop_clones.s,
        "sequential_grep": loop_grep.s,
    }


def workspace_clones(root: Path, count: int, files_n: int, fresh_for_s: float) -> tuple[float, float]:
    """Median ms per repo: a run's workspace cloned from the mirror (fetched first unless it was
    fetched in the last `fresh_for_s`), and cloned from the remote. The remotes are `file://` URLs,
    so git's transport packs objects as it would for a remote on a network (a plain path would be
    hardlinked, which no real remote is)."""
    folder = root / f"ws-remotes-{fresh_for_s:g}"
    folder.mkdir()
    repos = [
        RepoConfig(name=f"big-{i}", url=make_repo(folder, f"big-{i}", False, files_n).as_uri()) for i in range(count)
    ]
    lookup = {r.name: r for r in repos}.__getitem__
    mirrors = Mirrors(root / f"ws-mirrors-{fresh_for_s:g}", fresh_for_s=fresh_for_s)
    mirrors.refresh(repos, max_age_s=0)  # as a discovery just before the run leaves them
    mirrored = GitWorkspace(root / f"ws-mirrored-{fresh_for_s:g}", lookup, mirrors=mirrors)
    plain = GitWorkspace(root / f"ws-plain-{fresh_for_s:g}", lookup)
    with_mirror, without = [], []
    for cfg in repos:
        with timed() as one:
            mirrored.prepare("r1", cfg.name, "baton/r1/bench")
        with_mirror.append(one.ms)
        with timed() as one:
            plain.prepare("r1", cfg.name, "baton/r1/bench")
        without.append(one.ms)
    return median(with_mirror), median(without)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 repos instead of 500")
    args = parser.parse_args()
    n = 100 if args.quick else 500
    with tempfile.TemporaryDirectory(prefix="baton-bench-discovery-") as tmp, timed() as whole:
        root = Path(tmp)
        seconds = search_repos(n, root)
        big = 500 if args.quick else 3000
        after_discovery = workspace_clones(root, 10, big, fresh_for_s=3600)
        fetched_first = workspace_clones(root, 10, big, fresh_for_s=0)
    target = "500 repos in seconds"
    figures = [
        Figure(f"search {n} repos, no mirrors yet (vs fresh-clone loop)", seconds["cold"], "s",
               seconds["fresh_clone_loop"], target),
        Figure(f"search {n} repos, every mirror fetched (vs fresh-clone loop)", seconds["refetch"], "s",
               seconds["fresh_clone_loop"], target),
        Figure(f"search {n} repos, mirrors fresh (vs sequential git grep)", seconds["warm"], "s",
               seconds["sequential_grep"], target),
        Figure(f"workspace of a {big}-file repo, from a mirror a discovery fetched (vs clone from the remote)",
               after_discovery[0], "ms", after_discovery[1]),
        Figure(f"workspace of a {big}-file repo, from its mirror fetched first (vs clone from the remote)",
               fetched_first[0], "ms", fetched_first[1]),
    ]  # fmt: skip
    return conclude("discovery", figures, whole.s, problems)


if __name__ == "__main__":
    run_benchmark(main)
