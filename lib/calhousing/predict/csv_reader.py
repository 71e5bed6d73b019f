"""The fast path every clean CSV file takes: polars reads, scores and writes the whole file.

It counts the rows it could not score; if there is one (or a quoted line break, a blank
line, bytes that are not UTF-8), :mod:`calhousing.predict.careful` reads the file again.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from calhousing import config
from calhousing.predict import writers
from calhousing.predict.header import Layout
from calhousing.predict.model import Model
from calhousing.predict.scoring import Counts, counts, output_columns, with_scores


def score_fast(
    path: Path, layout: Layout, model: Model, output: Path, *, parquet: bool, flag: bool
) -> Counts | None:
    """Score the whole file with polars' streaming engine into `output` (CSV or Parquet).

    Returns
    -------
    Counts or None
        ``None`` if any row could not be read or scored, or holds a line break:
        `output` is then incomplete and the careful path must run.
    """
    os.environ.setdefault(
        "POLARS_CSV_CHUNK_SIZE", str(config.csv_chunk_bytes(pl.thread_pool_size()))
    )
    schema = {name: pl.Float64 if name in layout.features else pl.String for name in layout.names}
    frame = pl.scan_csv(
        path,
        has_header=False,
        skip_lines=layout.header_line,
        schema=schema,
        empty_string_is_null=False,
        raise_if_empty=False,
    )
    scored = with_scores(frame, model)
    breaks = [pl.col(name).str.contains_any(["\n", "\r"]) for name in layout.passthrough]
    stats = scored.select(
        *counts(model), pl.any_horizontal(breaks).sum().alias("breaks") if breaks else pl.lit(0)
    )
    sink = writers.sink(
        scored.select(output_columns(layout.passthrough, flag)), output, parquet=parquet
    )
    try:
        _, found = pl.collect_all([sink, stats], engine="streaming")
    except (pl.exceptions.PolarsError, OSError):
        return None
    row = found.row(0, named=True)
    if row["bad"] or row.get("breaks"):
        return None
    return Counts(scored=row["rows"], outside=row["outside"], clamped=row["clamped"])
