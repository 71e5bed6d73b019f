"""Scoring a Parquet file with polars' streaming engine: typed columns, bad rows named by row.

Feature columns are cast to Float64 after checking what the cast would lose: a
null, NaN or inf cannot be scored, and neither can an integer beyond 2^53,
which float64 would round. Rows are numbered from 1.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from calhousing.errors import InputError
from calhousing.predict import rejects as _rejects
from calhousing.predict import writers
from calhousing.predict.header import Layout, parquet_layout
from calhousing.predict.model import Model
from calhousing.predict.scoring import OK, Counts, counts, output_columns, with_scores

_ROW = "__row"
_RAW = "__raw_"  # the features as stored, for the rejects file


def open_parquet(
    path: Path, source: str, model: Model, *, csv_output: bool, flag: bool
) -> tuple[Layout, pl.LazyFrame]:
    """Check a Parquet file's columns and return them, lazily.

    Raises
    ------
    InputError
        If it is not a Parquet file, or its columns do not fit (see
        :func:`calhousing.predict.header.parquet_layout`).
    """
    try:
        frame = pl.scan_parquet(path)
        schema = frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{source} is not a readable Parquet file: {first}") from None
    layout = parquet_layout(schema, source, model.feature_names, csv_output=csv_output, flag=flag)
    return layout, frame


def score_parquet(
    frame: pl.LazyFrame,
    layout: Layout,
    model: Model,
    output: Path,
    rejects: Path | None,
    *,
    parquet_output: bool,
    flag: bool,
) -> Counts:
    """Score every row into `output` (Parquet or CSV); bad rows stop it, or go to `rejects`.

    Raises
    ------
    InputError
        For the first bad row when `rejects` is None, or an unreadable file.
    """
    schema = frame.collect_schema()
    scored = _scored(frame, schema, layout, model, for_rejects=rejects is not None)
    good = scored.filter(pl.col(OK)) if rejects is not None else scored
    written = good.select(output_columns(layout.passthrough, flag))
    sinks = [
        written.sink_parquet(output, lazy=True, **writers.PARQUET_COMPRESSION)
        if parquet_output
        else written.sink_csv(output, lazy=True),
        scored.select(counts(model)),
    ]
    if rejects is not None:
        sinks.append(_rejected(scored, layout).sink_csv(rejects, lazy=True))
    try:
        found = pl.collect_all(sinks, engine="streaming")[1].row(0, named=True)
    except (pl.exceptions.PolarsError, OSError) as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"{layout.source}: cannot read its Parquet data: {first}") from None
    if found["bad"] and rejects is None:
        # only now: number the rows and work out why, to name the first bad one
        named = _scored(frame, schema, layout, model, for_rejects=True)
        first = _rejected(named, layout).head(1).collect().row(0, named=True)
        raise InputError(
            f"{layout.where(first['row'], first['column'])}: {first['reason']}",
            first["row"],
            first["column"],
            skippable=True,
        )
    return Counts(found["rows"] - found["bad"], found["bad"], found["outside"], found["clamped"])


def _scored(
    frame: pl.LazyFrame, schema: pl.Schema, layout: Layout, model: Model, *, for_rejects: bool
) -> pl.LazyFrame:
    """`frame` with Float64 features and the verdicts; with each row's number, the reason
    it is bad and its stored features too when rejects are wanted (they cost time)."""
    features = list(layout.features)
    extra = [_rejects.exact_features(schema, features).alias("__exact")]
    if for_rejects:
        file_order = [name for name in layout.names if name in layout.features]
        column, reason = _rejects.typed_feature_verdicts(schema, file_order)
        frame = frame.with_row_index(_ROW, offset=1)
        extra += [column.alias("__column"), reason.alias("__reason")]
        extra += [pl.col(name).alias(_RAW + name) for name in features]
    typed = frame.with_columns(extra)
    typed = typed.with_columns(pl.col(name).cast(pl.Float64) for name in features)
    return with_scores(typed, model).with_columns((pl.col(OK) & pl.col("__exact")).alias(OK))


def _rejected(scored: pl.LazyFrame, layout: Layout) -> pl.LazyFrame:
    """The rows that cannot be scored, as rejects: row, column, reason, the row as JSON."""
    original = [
        pl.col(_RAW + name).alias(name) if name in layout.features else pl.col(name)
        for name in layout.names
    ]
    return scored.filter(~pl.col(OK)).select(
        pl.col(_ROW).cast(pl.Int64).alias("row"),
        pl.col("__column").fill_null("").alias("column"),
        pl.col("__reason").fill_null(_rejects.OVERFLOW).alias("reason"),
        pl.struct(original).struct.json_encode().alias("text"),
    )
