"""Shared helpers for the benchmarks in bench/: timing, percentiles, the results files and RESULTS.md.

Every benchmark `bench/<name>.py` measures some figures, prints them as a table with their baseline
beside them, and calls `publish(name, figures)`, which writes `bench/results/<name>.json` and
regenerates `bench/RESULTS.md` from every json in `bench/results/` (design §2 "Benchmarks").

A results file maps each figure's name to `{"value": v, "baseline": b, "unit": u}`; `baseline` is
null when a figure has none, and an optional `"target"` says what we aim for, in words.

Pictures: `save_figure(fig, name, what)` writes a matplotlib figure (Agg backend, no display) to
`bench/results/<name>-<what>.png`; the summary shows every PNG whose file name starts with `<name>-`
under that benchmark's section, sorted by file name. Save pictures before calling `publish`.

`make bench` runs every `bench/*.py`, this file included: run as a script it does nothing.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
SUMMARY = BENCH_DIR / "RESULTS.md"


# -- timing ------------------------------------------------------------------------------------------
@dataclass
class Stopwatch:
    """Elapsed wall time of a `with timed() as t:` block, in seconds (`t.s`) or milliseconds."""

    started: float = field(default_factory=time.perf_counter)
    s: float = 0.0

    @property
    def ms(self) -> float:
        return self.s * 1000


@contextmanager
def timed() -> Iterator[Stopwatch]:
    watch = Stopwatch()
    try:
        yield watch
    finally:
        watch.s = time.perf_counter() - watch.started


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between the closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


# -- figures -----------------------------------------------------------------------------------------
@dataclass
class Figure:
    """One measured number, with what to compare it to."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    note: str = ""

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "value": _round(self.value),
            "baseline": None if self.baseline is None else _round(self.baseline),
            "unit": self.unit,
        }
        if self.target:
            data["target"] = self.target
        return data


def _round(value: float) -> float | None:
    """Enough digits to compare runs, not more; NaN (a run that failed) becomes null."""
    if math.isnan(value):
        return None
    magnitude = abs(value)
    return round(value, 4 if magnitude < 1 else 3 if magnitude < 10 else 2 if magnitude < 100 else 1)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if math.isnan(value):
        return "n/a"
    if unit == "x" or unit == "ratio":
        return f"{value:.2f}x"
    if unit == "%":
        return f"{value:.0f}%"
    digits = 1 if abs(value) >= 100 else 2 if abs(value) >= 10 else 3
    return f"{value:.{digits}f} {unit}"


