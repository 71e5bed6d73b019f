"""Wall time of `calhousing run` beside the same library calls in one plain Python process.

The floor executes the code cells of the pipeline's notebooks, in order, in this
one process: the same imports and library calls, with every cell's result
rendered as a kernel would (tables to HTML, figures to PNG), but no kernel, no
papermill and no report. Then it shows where the run's time goes: each
notebook's time in its cells and around them (papermill and nbclient; the
first also waits for the kernel to answer), the report's rendering (nbconvert),
the start-up of a kernel and of the command.

The run and the floor alternate, so a machine busy with something else slows
both alike; the best of each counts.

Usage (with SCIKIT_LEARN_DATA set to a folder holding cal_housing_py3.pkz)::

    .venv/bin/python benchmarks/pipeline.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import ast
import io
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import nbformat

from calhousing.pipeline import EXECUTED_DIR, NOTEBOOK_NAMES, notebooks_dir

TARGET_RATIO = 1.5
TARGET_RUN_SECONDS = 15.0
CALHOUSING = str(Path(sys.executable).with_name("calhousing"))


def timed(command: list[str]) -> float:
    """Wall seconds of `command`, which must succeed."""
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def run_command(folder: Path) -> list[str]:
    return [
        CALHOUSING,
        "run",
        "--artifacts-dir",
        str(folder / "artifacts"),
        "--reports-dir",
        str(folder / "reports"),
        "--no-progress",
    ]


def floor(artifacts_dir: str) -> None:
    """Execute every notebook's code cells here, with `artifacts_dir` injected as papermill does."""
    for name in NOTEBOOK_NAMES:
        notebook = nbformat.read(notebooks_dir() / name, as_version=4)
        namespace: dict[str, Any] = {"__name__": "__main__"}
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            _run_cell(cell.source, namespace)
            if "parameters" in cell.metadata.get("tags", []):
                namespace["artifacts_dir"] = artifacts_dir


def _run_cell(source: str, namespace: dict[str, Any]) -> None:
    """Run `source`; render its last expression, as a kernel displays it."""
    tree = ast.parse(source)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, "<cell>", "exec"), namespace)
    if last is not None:
        value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), namespace)
        _render(value)


def _render(value: Any) -> None:
    if hasattr(value, "savefig"):  # a matplotlib Figure: the inline backend's PNG
        value.savefig(io.BytesIO(), format="png", bbox_inches="tight")
        return
    for method in ("_repr_html_", "_repr_markdown_", "_repr_png_"):
        if hasattr(value, method):
            getattr(value, method)()
    repr(value)


def notebook_times(executed_dir: Path) -> list[tuple[str, float, float, float]]:
    """Per executed notebook: total seconds, seconds in cells, seconds in its first code cell."""
    rows = []
    for name in NOTEBOOK_NAMES:
        notebook = nbformat.read(executed_dir / name, as_version=4)
        cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
        durations = [cell.metadata.get("papermill", {}).get("duration") or 0.0 for cell in cells]
        total = notebook.metadata["papermill"]["duration"]
        first_work = next(
            (d for c, d in zip(cells, durations, strict=True) if "import" in c.source), 0
        )
        rows.append((name, total, sum(durations), first_work))
    return rows


def kernel_start_seconds() -> float:
    """Seconds to start a python3 kernel and have it answer."""
    from jupyter_client.manager import start_new_kernel

    start = time.perf_counter()
    manager, client = start_new_kernel(kernel_name="python3", stderr=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    client.stop_channels()
    manager.shutdown_kernel(now=True)
    return seconds


def report_seconds(executed_dir: Path, folder: Path) -> float:
    """Seconds nbconvert takes to render the report from the executed notebooks (warm)."""
    from calhousing.report.render import write_report
    from calhousing.run.artifacts import Run

    paths = [executed_dir / name for name in NOTEBOOK_NAMES]
    write_report(paths, folder / "warm.html", {}, run=Run.open(folder / "artifacts"))
    start = time.perf_counter()
    write_report(paths, folder / "report.html", {}, run=Run.open(folder / "artifacts"))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--floor", metavar="ARTIFACTS_DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(args.floor)
        return
    with tempfile.TemporaryDirectory(prefix="calhousing-bench-") as scratch:
        folder = Path(scratch)
        floor_dir = folder / "floor"
        floor_dir.mkdir()
        floor_command = [sys.executable, __file__, "--floor", str(floor_dir)]
        runs, floors = [], []
        for _ in range(args.repeat):  # interleaved: load on the machine hits both alike
            runs.append(timed(run_command(folder)))
            floors.append(timed(floor_command))
        run_seconds, floor_seconds = min(runs), min(floors)
        ratio = run_seconds / floor_seconds
        print(f"calhousing run ({len(NOTEBOOK_NAMES)} notebooks + report): {run_seconds:6.2f} s")
        print(f"floor (same calls, one plain Python process):     {floor_seconds:6.2f} s")
        print(
            f"ratio {ratio:.2f} (target <= {TARGET_RATIO}); run {run_seconds:.1f} s "
            f"(target < {TARGET_RUN_SECONDS:.0f} s)"
        )
        print("\nWhere the run's time goes (last run):")
        print(f"  {'notebook':<20} {'total s':>8} {'in cells':>9} {'around':>7} {'1st cell':>9}")
        executed_dir = folder / "reports" / EXECUTED_DIR
        rows = notebook_times(executed_dir)
        for name, total, cells, first in rows:
            print(f"  {name:<20} {total:>8.2f} {cells:>9.2f} {total - cells:>7.2f} {first:>9.2f}")
        notebooks_total = sum(row[1] for row in rows)
        print(f"  {'all notebooks':<20} {notebooks_total:>8.2f}")
        startup = min(timed([CALHOUSING, "--help"]) for _ in range(3))
        kernel = min(kernel_start_seconds() for _ in range(3))
        report = report_seconds(executed_dir, folder)
        print(f"  report rendering (nbconvert, warm):      {report:6.2f} s")
        print(f"  command start-up (`calhousing --help`):  {startup:6.2f} s")
        # The shared kernel starts before the first notebook, while papermill and nbconvert
        # are imported; what of it is not hidden by those falls into "the rest".
        print(f"  one kernel start-up (python3, beside the imports): {kernel:5.2f} s")
        rest = run_seconds - notebooks_total - report - startup
        print(f"  the rest (imports, kernel start, staging, moving files, noise): {rest:6.2f} s")


if __name__ == "__main__":
    main()
