"""The three models as polars expressions, read from the run's JSON artifacts (no pickle).

Each prediction is an explicit sum over the features in the model's order,
``((w_0 x_0 + w_1 x_1) + ...) + b``, evaluated row by row: unlike a BLAS dot product over a
block, its digits cannot depend on the rows around it, the block size, the thread count or
how a dataset is partitioned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from calhousing.params import MODELS, check_choice
from calhousing.run import artifacts


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
    ranges = run.feature_ranges()
    files = {
        "float": artifacts.FLOAT_PARAMS_FILE,
        "quantized": artifacts.QUANTIZED_PARAMS_FILE,
        "integer": artifacts.INTEGER_MODEL_FILE,
    }
    found = run.record(files[model])
    names = tuple(found["feature_names"])
    if model == "float":
        return Model(model, names, affine_sum(names, found["coef"], found["intercept"]), ranges)
    if model == "quantized":
        weights, bias = dequantize(found["coef"]), dequantize(found["intercept"])[0]
        standardized = found.get("space", "raw") == "standardized"
        mean, std = (found["feature_mean"], found["feature_std"]) if standardized else (None, None)
        return Model(model, names, affine_sum(names, weights, bias, mean=mean, std=std), ranges)
    qmax = 2 ** int(found["input_bits"]) - 1  # an unsigned input code's largest value
    # the unclipped input codes, rint((x - offset) / scale) with ties to even
    codes = [
        ((pl.col(name) - float(offset)) / float(scale)).round(0, mode="half_to_even")
        for name, offset, scale in zip(
            names, found["input_offset"], found["input_scale"], strict=True
        )
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


def affine_sum(
    names: tuple[str, ...],
    weights: list[Any],
    bias: Any,
    *,
    mean: list[Any] | None = None,
    std: list[Any] | None = None,
) -> pl.Expr:
    """``Σ_j w_j x_j + b`` summed in feature order, each ``x_j`` first standardized,
    ``(x_j - mean_j) / std_j``, when `mean` and `std` are given."""
    terms = []
    for index, (name, weight) in enumerate(zip(names, weights, strict=True)):
        value = pl.col(name)
        if mean is not None and std is not None:
            value = (value - float(mean[index])) / float(std[index])
        terms.append(value * float(weight))
    return sum(terms[1:], start=terms[0]) + float(bias)


def dequantize(tensor: dict[str, Any]) -> list[float]:
    """``(codes - zero_point) * scale`` of a stored tensor (one scale and zero point, or one per
    code): ``QuantizedTensor.dequantize`` digit for digit (tested), without numpy."""
    codes = [int(code) for code in tensor["codes"]]
    scales, zero_points = (
        value if isinstance(value, list) else [value] * len(codes)
        for value in (tensor["scale"], tensor["zero_point"])
    )
    return [
        (code - int(zero)) * float(scale)
        for code, zero, scale in zip(codes, zero_points, scales, strict=True)
    ]
