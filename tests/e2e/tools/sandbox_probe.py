"""An agent that tries to reach what a sandbox should keep from it, and writes down what it got.

Each probe appends one line to `--out` (a file in its working directory, so the finding lands in
the run's diff and PR): `read PATH: got <first line>` or `read PATH: denied (<reason>)`, likewise
for `list DIR` and `connect URL`. It then reports through the script agent's BATON_SUMMARY line.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from pathlib import Path


def _read(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            first = handle.read(200).splitlines()[:1]
        return f"got {first[0][:60]!r}" if first else "got an empty file"
    except OSError as err:
        return f"denied ({type(err).__name__})"


def _list(path: str) -> str:
    try:
        return f"got {sorted(os.listdir(path))}"
    except OSError as err:
        return f"denied ({type(err).__name__})"


def _connect(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return f"got {answer.status} {answer.read(40)!r}"
    except OSError as err:
        return f"denied ({type(err).__name__})"


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--read", action="append", default=[])
    p.add_argument("--list", action="append", default=[])
    p.add_argument("--connect", action="append", default=[])
    p.add_argument("--env", action="store_true", help="record the names of the environment variables")
    args = p.parse_args()
    found = [f"read {path}: {_read(path)}" for path in args.read]
    found += [f"list {path}: {_list(path)}" for path in args.list]
    found += [f"connect {url}: {_connect(url)}" for url in args.connect]
    if args.env:
        found.append(f"env: {sorted(os.environ)}")
    with Path(args.out).open("a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in found))
    print(f"BATON_SUMMARY probed {len(found)} things")
    return 0


if __name__ == "__main__":
    sys.exit(main())
