"""The C export's scorer against its anchor, `calhousing predict --model integer`, on 1M rows.

Makes a CSV of `--rows` rows resampled from the test split (the exact doubles of the data),
exports the integer model with ``calhousing export --format c``, builds ``score.c`` with gcc
(``-std=c99 -Wall -Wextra -Werror -pedantic -O2``), then times, as separate processes and
interleaved (predict, then the C scorer, repeated; the best of each counts):

* the anchor: ``calhousing predict ROWS.csv -o OUT.csv --model integer --quiet``;
* ``./score < ROWS.csv > OUT.txt``.

It checks that both give the same predictions, bit for bit, and prints the seconds of each
and the ratio predict / C (how many times faster the C scorer is).

Usage (after ``calhousing run`` has written ``artifacts/``)::

    export SCIKIT_LEARN_DATA=/path/to/scikit_learn_data
    .venv/bin/python benchmarks/c_scorer.py [--rows 1000000] [--repeat 3] [--artifacts-dir DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from calhousing.core import data
from calhousing.export import c as c_export
from calhousing.run import artifacts


def _timed(command: list[str], stdin: Path | None = None, stdout: Path | None = None) -> float:
    with (
        open(stdin or "/dev/null", "rb") as source,
        open(stdout or "/dev/null", "wb") as sink,
    ):
        start = time.perf_counter()
        subprocess.run(command, stdin=source, stdout=sink, check=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--artifacts-dir", default=None)
    args = parser.parse_args()
    run = artifacts.Run.open(args.artifacts_dir)
    calhousing = str(Path(sys.executable).with_name("calhousing"))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        test = run.split().X_test[list(data.FEATURE_NAMES)]
        picks = np.random.default_rng(0).integers(0, len(test), args.rows)
        rows = folder / "rows.csv"
        test.iloc[picks].to_csv(rows, index=False, float_format="%.17g")
        c_dir = folder / "c"
        c_export.write_folder(c_dir, c_export.load_c_export(run))
        binary = c_export.build_scorer(c_dir)
        predict = [calhousing, "predict", str(rows), "-o", str(folder / "out.csv")]
        predict += ["--model", "integer", "--quiet", "--artifacts-dir", str(run.folder)]
        best = {"calhousing predict": float("inf"), "C scorer": float("inf")}
        for _ in range(args.repeat):
            (folder / "out.csv").unlink(missing_ok=True)
            best["calhousing predict"] = min(best["calhousing predict"], _timed(predict))
            seconds = _timed([str(binary)], stdin=rows, stdout=folder / "out.txt")
            best["C scorer"] = min(best["C scorer"], seconds)
        expected = pd.read_csv(folder / "out.csv", dtype=str).iloc[:, -1].map(float)
        actual = [float(line) for line in (folder / "out.txt").read_text().split()]
        equal = bool(np.array_equal(expected.to_numpy(), np.array(actual)))
    for name, seconds in best.items():
        print(f"{name:>20}: {seconds:.3f} s for {args.rows:,} rows (best of {args.repeat})")
    ratio = best["calhousing predict"] / best["C scorer"]
    print(f"ratio calhousing predict / C scorer: {ratio:.2f}; predictions equal: {equal}")


if __name__ == "__main__":
    main()
