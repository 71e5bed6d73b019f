"""A scored row's columns: its prediction, and whether it can be scored, is in range, was clamped.

Every reader and each Dask partition adds them with :func:`with_scores`, so every path scores
a row the same way, digit for digit.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

import polars as pl

from calhousing.predict.model import Model

PREDICTION_COLUMN = "MedHouseVal_pred"
OUT_OF_RANGE_COLUMN = "out_of_range"
# Internal columns, dropped before writing.
OK = "__ok"
OUTSIDE = "__outside"
CLAMPED = "__clamped"
FINITE = "__finite"


def with_scores(frame: pl.LazyFrame | pl.DataFrame, model: Model) -> pl.LazyFrame | pl.DataFrame:
    """`frame` (Float64 features) with the prediction and the internal verdict columns.

    ``__ok``: the row can be scored (finite features, finite prediction); ``__outside``: a
    feature is outside the training range; ``__clamped`` (integer model): it saturated a code.
    """
    names, ranges = model.feature_names, model.ranges
    outside = [
        (pl.col(name) < ranges[name][0]) | (pl.col(name) > ranges[name][1]) for name in names
    ]
    verdicts = [pl.any_horizontal(outside).fill_null(False).alias(OUTSIDE)]
    prediction = model.prediction
    if model.clamped is not None:
        # clipping turns inf into a finite code, so the integer model checks its inputs;
        # for the others a NaN or inf feature already makes the prediction NaN or inf
        finite = pl.all_horizontal([pl.col(name).is_finite() for name in names]).fill_null(False)
        frame = frame.with_columns(finite.alias(FINITE))
        prediction = pl.when(pl.col(FINITE)).then(prediction)
        verdicts.append((pl.col(FINITE) & model.clamped.fill_null(False)).alias(CLAMPED))
    scorable = pl.col(PREDICTION_COLUMN).is_finite().fill_null(False)
    return frame.with_columns(prediction.alias(PREDICTION_COLUMN), *verdicts).with_columns(
        scorable.alias(OK)
    )


def output_columns(passthrough: tuple[str, ...], flag: bool) -> list[pl.Expr]:
    """The written columns: the passed-through ones, the prediction, and the flag if asked."""
    flagged = [pl.col(OUTSIDE).alias(OUT_OF_RANGE_COLUMN)] if flag else []
    return [*map(pl.col, passthrough), pl.col(PREDICTION_COLUMN), *flagged]


def counts(model: Model) -> list[pl.Expr]:
    """Rows, rows that cannot be scored, and scorable rows outside the range or clamped."""
    ok = pl.col(OK)
    clamped = (ok & pl.col(CLAMPED)).sum() if model.clamped is not None else pl.lit(0)
    return [
        pl.len().alias("rows"),
        (~ok).sum().alias("bad"),
        (ok & pl.col(OUTSIDE)).sum().alias("outside"),
        clamped.alias("clamped"),
    ]


@dataclass(frozen=True)
class Counts:
    """Rows scored and rejected, and scored rows outside the training range or clamped."""

    scored: int = 0
    rejected: int = 0
    outside: int = 0
    clamped: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))
