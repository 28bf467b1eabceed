"""bench/RESULTS.md shows each benchmark's pictures under its own section: every PNG in the results
folder whose name starts with `<bench>-`, sorted by name, linked relative to RESULTS.md; and
`save_figure` writes a matplotlib figure under that name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def bench_common() -> ModuleType:
    """bench/_common.py, which the benchmarks import as a sibling script (bench/ is no package)."""
    spec = importlib.util.spec_from_file_location("bench_common_under_test", ROOT / "bench" / "_common.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_summary_embeds_each_benchmarks_pngs_under_its_section_sorted_by_name(tmp_path: Path) -> None:
    common = bench_common()
    results = tmp_path / "results"
    results.mkdir()
    for name in ("alpha", "beta"):
        (results / f"{name}.json").write_text('{"x": {"value": 1, "baseline": null, "unit": "ms"}}')
    for png in ("beta-zeta.png", "alpha-calls.png", "beta-alpha.png", "alphabet-other.png"):
        (results / png).write_bytes(b"\x89PNG\r\n")
    summary = common.regenerate_summary(results, tmp_path / "RESULTS.md")

    lines = summary.read_text().splitlines()
    images = [line for line in lines if line.startswith("![")]
    assert images == [
        "![alpha-calls](results/alpha-calls.png)",
        "![beta-alpha](results/beta-alpha.png)",
        "![beta-zeta](results/beta-zeta.png)",
    ]
    assert lines.index("## alpha") < lines.index(images[0]) < lines.index("## beta") < lines.index(images[1])


def test_save_figure_writes_the_png_as_bench_name_dash_what(tmp_path: Path) -> None:
    common = bench_common()
    plt = common.pyplot()
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [1, 4, 9])
    path = common.save_figure(fig, "demo", "squares", results_dir=tmp_path)

    assert path == tmp_path / "demo-squares.png"
    assert path.read_bytes().startswith(b"\x89PNG")
    assert plt.get_fignums() == []
