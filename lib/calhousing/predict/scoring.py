"""A scored row's columns: its prediction, and whether it can be scored, is in range, was clamped.

Every reader, each Dask partition and the report's out-of-range table add them with
:func:`with_scores`, so all of them score a row the same way, digit for digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
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
# Why a row cannot be scored, as the rejects say it.
OVERFLOW = "the prediction overflows float64: the feature values are too large"
NOT_A_NUMBER = "; a feature must be a number"
NOT_FINITE = "is not a finite number; NaN and inf cannot be scored"
# zstd at its fastest level: the predictions are float64 that no level compresses, and
# on 10M rows level 1 wrote the same 85 MB as polars' default level, 4% sooner
PARQUET_COMPRESSION: dict[str, str | int] = {"compression": "zstd", "compression_level": 1}


def with_scores(frame: pl.LazyFrame | pl.DataFrame, model: Model) -> pl.LazyFrame | pl.DataFrame:
    """`frame` (Float64 features) with the prediction and the verdicts: ``__ok`` (finite
    features and prediction), ``__outside`` (the training range), ``__clamped`` (integer model)."""
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
        frame = frame.with_columns(finite.alias("__finite"))
        prediction = pl.when(pl.col("__finite")).then(prediction)
        verdicts.append((pl.col("__finite") & model.clamped.fill_null(False)).alias(CLAMPED))
    scorable = pl.col(PREDICTION_COLUMN).is_finite().fill_null(False)
    return frame.with_columns(prediction.alias(PREDICTION_COLUMN), *verdicts).with_columns(
        scorable.alias(OK)
    )


def output_columns(passthrough: tuple[str, ...], flag: bool) -> list[pl.Expr]:
    flagged = [pl.col(OUTSIDE).alias(OUT_OF_RANGE_COLUMN)] if flag else []
    return [*map(pl.col, passthrough), pl.col(PREDICTION_COLUMN), *flagged]


def sink(frame: pl.LazyFrame, path: Path, *, parquet: bool) -> pl.LazyFrame:
    """The lazy sink of `frame` to `path`, as Parquet or CSV, for :func:`polars.collect_all`."""
    if parquet:
        return frame.sink_parquet(path, lazy=True, **PARQUET_COMPRESSION)
    return frame.sink_csv(path, lazy=True, check_extension=False)


def reject_schema(unit: str) -> dict[str, type[pl.DataType]]:
    """The columns of ``OUTPUT.rejects.csv``: ``line`` (or ``row``), column, reason, text."""
    return {unit: pl.Int64, "column": pl.String, "reason": pl.String, "text": pl.String}


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


def out_of_range_outcomes(models: Sequence[Model], X: pd.DataFrame, y: pd.Series) -> pd.DataFrame:
    """Per model, scoring as ``calhousing predict`` does: the rows with a feature outside the
    training range, their mean and largest absolute error, and the mean absolute error inside."""
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
