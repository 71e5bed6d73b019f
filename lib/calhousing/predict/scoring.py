"""What a scored row is made of: its prediction, whether it can be scored, whether it is in range.

Pure polars expressions over Float64 feature columns, shared by the CSV and
Parquet readers and by each Dask partition, so every path scores a row the
same way, digit for digit; and :class:`Counts`, the tally of a pass that
:func:`counts` computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from calhousing.predict.model import Model

PREDICTION_COLUMN = "MedHouseVal_pred"
OUT_OF_RANGE_COLUMN = "out_of_range"
# Internal columns, dropped before writing.
OK = "__ok"
OUTSIDE = "__outside"
CLAMPED = "__clamped"
FINITE = "__finite"


def features_finite(feature_names: tuple[str, ...]) -> pl.Expr:
    """True where every feature is a finite number (false for null, NaN, inf)."""
    return pl.all_horizontal([pl.col(name).is_finite() for name in feature_names]).fill_null(False)


def outside_range(ranges: dict[str, tuple[float, float]], names: tuple[str, ...]) -> pl.Expr:
    """True where a feature lies outside the training data's ``[min, max]``."""
    return pl.any_horizontal(
        [(pl.col(name) < ranges[name][0]) | (pl.col(name) > ranges[name][1]) for name in names]
    ).fill_null(False)


def with_scores(frame: pl.LazyFrame | pl.DataFrame, model: Model) -> pl.LazyFrame | pl.DataFrame:
    """`frame` (Float64 features) with the prediction and the internal verdict columns.

    ``__ok``: the row can be scored (finite features, finite prediction);
    ``__outside``: a feature is outside the training range; ``__clamped`` (the
    integer model only): it saturated an input code.
    """
    prediction = model.prediction
    verdicts = [outside_range(model.ranges, model.feature_names).alias(OUTSIDE)]
    if model.clamped is not None:
        # clipping turns inf into a finite code, so the integer model checks its inputs;
        # for the others a NaN or inf feature already makes the prediction NaN or inf
        finite = pl.col(FINITE)
        prediction = pl.when(finite).then(prediction)
        verdicts.append((finite & model.clamped.fill_null(False)).alias(CLAMPED))
        frame = frame.with_columns(features_finite(model.feature_names).alias(FINITE))
    scorable = pl.col(PREDICTION_COLUMN).is_finite().fill_null(False)
    return frame.with_columns(prediction.alias(PREDICTION_COLUMN), *verdicts).with_columns(
        scorable.alias(OK)
    )


def output_columns(passthrough: tuple[str, ...], flag: bool) -> list[pl.Expr]:
    """The written columns: the passed-through ones, the prediction, and the flag if asked."""
    columns = [pl.col(name) for name in passthrough]
    columns.append(pl.col(PREDICTION_COLUMN))
    if flag:
        columns.append(pl.col(OUTSIDE).alias(OUT_OF_RANGE_COLUMN))
    return columns


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
        return Counts(
            self.scored + other.scored,
            self.rejected + other.rejected,
            self.outside + other.outside,
            self.clamped + other.clamped,
        )