def table(figures: Sequence[Figure], title: str = "") -> str:
    """A plain-text table: figure, value, baseline, value/baseline, target."""
    header = ("figure", "value", "baseline", "vs baseline", "target")
    rows = [header]
    for f in figures:
        ratio = "-"
        if f.baseline and not math.isnan(f.value) and f.unit not in ("x", "ratio", "%"):
            ratio = f"{f.value / f.baseline:.2f}x"
        rows.append((f.name, _fmt(f.value, f.unit), _fmt(f.baseline, f.unit), ratio, f.target))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [title] if title else []
    for n, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:4], widths[1:4], strict=True)]
        lines.append("  ".join([*cells, row[4]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  {f.name}: {f.note}" for f in figures if f.note]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


# -- results files -------------------------------------------------------------------------------------
def write_results(name: str, figures: Sequence[Figure]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    data = {f.name: f.as_json() for f in figures}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


# -- PostgreSQL -----------------------------------------------------------------------------------------
@contextmanager
def postgres_database(label: str) -> Iterator[str]:
    """A fresh, uniquely named database on the machine's PostgreSQL (its URL), dropped afterwards."""
    root = str(BENCH_DIR.parent)
    if root not in sys.path:  # bench/ runs as scripts; the helper lives with the tests'
        sys.path.insert(0, root)
    from tests.e2e.postgres_support import fresh_database

    with fresh_database(f"baton_bench_{label}") as url:
        yield url


# -- pictures -------------------------------------------------------------------------------------------
_WHAT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def pyplot() -> Any:
    """`matplotlib.pyplot` on the Agg backend: pictures go to files, never to a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, name: str, what: str, results_dir: Path = RESULTS_DIR) -> Path:
    """Save a matplotlib figure as `bench/results/<name>-<what>.png` and close it. `name` is the
    benchmark's (as given to `publish`); RESULTS.md shows the picture under that benchmark."""
    if not _WHAT.match(what):
        raise ValueError(f"picture name {what!r}: use lowercase letters, digits, '-' and '_'")
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}-{what}.png"
    tmp = path.with_suffix(".png.tmp")
    fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    os.replace(tmp, path)
    pyplot().close(fig)
    return path


def pictures(name: str, results_dir: Path = RESULTS_DIR) -> list[Path]:
    """The PNGs of benchmark `name` in bench/results/, by file name."""
    return sorted(results_dir.glob(f"{name}-*.png"), key=lambda p: p.name)


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    model = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    return {
        "cpus": str(os.cpu_count() or "unknown"),
        "cpu model": model,
        "memory": memory,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()}",
    }


def regenerate_summary(results_dir: Path = RESULTS_DIR, summary: Path = SUMMARY) -> Path:
    """Rewrite bench/RESULTS.md from every json (and PNG) in bench/results/."""
    lines = [
        "# Benchmark results",
        "",
        "Generated by `make bench` from `bench/results/*.json`; do not edit by hand.",
        f"Last regenerated {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + ".",
        "",
    ]
    for path in sorted(results_dir.glob("*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            lines += [f"## {path.stem}", "", f"(unreadable: {err})", ""]
            continue
        lines += [
            f"## {path.stem}",
            "",
            "| figure | value | baseline | unit | target |",
            "|---|---:|---:|---|---|",
        ]
        for figure, entry in data.items():
            baseline = entry.get("baseline")
            lines.append(
                f"| {figure} | {entry.get('value')} | {'-' if baseline is None else baseline} "
                f"| {entry.get('unit', '')} | {entry.get('target', '')} |"
            )
        lines.append("")
        for picture in pictures(path.stem, results_dir):
            # Relative to RESULTS.md, so the picture shows on GitHub too.
            link = Path(os.path.relpath(picture, summary.parent)).as_posix()
            lines += [f"![{picture.stem}]({link})", ""]
    summary.write_text("\n".join(lines), encoding="utf-8")
    return summary


def run_benchmark(main: Callable[[], int]) -> NoReturn:
    """Run a benchmark's `main` as its script's entry point and exit with its code (2 on a crash).

    A workflow thread that outlived its Runtime (a run still blocked in a durable wait) would keep
    the process alive for hours, so then the process is ended outright, its output flushed."""
    try:
        code = main()
    except Exception:
        traceback.print_exc()
        code = 2
    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if stuck:
        print(f"threads still running after shutdown: {', '.join(stuck)}; exiting anyway", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def publish(name: str, figures: Sequence[Figure]) -> None:
    """Write this benchmark's results file and regenerate the summary."""
    path = write_results(name, figures)
    summary = regenerate_summary()
    print(f"\nwrote {path.relative_to(BENCH_DIR.parent)} and {summary.relative_to(BENCH_DIR.parent)}")


def conclude(name: str, figures: Sequence[Figure], seconds: float, problems: Sequence[str]) -> int:
    """Print the table (titled with the wall time and the load average), publish it, and return
    the exit code: 1 when work was lost or duplicated, else 0."""
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print()
    print(table(figures, title=f"bench/{name}.py: {seconds:.0f}s on {os.cpu_count()} cores, load {load}"))
    publish(name, figures)
    if problems:
        print("\nLOST OR DUPLICATED WORK:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # `make bench` runs every bench/*.py; this one holds helpers and measures nothing.
    print("bench/_common.py: shared helpers, nothing to measure", file=sys.stderr)
