"""`calhousing predict` against its anchor, polars doing the same dot product on the same file.

Makes files of 1M and 10M rows by resampling the real California Housing rows
(1% multiplicative noise, 4 decimals, an ``id`` column), then runs, as separate
processes and interleaved (anchor, then each model, repeated; the best counts):

* the anchor of each model: ``pl.scan_csv`` (or ``scan_parquet``) → that model's
  prediction as one plain expression (:func:`anchor_prediction`) → ``sink_csv``
  (``sink_parquet``), nothing else: no checks, no counts, no staging;
* ``calhousing predict FILE -o OUT --model M --quiet`` for each model,
  CSV→CSV and Parquet→Parquet;
* start-up: ``calhousing predict`` on a header-only file;
* peak memory of the integer model at 1 to 16 threads (``POLARS_MAX_THREADS``);
* ``--skip-invalid`` on a 10 MB file where every other row is bad, against the
  same file clean;
* a 4-part Parquet dataset on a local Dask cluster of 1 and 2 workers.

Every timed run writes output files that do not exist yet (the previous run's are
deleted first, untimed): replacing a 265 MB file costs polars' truncation little
and ``predict``'s atomic rename over it about 45 ms (ext4 flushes a file renamed
over another), a cost of the file system that the comparison leaves out.

It prints seconds, peak resident memory (GNU time) and the ratio to the model's
anchor, beside the targets declared below (TARGET_*).

Usage (after ``calhousing run`` has written ``artifacts/``)::

    export SCIKIT_LEARN_DATA=/path/to/scikit_learn_data
    .venv/bin/python benchmarks/predict.py [--rows 1000000 10000000] [--repeat 3]
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

import polars as pl

TARGET_RATIO = {1_000_000: 1.2, 10_000_000: 1.0}
TARGET_STARTUP = 0.3
TARGET_SKIP_RATIO = 2.0
TARGET_PEAK_MB = 300
THREAD_COUNTS = (1, 2, 4, 8, 16)
NOISE = 0.01
CHUNK_ROWS = 1_000_000
GNU_TIME = "/usr/bin/time"
MODELS = ("float", "quantized", "integer")


def make_csv(path: Path, n_rows: int, seed: int = 0) -> None:
    """Write `n_rows` rows resampled from the real data, with noise, in chunks."""
    import numpy as np

    from calhousing.core import data

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


def anchor_prediction(artifacts_dir: str, model: str) -> pl.Expr:
    """The model's prediction as the plainest polars expression, read from its JSON artifact.

    Written here without calhousing, as a user would: the float or dequantized
    weights' dot product, or the integer model's quantize, clip, integer dot
    product and rescale (in float64, which adds these integers exactly).
    """
    folder = Path(artifacts_dir)
    if model == "integer":
        found = json.loads((folder / "integer_model.json").read_text())
        qmax = 2 ** found["input_bits"] - 1
        total = pl.lit(float(found["bias_code"]))
        terms = zip(
            found["feature_names"],
            found["input_offset"],
            found["input_scale"],
            found["weight_codes"],
            strict=True,
        )
        for name, offset, scale, weight in terms:
            code = ((pl.col(name) - offset) / scale).round(0, mode="half_to_even").clip(0, qmax)
            total = total + code * weight
        return total * found["accumulator_scale"]
    if model == "quantized":
        found = json.loads((folder / "quantized_params.json").read_text())
        weights, bias = found["dequantized"]["coef"], found["dequantized"]["intercept"]
        mean, std = found.get("feature_mean"), found.get("feature_std")
    else:
        found = json.loads((folder / "float_params.json").read_text())
        weights, bias, mean, std = found["coef"], found["intercept"], None, None
    total = pl.lit(bias)
    for index, (name, weight) in enumerate(zip(found["feature_names"], weights, strict=True)):
        value = pl.col(name) if mean is None else (pl.col(name) - mean[index]) / std[index]
        total = total + value * weight
    return total


def anchor(source: str, output: str, artifacts_dir: str, model: str) -> None:
    """polars alone: scan, the model's prediction, sink (its process imports nothing else)."""
    if source.endswith(".parquet"):
        frame = pl.scan_parquet(source)
    else:
        names = json.loads((Path(artifacts_dir) / "float_params.json").read_text())["feature_names"]
        frame = pl.scan_csv(source, schema_overrides=dict.fromkeys(names, pl.Float64))
    scored = frame.select("id", anchor_prediction(artifacts_dir, model).alias("MedHouseVal_pred"))
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


