"""Where ``calhousing predict`` spends the time its anchor does not, on one CSV file.

Runs in one process, on one thread unless ``POLARS_MAX_THREADS`` says otherwise
(one thread lets the noise of a shared machine weigh least), interleaved, the best
of ``--repeat`` runs each, adding one piece of ``predict``'s work at a time to the
anchor's plan:

1. the anchor: ``scan_csv`` (polars infers ``id``'s type) → the float model → ``sink_csv``;
2. ``id`` read as text, as ``predict`` passes it through unchanged (and CSV morsels
   sized as ``predict`` sizes them), but written with quoting off: not something
   ``predict`` may do (a text value can need quotes), shown to separate reading text
   from the writer's per-value check for characters that need quoting;
3. ``id`` read as text and written as ``predict`` writes it, quoted where needed;
4. the verdicts and counts of the closing line (finite, out of range), in a second sink;
5. the check for line breaks in passed-through text (quoted values may not hold them).

Usage (after ``benchmarks/predict.py`` has shown a gap; FILE as it writes them)::

    .venv/bin/python benchmarks/predict_gap.py FILE.csv --artifacts-dir artifacts
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # polars reads it when it is imported

import polars as pl

from calhousing import config
from calhousing.predict import scoring

sys.path.insert(0, str(Path(__file__).parent))
from predict import anchor_prediction

STEPS = (
    "anchor",
    "id as text, unquoted",
    "id as text",
    "+ verdicts and counts",
    "+ line-break check",
)


def run(step: int, source: str, output: str, artifacts_dir: str) -> None:
    model = scoring.load_model(artifacts_dir, "float")
    features = dict.fromkeys(model.feature_names, pl.Float64)
    if step == 0:
        os.environ.pop("POLARS_CSV_CHUNK_SIZE", None)
        frame = pl.scan_csv(source, schema_overrides=features)
        prediction = anchor_prediction(artifacts_dir, "float").alias(scoring.PREDICTION_COLUMN)
        frame.select("id", prediction).sink_csv(output)
        return
    os.environ["POLARS_CSV_CHUNK_SIZE"] = str(config.csv_chunk_bytes(1))  # as predict sets it
    frame = pl.scan_csv(source, schema_overrides=features | {"id": pl.String})
    if step in (1, 2):
        quoting = "never" if step == 1 else "necessary"
        prediction = model.prediction.alias(scoring.PREDICTION_COLUMN)
        frame.select("id", prediction).sink_csv(output, quote_style=quoting)
        return
    scored = scoring.with_scores(frame, model)
    stats = scoring.counts(model)
    if step == 4:
        stats.append(pl.col("id").str.contains_any(["\n", "\r"]).sum().alias("breaks"))
    written = scored.select(scoring.output_columns(("id",), False))
    pl.collect_all([written.sink_csv(output, lazy=True), scored.select(stats)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="a CSV file with an id column and the eight features")
    parser.add_argument("--artifacts-dir", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    best = [float("inf")] * len(STEPS)
    with tempfile.TemporaryDirectory(prefix="calhousing-gap-") as scratch:
        output = str(Path(scratch) / "out.csv")
        for _ in range(args.repeat):
            for step in range(len(STEPS)):
                start = time.perf_counter()
                run(step, args.source, output, args.artifacts_dir)
                best[step] = min(best[step], time.perf_counter() - start)
    print(f"{pl.thread_pool_size()} thread(s), best of {args.repeat}, {args.source}")
    for step, name in enumerate(STEPS):
        added = "" if step == 0 else f"  {best[step] - best[step - 1]:+.2f} s"
        print(f"{name:>24} {best[step]:6.2f} s  x{best[step] / best[0]:.2f}{added}")


if __name__ == "__main__":
    main()
