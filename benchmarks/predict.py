"""`calhousing predict` against its anchor, polars doing the same dot product on the same file.

Makes files of 1M and 10M rows by resampling the real California Housing rows
(1% multiplicative noise, 4 decimals, an ``id`` column), then runs, as separate
processes and interleaved (anchor, then each model, repeated; the best counts):

* the anchor: ``pl.scan_csv`` (or ``scan_parquet``) → the float model's dot product
  as one expression → ``sink_csv`` (``sink_parquet``), nothing else;
* ``calhousing predict FILE -o OUT --model M --quiet`` for each model,
  CSV→CSV and Parquet→Parquet;
* start-up: ``calhousing predict`` on a header-only file;
* ``--skip-invalid`` on a 10 MB file where every other row is bad, against the
  same file clean;
* a 4-part Parquet dataset on a local Dask cluster of 1 and 2 workers.

It prints seconds, peak resident memory (GNU time) and the ratio to the anchor,
beside the targets declared below (TARGET_*).

Usage (after ``calhousing run`` has written ``artifacts/``)::

    export SCIKIT_LEARN_DATA=/path/to/scikit_learn_data
    .venv/bin/python benchmarks/predict.py [--rows 1000000 10000000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

TARGET_RATIO = {1_000_000: 1.2, 10_000_000: 1.0}
TARGET_STARTUP = 0.3
TARGET_SKIP_RATIO = 2.0
TARGET_PEAK_MB = 300
NOISE = 0.01
CHUNK_ROWS = 1_000_000
GNU_TIME = "/usr/bin/time"
MODELS = ("float", "quantized", "integer")


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
            frame = pl.DataFrame({"id": np.arange(start, start + size)}).with_columns(
                pl.Series(name, noisy[:, j]) for j, name in enumerate(data.FEATURE_NAMES)
            )
            frame.write_csv(sink, include_header=start == 0)


def half_bad(source: Path, target: Path) -> None:
    """`source` with every other row's MedInc replaced by text."""
    lines = source.read_text().splitlines()
    out = [lines[0]]
    for index, line in enumerate(lines[1:]):
        if index % 2:
            fields = line.split(",")
            fields[1] = "oops"
            line = ",".join(fields)
        out.append(line)
    target.write_text("\n".join(out) + "\n")


def anchor(source: str, output: str, artifacts_dir: str) -> None:
    """polars alone: scan, the float model's dot product, sink."""
    params = json.loads((Path(artifacts_dir) / "float_params.json").read_text())
    frame = pl.scan_parquet(source) if source.endswith(".parquet") else pl.scan_csv(source)
    total = pl.lit(params["intercept"])
    for name, weight in zip(params["feature_names"], params["coef"], strict=True):
        total = total + pl.col(name) * weight
    scored = frame.select("id", total.alias("MedHouseVal_pred"))
    if output.endswith(".parquet"):
        scored.sink_parquet(output)
    else:
        scored.sink_csv(output)


