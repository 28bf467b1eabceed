"""A small, real codemod-style agent for engine tests, driven by its arguments.

It edits files in its working directory (the run's workspace), records each invocation in a
counter file, and reports through the `script` agent's protocol (BATON_SUMMARY / BATON_USAGE).
Every behaviour is chosen on the command line so each test states exactly what its agents do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--append", nargs=2, action="append", default=[], metavar=("PATH", "TEXT"))
    p.add_argument("--remove", action="append", default=[], metavar="PATH")
    p.add_argument("--write", nargs=2, action="append", default=[], metavar=("PATH", "TEXT"), help="replace PATH")
    p.add_argument("--summary", default="")
    p.add_argument("--exit", type=int, default=0)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--count", help="append one line per invocation to this file")
    p.add_argument("--usage", help="JSON usage to report")
    p.add_argument("--fail-unless-feedback", help="exit 1 unless the feedback contains this")
    p.add_argument("--plan", help="print this JSON as the plan")
    p.add_argument("--marker", help="create this file when started")
    p.add_argument("--block-until", help="wait until this file exists")
    p.add_argument(
        "--fail-first-time",
        metavar="FILE",
        help="the first invocation creates FILE and exits 1; later ones go on",
    )
    p.add_argument(
        "--hang-first-time",
        metavar="FILE",
        help="the first invocation creates FILE and hangs; later ones go on",
    )
    p.add_argument(
        "--say-once-then",
        nargs=2,
        metavar=("FIRST", "LATER"),
        help="summary FIRST on the first call for this repo, LATER afterwards",
    )
    p.add_argument("--task-to", metavar="PATH", help="append the task it was given to this file")
    p.add_argument("--plan-to", metavar="PATH", help="append the plan context it was given (BATON_PLAN) to this file")
    p.add_argument(
        "--break-unless-feedback",
        metavar="PATH",
        help="without feedback create PATH (the repo's checks fail on it); with feedback remove it",
    )
    args = p.parse_args()

    repo, role = os.environ.get("BATON_REPO", ""), os.environ.get("BATON_ROLE", "")
    if args.count:
        with open(args.count, "a", encoding="utf-8") as f:
            f.write(f"{repo} {role} {os.getpid()}\n")
    if args.marker:
        Path(args.marker).touch()
    if args.fail_first_time and not Path(args.fail_first_time).exists():
        Path(args.fail_first_time).touch()
        print("failing the first time, as asked", flush=True)
        return 1
    if args.hang_first_time and not Path(args.hang_first_time).exists():
        Path(args.hang_first_time).touch()
        while True:
            time.sleep(1)
    if args.block_until:
        while not Path(args.block_until).exists():
            time.sleep(0.05)
    if args.sleep:
        time.sleep(args.sleep)
    if args.fail_unless_feedback and args.fail_unless_feedback not in os.environ.get("BATON_FEEDBACK", ""):
        print("feedback missing: failing as asked", flush=True)
        return 1
    for path, text in args.append:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as f:
            f.write(text + "\n")
    for path, text in args.write:
        Path(path).write_text(text + "\n", encoding="utf-8")
    for path in args.remove:
        Path(path).unlink(missing_ok=True)
    if args.task_to:
        with Path(args.task_to).open("a", encoding="utf-8") as f:
            f.write(os.environ.get("BATON_TASK", "") + "\n")
    if args.plan_to:
        with Path(args.plan_to).open("a", encoding="utf-8") as f:
            f.write(os.environ.get("BATON_PLAN", "") + "\n")
    if args.break_unless_feedback:
        broken = Path(args.break_unless_feedback)
        if os.environ.get("BATON_FEEDBACK"):
            broken.unlink(missing_ok=True)
            with Path("FIXES.md").open("a", encoding="utf-8") as f:
                f.write("fixed after feedback\n")
        else:
            broken.write_text("broken\n", encoding="utf-8")
    summary = args.summary
    if args.say_once_then:
        seen = Path(os.environ["HOME"]) / f"said-{repo}"
        summary = args.say_once_then[1] if seen.exists() else args.say_once_then[0]
        seen.touch()
    if args.plan:
        print("BATON_PLAN " + json.dumps(json.loads(args.plan)), flush=True)
    if args.usage:
        print("BATON_USAGE " + json.dumps(json.loads(args.usage)), flush=True)
    if summary:
        print("BATON_SUMMARY " + summary, flush=True)
    return args.exit


if __name__ == "__main__":
    sys.exit(main())
