"""Scoring a Parquet file with polars' streaming engine: typed columns, bad rows named by row.

Feature columns are cast to Float64 after checking what the cast would lose: a
null, NaN or inf cannot be scored, and neither can an integer beyond 2^53,
which float64 would round. Rows are numbered from 1.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from calhousing.errors import InputError
from calhousing.predict import writers
from calhousing.predict.header import Layout, parquet_layout
from calhousing.predict.model import Model
from calhousing.predict.scoring import (
    NOT_A_NUMBER,
    NOT_FINITE,
    OK,
    OVERFLOW,
    Counts,
    counts,
    output_columns,
    with_scores,
)

_ROW = "__row"
_RAW = "__raw_"  # the features as stored, for the rejects file
MAX_EXACT_INTEGER = 2**53  # float64 holds every integer up to here, and not all beyond
_MISSING = "missing value (null)" + NOT_A_NUMBER


def score_parquet(
    path: Path,
    source: str,
    model: Model,
    output: Path,
    rejects: Path | None,
    parquet_output: bool,
    flag: bool,
) -> Counts:
    """Score every row into `output` (Parquet or CSV); bad rows stop it, or go to `rejects`.

    Raises
    ------
    InputError
        If it is not a Parquet file, its columns do not fit (see
        :func:`~calhousing.predict.header.parquet_layout`), or for the first bad row when
        `rejects` is None.
    """
    try:
        frame = pl.scan_parquet(path)
        schema = frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{source} is not a readable Parquet file: {first}") from None
    layout = parquet_layout(
        schema, source, model.feature_names, csv_output=not parquet_output, flag=flag
    )
    scored = _scored(frame, schema, layout, model, for_rejects=rejects is not None)
    good = scored.filter(pl.col(OK)) if rejects is not None else scored
    sinks = [
        writers.sink(
            good.select(output_columns(layout.passthrough, flag)), output, parquet=parquet_output
        ),
        scored.select(counts(model)),
    ]
    if rejects is not None:
        sinks.append(writers.sink(_rejected(scored, layout), rejects, parquet=False))
    try:
        found = pl.collect_all(sinks, engine="streaming")[1].row(0, named=True)
    except (pl.exceptions.PolarsError, OSError) as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"{layout.source}: cannot read its Parquet data: {first}") from None
    if found["bad"] and rejects is None:
        # only now: number the rows and work out why, to name the first bad one
        named = _scored(frame, schema, layout, model, for_rejects=True)
        raise layout.rejected(_rejected(named, layout).head(1).collect().row(0, named=True))
    return Counts(found["rows"] - found["bad"], found["bad"], found["outside"], found["clamped"])


def _scored(
    frame: pl.LazyFrame, schema: pl.Schema, layout: Layout, model: Model, *, for_rejects: bool
) -> pl.LazyFrame:
    """`frame` with Float64 features and the verdicts; for rejects (they cost time), each row's
    number, why it is bad and its stored features too."""
    features = list(layout.features)
    integers = [name for name in features if schema[name].is_integer()]
    exact = [pl.col(name).is_between(-MAX_EXACT_INTEGER, MAX_EXACT_INTEGER) for name in integers]
    extra = [
        (pl.all_horizontal(exact).fill_null(False) if exact else pl.lit(True)).alias("__exact")
    ]
    if for_rejects:
        file_order = [name for name in layout.names if name in layout.features]
        column, reason = _verdicts(schema, file_order)
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
        pl.col("__reason").fill_null(OVERFLOW).alias("reason"),
        pl.struct(original).struct.json_encode().alias("text"),
    )


def _verdicts(schema: pl.Schema, features: list[str]) -> tuple[pl.Expr, pl.Expr]:
    """The first bad feature column of a typed (Parquet) row, and why; null for a good row.

    A value is bad if it is null, NaN or inf, or an integer beyond ``2**53`` in magnitude,
    which float64 cannot hold exactly.
    """
    columns, reasons = [], []
    for name in features:
        raw = pl.col(name)
        if schema[name].is_integer():
            bad = raw.is_null() | (raw > MAX_EXACT_INTEGER) | (raw < -MAX_EXACT_INTEGER)
            why = pl.format(
                "integer {} is beyond 2^53, which float64 cannot hold exactly; store it as a float",
                raw,
            )
        else:
            bad = raw.is_null() | ~raw.cast(pl.Float64).is_finite()
            why = pl.format("value {} " + NOT_FINITE, raw.cast(pl.Float64))
        columns.append(pl.when(bad).then(pl.lit(name)))
        reasons.append(pl.when(raw.is_null()).then(pl.lit(_MISSING)).when(bad).then(why))
    return pl.coalesce(columns), pl.coalesce(reasons)
