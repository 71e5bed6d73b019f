"""A scored row's columns: its prediction, and whether it can be scored, is in range, was clamped.

Every reader and each Dask partition adds them with :func:`with_scores`, so every path scores
a row the same way, digit for digit; so does the report's out-of-range table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import TYPE_CHECKING

import polars as pl

from calhousing.predict.model import Model

if TYPE_CHECKING:
    import pandas as pd

PREDICTION_COLUMN = "MedHouseVal_pred"
OUT_OF_RANGE_COLUMN = "out_of_range"
# Internal columns, dropped before writing.
OK = "__ok"
OUTSIDE = "__outside"
CLAMPED = "__clamped"
FINITE = "__finite"
# Why a row cannot be scored, as the rejects say it.
OVERFLOW = "the prediction overflows float64: the feature values are too large"
NOT_A_NUMBER = "; a feature must be a number"
NOT_FINITE = "is not a finite number; NaN and inf cannot be scored"


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


def out_of_range_outcomes(models: Sequence[Model], X: pd.DataFrame, y: pd.Series) -> pd.DataFrame:
    """Each model's absolute error on the rows outside the training range, and on the others.

    A row is outside when a feature lies outside the models' ``ranges``; each model scores it
    exactly as ``calhousing predict`` does.

    Returns
    -------
    pandas.DataFrame
        One row per model: rows outside, their mean and largest absolute error, and the mean
        absolute error of the rows inside, for comparison.
    """
    import numpy as np
    import pandas as pd

    truth = np.asarray(y, dtype=np.float64)
    rows = []
    for model in models:
        frame = pl.from_pandas(X[list(model.feature_names)].astype("float64"))
        scored = with_scores(frame, model)
        errors = np.abs(scored[PREDICTION_COLUMN].to_numpy() - truth)
        outside = scored[OUTSIDE].to_numpy()
        rows.append(
            {
                "model": model.name,
                "rows outside": int(outside.sum()),
                "MAE outside": float(errors[outside].mean()) if outside.any() else np.nan,
                "max |error| outside": float(errors[outside].max()) if outside.any() else np.nan,
                "MAE inside": float(errors[~outside].mean()),
            }
        )
    return pd.DataFrame(rows).set_index("model")
