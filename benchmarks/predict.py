"""Throughput and peak memory of `calhousing predict`, beside the floor of reading and writing.

Makes CSV files of 1M and 10M rows by resampling the real California Housing
rows (with a little multiplicative noise, 4 decimals, and an ``id`` column),
then runs, as separate processes:

* ``calhousing predict FILE -o OUT --model M --quiet`` for each model;
* the floor: the same reader (:func:`calhousing.predict.open_csv` and
  :func:`~calhousing.predict.parse_csv`) reading the same file and the same
  writer writing the same columns (``id`` and one float column, copied from the
  input), with no model;
* ``calhousing predict`` on a header-only file: the fixed cost of starting up
  (interpreter and imports), subtracted in the last column.

For each it prints the wall time, rows per second and peak resident memory, and
for the models the ratio to the floor, beside the targets of issue 7.

Usage (after ``calhousing run`` has written ``artifacts/``)::

    export SCIKIT_LEARN_DATA="$(realpath ../shared/scikit_learn_data)"
    .venv/bin/python benchmarks/predict.py [--rows 1000000 10000000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

# Only what `calhousing predict` itself imports, so the floor starts up like it does;
# calhousing.data (scikit-learn) is imported where the input files are made.
from calhousing import artifacts
from calhousing import predict as scoring

TARGET_RATIO = 1.3
TARGET_ROWS_PER_SECOND = 1_000_000
TARGET_PEAK_MB = 300
NOISE = 0.01  # relative standard deviation of the noise on each resampled value
CHUNK_ROWS = 1_000_000
GNU_TIME = "/usr/bin/time"


def make_csv(path: Path, n_rows: int, seed: int = 0) -> None:
    """Write `n_rows` rows resampled from the real data, with noise, in chunks."""
    from calhousing import data

    features = data.load_housing()[list(data.FEATURE_NAMES)].to_numpy()
    rng = np.random.default_rng(seed)
    with open(path, "wb") as sink:
        for start in range(0, max(n_rows, 1), CHUNK_ROWS):  # a header even for 0 rows
            size = min(CHUNK_ROWS, n_rows - start)
            picked = features[rng.integers(0, len(features), size)]
            noisy = np.round(picked * rng.normal(1.0, NOISE, picked.shape), 4)
            columns = {"id": pa.array(np.arange(start, start + size))}
            columns |= {name: noisy[:, j] for j, name in enumerate(data.FEATURE_NAMES)}
            options = pacsv.WriteOptions(include_header=start == 0, quoting_style="none")
            pacsv.write_csv(pa.table(columns), sink, write_options=options)


def floor(input_path: str, output_path: str, artifacts_dir: str) -> None:
    """Read `input_path` with predict's reader and write ``id`` and a float column, no model.

    Like ``calhousing predict`` it first reads the feature names from the artifacts.
    """
    names = artifacts.load_float_params(artifacts_dir).feature_names
    with open(input_path, "rb") as stream, open(output_path, "wb") as sink:
        layout, blocks = scoring.open_csv(stream, input_path, names)
        with scoring.table_writer(sink, layout.output_schema, parquet=False) as write:
            for block in blocks:
                table = scoring.parse_csv(block.data, layout)
                copied = table[names[0]]
                columns = [*(table[name] for name in layout.passthrough), copied]
                write(pa.Table.from_arrays(columns, schema=layout.output_schema))


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of `command`, from GNU time.

    A child forked from this process would report this process's peak as its
    own (``ru_maxrss`` survives ``exec``), so the command runs under
    ``/usr/bin/time``, a small process whose child starts fresh.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        timed = [GNU_TIME, "-f", "%e %M", "-o", report.name, *command]
        if subprocess.run(timed, stdout=subprocess.DEVNULL).returncode != 0:
            raise SystemExit(f"benchmark command failed: {' '.join(command)}")
        seconds, peak_kib = report.read().split()[-2:]
    return float(seconds), int(peak_kib) / 1024


def best_of(command: list[str], repeat: int) -> tuple[float, float]:
    runs = [measure(command) for _ in range(repeat)]
    return min(seconds for seconds, _ in runs), max(peak for _, peak in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--models", nargs="+", default=list(scoring.MODELS))
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure; the best counts")
    parser.add_argument("--artifacts-dir", help="default: the project's artifacts/")
    parser.add_argument(
        "--floor", nargs=3, metavar=("IN", "OUT", "ARTIFACTS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.floor:
        floor(*args.floor)
        return
    if shutil.which(GNU_TIME) is None:
        raise SystemExit(f"{GNU_TIME} (GNU time) is needed to measure peak memory")
    folder = artifacts.resolve_dir(args.artifacts_dir, "artifacts")
    cli = [str(Path(sys.executable).with_name("calhousing")), "predict", "--quiet"]
    cli += ["--artifacts-dir", str(folder)]
    print(f"calhousing predict on {os.cpu_count()} cores; artifacts from {folder}")
    print(
        f"{'rows':>10} {'run':>10} {'seconds':>8} {'rows/s':>11} {'peak MB':>8} "
        f"{'x floor':>8} {'rows/s after start-up':>22}"
    )
    with tempfile.TemporaryDirectory(prefix="calhousing-bench-") as scratch:
        work = Path(scratch)
        header_only = work / "header.csv"
        make_csv(header_only, 0)
        startup, startup_peak = best_of([*cli, str(header_only), "-o", str(work / "h.out")], 3)
        print(f"{0:>10} {'start-up':>10} {startup:>8.2f} {'':>11} {startup_peak:>8.0f}")
        for n_rows in args.rows:
            source = work / f"rows-{n_rows}.csv"
            make_csv(source, n_rows)
            output = str(work / "out.csv")
            floor_command = [sys.executable, __file__, "--floor", str(source), output, str(folder)]
            floor_seconds, floor_peak = best_of(floor_command, args.repeat)
            print(
                f"{n_rows:>10} {'floor':>10} {floor_seconds:>8.2f} "
                f"{n_rows / floor_seconds:>11,.0f} {floor_peak:>8.0f}"
            )
            for model in args.models:
                command = [*cli, "--model", model, str(source), "-o", output]
                seconds, peak = best_of(command, args.repeat)
                ratio = seconds / floor_seconds
                steady = n_rows / max(seconds - startup, 1e-9)
                print(
                    f"{n_rows:>10} {model:>10} {seconds:>8.2f} {n_rows / seconds:>11,.0f} "
                    f"{peak:>8.0f} {ratio:>8.2f} {steady:>22,.0f}"
                )
            size_mb = source.stat().st_size / 2**20
            print(f"{'':>10} (input {size_mb:,.0f} MiB)")
            source.unlink()
    print(
        f"targets: x floor <= {TARGET_RATIO}, >= {TARGET_ROWS_PER_SECOND:,} rows/s, "
        f"peak < {TARGET_PEAK_MB} MB at 10M rows"
    )


if __name__ == "__main__":
    main()
