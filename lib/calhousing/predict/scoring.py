"""The models as polars expressions, read from the run's JSON artifacts (no pickle), and the
columns a scored row gets: its prediction, and whether it can be scored, is in range, was clamped.

A prediction is an explicit sum in feature order, ``((w_0 x_0 + w_1 x_1) + ...) + b``, row by
row: unlike a BLAS dot product over a block, its digits cannot depend on the rows around it, the
block size, the thread count or the partitioning. Every path scores with :func:`with_scores`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from calhousing.params import MODELS, check_choice
from calhousing.run import artifacts

if TYPE_CHECKING:
    import pandas as pd

PREDICTION_COLUMN = "MedHouseVal_pred"
OUT_OF_RANGE_COLUMN = "out_of_range"
# Internal columns, dropped before writing.
OK = "__ok"
OUTSIDE = "__outside"
CLAMPED = "__clamped"
RAW = "__raw_"  # prefixes a feature as the input holds it, kept for the rejects
# Why a row cannot be scored, as the rejects say it.
OVERFLOW = "the prediction overflows float64: the feature values are too large"
NOT_A_NUMBER = "; a feature must be a number"
NOT_FINITE = "is not a finite number; NaN and inf cannot be scored"
# predictions are float64 that no level compresses: level 1 wrote polars' default's bytes, sooner
PARQUET_COMPRESSION: dict[str, str | int] = {"compression": "zstd", "compression_level": 1}


@dataclass(frozen=True)
class Model:
    """`prediction` of a row from its Float64 `feature_names` columns; `ranges`: the training
    data's min and max of each; `clamped` (integer model only): an input code saturates."""

    name: str
    feature_names: tuple[str, ...]
    prediction: pl.Expr
    ranges: dict[str, tuple[float, float]]
    clamped: pl.Expr | None = None


def load_model(run: artifacts.Run | artifacts.PathLike | None, model: str = "float") -> Model:
    """The float parameters, the dequantized ones, or the integer-only model of `run` (a Run,
    its artifacts folder, or ``None`` for the project's); ArtifactError if they are missing."""
    check_choice("model", model, MODELS)
    run = artifacts.Run.of(run)
    found = run.record(artifacts.MODEL_FILES[model])
    names, ranges = tuple(found["feature_names"]), run.feature_ranges()
    columns = [pl.col(name) for name in names]
    if model != "integer":
        weights, bias = found["coef"], found["intercept"]
        if model == "quantized":
            weights, bias = dequantize(weights), dequantize(bias)[0]
        if found.get("space", "raw") == "standardized":
            stats = zip(columns, found["feature_mean"], found["feature_std"], strict=True)
            columns = [(x - float(mean)) / float(std) for x, mean, std in stats]
        terms = [x * float(weight) for x, weight in zip(columns, weights, strict=True)]
        return Model(model, names, sum(terms[1:], start=terms[0]) + float(bias), ranges)
    qmax = 2 ** int(found["input_bits"]) - 1  # an unsigned input code's largest value
    # the unclipped input codes, rint((x - offset) / scale) with ties to even
    grids = zip(found["input_offset"], found["input_scale"], strict=True)
    codes = [
        ((x - float(offset)) / float(scale)).round(0, mode="half_to_even")
        for x, (offset, scale) in zip(columns, grids, strict=True)
    ]
    # an int32 accumulator's partial sums are integers below 2^31: float64 adds them exactly,
    # as the integer accumulator would, and with fewer casts
    exact = found["accumulator_dtype"] == "int32"
    total = pl.lit(int(found["bias_code"]), pl.Float64 if exact else pl.Int64)
    for unclipped, weight in zip(codes, found["weight_codes"], strict=True):
        code = unclipped.clip(0, qmax)
        total = total + (code if exact else code.cast(pl.Int64, strict=False)) * int(weight)
    prediction = total.cast(pl.Float64) * float(found["accumulator_scale"])
    clamped = (pl.min_horizontal(codes) < 0) | (pl.max_horizontal(codes) > qmax)
    return Model(model, names, prediction, ranges, clamped)


def load_models(run: artifacts.Run | artifacts.PathLike | None) -> tuple[Model, ...]:
    """The three models of :data:`MODELS`, in that order (see :func:`load_model`)."""
    run = artifacts.Run.of(run)
    return tuple(load_model(run, name) for name in MODELS)


def dequantize(tensor: dict[str, Any]) -> list[float]:
    """``(codes - zero_point) * scale`` of a stored tensor (one scale and zero point, or one per
    code): ``QuantizedTensor.dequantize`` digit for digit (tested), without numpy."""
    codes = tensor["codes"]
    scales, zero_points = (
        value if isinstance(value, list) else [value] * len(codes)
        for value in (tensor["scale"], tensor["zero_point"])
    )
    return [
        (int(code) - int(zero)) * float(scale)
        for code, zero, scale in zip(codes, zero_points, scales, strict=True)
    ]


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

    rows = {}
    for model in models:
        scored = with_scores(pl.from_pandas(X[list(model.feature_names)].astype("float64")), model)
        errors = np.abs(scored[PREDICTION_COLUMN].to_numpy() - np.asarray(y, dtype=np.float64))
        outside = scored[OUTSIDE].to_numpy()
        rows[model.name] = {
            "rows outside": int(outside.sum()),
            "MAE outside": errors[outside].mean() if outside.any() else np.nan,
            "max |error| outside": errors[outside].max() if outside.any() else np.nan,
            "MAE inside": errors[~outside].mean(),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