def measure(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Wall seconds and peak resident MB of `command`, from GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        timed = [GNU_TIME, "-f", "%e %M", "-o", report.name, *command]
        done = subprocess.run(timed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        if done.returncode != 0:
            raise SystemExit(f"benchmark command failed: {' '.join(command)}\n{done.stderr}")
        seconds, peak_kib = report.read().split()[-2:]
    return float(seconds), int(peak_kib) / 1024


def interleaved(commands: dict[str, list[str]], repeat: int) -> dict[str, tuple[float, float]]:
    """Each command `repeat` times, round robin; the best time and the largest peak of each."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            runs[name].append(measure(command))
    return {
        name: (min(s for s, _ in found), max(p for _, p in found)) for name, found in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=2, help="runs per figure; the best counts")
    parser.add_argument("--artifacts-dir", help="default: the project's artifacts/")
    parser.add_argument("--anchor", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--skip-dask", action="store_true", help="leave out the Dask figures")
    args = parser.parse_args()
    if args.anchor:
        anchor(*args.anchor)
        return
    from calhousing import artifacts

    folder = str(artifacts.resolve_dir(args.artifacts_dir, "artifacts"))
    cli = [str(Path(sys.executable).with_name("calhousing")), "predict", "--quiet"]
    cli += ["--artifacts-dir", folder]
    load = os.getloadavg()[0]
    print(f"calhousing predict vs polars, {os.cpu_count()} cores, load average {load:.1f}")
    print(f"{'rows':>10} {'format':>8} {'run':>10} {'seconds':>8} {'peak MB':>8} {'x polars':>9}")
    with tempfile.TemporaryDirectory(prefix="calhousing-bench-") as scratch:
        work = Path(scratch)
        header = work / "header.csv"
        make_csv(header, 0)
        startup = interleaved({"s": [*cli, str(header), "-o", str(work / "h.csv")]}, 3)["s"]
        print(f"{0:>10} {'csv':>8} {'start-up':>10} {startup[0]:>8.2f} {startup[1]:>8.0f}")
        for n_rows in args.rows:
            csv_path = work / f"rows-{n_rows}.csv"
            make_csv(csv_path, n_rows)
            parquet_path = csv_path.with_suffix(".parquet")
            pl.scan_csv(csv_path).sink_parquet(parquet_path)
            for kind, source in (("csv", csv_path), ("parquet", parquet_path)):
                out = str(work / f"out.{kind}")
                commands = {
                    "polars": [sys.executable, __file__, "--anchor", str(source), out, folder]
                }
                for model in MODELS:
                    commands[model] = [*cli, "--model", model, str(source), "-o", out]
                found = interleaved(commands, args.repeat)
                base = found["polars"][0]
                for name, (seconds, peak) in found.items():
                    ratio = "" if name == "polars" else f"{seconds / base:>9.2f}"
                    print(f"{n_rows:>10} {kind:>8} {name:>10} {seconds:>8.2f} {peak:>8.0f} {ratio}")
            csv_path.unlink()
            parquet_path.unlink()
        clean = work / "clean.csv"
        make_csv(clean, 150_000)
        bad = work / "half-bad.csv"
        half_bad(clean, bad)
        skip = [*cli, "--skip-invalid", "-o", str(work / "skip.csv")]
        found = interleaved({"clean": [*skip, str(clean)], "half bad": [*skip, str(bad)]}, 3)
        size = bad.stat().st_size / 1e6
        for name, (seconds, peak) in found.items():
            print(f"{150_000:>10} {'csv':>8} {name:>10} {seconds:>8.2f} {peak:>8.0f}")
        ratio = found["half bad"][0] / found["clean"][0]
        print(f"  --skip-invalid, {size:.0f} MB, half the rows bad: {ratio:.2f}x the clean file")
        if not args.skip_dask:
            dataset = work / "parts"
            dataset.mkdir()
            make_csv(work / "d.csv", 4_000_000)
            whole = pl.read_csv(work / "d.csv")
            for index in range(4):
                whole.slice(index * 1_000_000, 1_000_000).write_parquet(
                    dataset / f"part-{index}.parquet"
                )
            for workers in (1, 2):
                target = work / f"scored-{workers}"
                seconds, peak = measure(
                    [*cli, str(dataset), "-o", str(target), "--workers", str(workers)]
                )
                shutil.rmtree(target)
                print(
                    f"  Dask, 4 x 1M-row Parquet parts, {workers} worker(s): {seconds:.2f} s, "
                    f"{4_000_000 / seconds:,.0f} rows/s"
                )
    print(
        f"targets: x polars <= {TARGET_RATIO[1_000_000]} at 1M rows, "
        f"<= {TARGET_RATIO[10_000_000]} at 10M; start-up <= {TARGET_STARTUP} s; "
        f"half-bad --skip-invalid <= {TARGET_SKIP_RATIO}x clean; peak <= {TARGET_PEAK_MB} MB"
    )


if __name__ == "__main__":
    main()