def peak_by_threads(
    cli: list[str], csv_path: Path, parquet_path: Path, work: Path, n_rows: int
) -> None:
    """Peak memory of the integer model (the most columns in flight) at each thread count."""
    for source in (csv_path, parquet_path):
        kind = source.suffix.lstrip(".")
        peaks = []
        for threads in THREAD_COUNTS:
            env = os.environ | {"POLARS_MAX_THREADS": str(threads)}
            out = str(work / f"threads.{kind}")
            command = [*cli, "--model", "integer", str(source), "-o", out]
            peaks.append(f"{threads}: {measure(command, env)[1]:.0f}")
        print(f"  peak MB by thread count, {n_rows:,} rows {kind}, integer: {', '.join(peaks)}")


def interleaved(
    commands: dict[str, list[str]], repeat: int, outputs: tuple[Path, ...] = ()
) -> dict[str, tuple[float, float]]:
    """Each command `repeat` times, round robin; the best time and the largest peak of each.

    `outputs` are deleted (untimed) before every run, so each one writes files that do
    not exist yet: replacing a file is a cost of the file system, not of the command.
    """
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            for path in outputs:
                path.unlink(missing_ok=True)
            runs[name].append(measure(command))
    return {
        name: (min(s for s, _ in found), max(p for _, p in found)) for name, found in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument("--artifacts-dir", help="default: the project's artifacts/")
    parser.add_argument("--anchor", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--skip-dask", action="store_true", help="leave out the Dask figures")
    args = parser.parse_args()
    if args.anchor:
        anchor(*args.anchor)
        return
    from calhousing.run import artifacts

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
        header_out = work / "h.csv"
        runs = interleaved({"s": [*cli, str(header), "-o", str(header_out)]}, 3, (header_out,))
        startup = runs["s"]
        print(f"{0:>10} {'csv':>8} {'start-up':>10} {startup[0]:>8.2f} {startup[1]:>8.0f}")
        for n_rows in args.rows:
            csv_path = work / f"rows-{n_rows}.csv"
            make_csv(csv_path, n_rows)
            parquet_path = csv_path.with_suffix(".parquet")
            pl.scan_csv(csv_path).sink_parquet(parquet_path)
            for kind, source in (("csv", csv_path), ("parquet", parquet_path)):
                out = work / f"out.{kind}"
                commands = {}
                for model in MODELS:
                    commands[f"polars {model}"] = [
                        sys.executable,
                        __file__,
                        "--anchor",
                        str(source),
                        str(out),
                        folder,
                        model,
                    ]
                    commands[model] = [*cli, "--model", model, str(source), "-o", str(out)]
                found = interleaved(commands, args.repeat, outputs=(out,))
                for model in MODELS:
                    base = found[f"polars {model}"]
                    seconds, peak = found[model]
                    print(
                        f"{n_rows:>10} {kind:>8} {model:>10} {seconds:>8.2f} {peak:>8.0f} "
                        f"{seconds / base[0]:>9.2f}   (polars: {base[0]:.2f} s, {base[1]:.0f} MB)"
                    )
            if n_rows == max(args.rows):
                peak_by_threads(cli, csv_path, parquet_path, work, n_rows)
            csv_path.unlink()
            parquet_path.unlink()
        clean = work / "clean.csv"
        make_csv(clean, 150_000)
        bad = work / "half-bad.csv"
        half_bad(clean, bad)
        skip_out = work / "skip.csv"
        skip = [*cli, "--skip-invalid", "-o", str(skip_out)]
        written = (skip_out, skip_out.with_name(skip_out.name + ".rejects.csv"))
        found = interleaved(
            {"clean": [*skip, str(clean)], "half bad": [*skip, str(bad)]}, 3, outputs=written
        )
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
