"""The three models as polars expressions: one scoring function for every reader and worker.

Each prediction is an explicit sum over the features in the model's order,
``((w_0 x_0 + w_1 x_1) + ...) + b``, evaluated row by row. Unlike a BLAS dot
product over a block, its digits cannot depend on the rows around it, the
block size, the thread count or how a dataset is partitioned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from calhousing.params import MODELS, check_choice
from calhousing.run import artifacts


@dataclass(frozen=True)
class Model:
    """A model ready to score.

    Attributes
    ----------
    name : str
        ``"float"``, ``"quantized"`` or ``"integer"``.
    feature_names : tuple of str
        The columns it reads, in order.
    prediction : polars.Expr
        The prediction of a row from its Float64 feature columns.
    ranges : dict of str to (float, float)
        The training data's min and max of each feature.
    clamped : polars.Expr or None
        For the integer model: true where an input code saturates (a feature
        outside the range its codes cover).
    """

    name: str
    feature_names: tuple[str, ...]
    prediction: pl.Expr
    ranges: dict[str, tuple[float, float]]
    clamped: pl.Expr | None = None


def load_model(run: artifacts.Run | artifacts.PathLike | None, model: str = "float") -> Model:
    """Load a model from the JSON parameters in `artifacts_dir`; nothing is unpickled.

    Parameters
    ----------
    run : Run, path-like or None
        The run, or the folder where ``calhousing run`` wrote its artifacts;
        ``None`` for the project's.
    model : {"float", "quantized", "integer"}, default="float"
        The float parameters, the dequantized 8-bit parameters, or the
        integer-only model.

    Returns
    -------
    Model

    Raises
    ------
    ValueError
        If `model` is not one of the names above.
    calhousing.errors.ArtifactError
        If the artifacts it needs are missing.
    """
    check_choice("model", model, MODELS)
    run = artifacts.Run.of(run)
    ranges = run.feature_ranges()
    if model == "float":
        found = run.record(artifacts.FLOAT_PARAMS_FILE)
        names = tuple(found["feature_names"])
        prediction = affine_sum(names, _floats(found["coef"]), float(found["intercept"]))
        return Model(model, names, prediction, ranges)
    if model == "quantized":
        found = run.record(artifacts.QUANTIZED_PARAMS_FILE)
        names = tuple(found["feature_names"])
        weights, bias = dequantize(found["coef"]), dequantize(found["intercept"])[0]
        if found.get("space", "raw") == "standardized":
            mean, std = _floats(found["feature_mean"]), _floats(found["feature_std"])
            prediction = affine_sum(names, weights, bias, mean=mean, std=std)
        else:
            prediction = affine_sum(names, weights, bias)
        return Model(model, names, prediction, ranges)
    found = run.record(artifacts.INTEGER_MODEL_FILE)
    names = tuple(found["feature_names"])
    qmax = 2 ** int(found["input_bits"]) - 1  # an unsigned input code's largest value
    codes = [
        _input_code(name, float(offset), float(scale))
        for name, offset, scale in zip(
            names, found["input_offset"], found["input_scale"], strict=True
        )
    ]
    accumulator = _integer_accumulator(
        codes,
        [int(code) for code in found["weight_codes"]],
        int(found["bias_code"]),
        qmax,
        # an int32 accumulator's sums are below 2^31: float64 adds them exactly
        exact_in_float=found["accumulator_dtype"] == "int32",
    )
    prediction = accumulator * float(found["accumulator_scale"])
    clamped = (pl.min_horizontal(codes) < 0) | (pl.max_horizontal(codes) > qmax)
    return Model(model, names, prediction, ranges, clamped)


def load_models(run: artifacts.Run | artifacts.PathLike | None) -> tuple[Model, ...]:
    """The three models of :data:`MODELS`, in that order (see :func:`load_model`)."""
    run = artifacts.Run.of(run)
    return tuple(load_model(run, name) for name in MODELS)


def affine_sum(
    names: tuple[str, ...],
    weights: list[float],
    bias: float,
    *,
    mean: list[float] | None = None,
    std: list[float] | None = None,
) -> pl.Expr:
    """``Σ_j w_j x_j + b`` (or with ``x_j`` standardized), summed in feature order.

    Parameters
    ----------
    names : tuple of str
        The feature columns, in the order of `weights`.
    weights : list of float
    bias : float
    mean, std : list of float, optional
        Standardize each feature first: ``(x_j - mean_j) / std_j``.

    Returns
    -------
    polars.Expr
        A Float64 expression; each row's value depends on that row alone.
    """
    total: pl.Expr | None = None
    for index, (name, weight) in enumerate(zip(names, weights, strict=True)):
        value = pl.col(name)
        if mean is not None and std is not None:
            value = (value - mean[index]) / std[index]
        term = value * weight
        total = term if total is None else total + term
    return pl.lit(bias, pl.Float64) if total is None else total + bias


def dequantize(tensor: dict[str, Any]) -> list[float]:
    """``(codes - zero_point) * scale`` of a tensor as ``quantized_params.json`` stores it.

    :meth:`calhousing.core.quantization.QuantizedTensor.dequantize` in Python floats,
    digit for digit (tested), so scoring needs no numpy. The scale and zero point
    are one number per tensor, or one per code.
    """
    codes = [int(code) for code in tensor["codes"]]
    scales = _per_code(tensor["scale"], len(codes))
    zero_points = _per_code(tensor["zero_point"], len(codes))
    return [
        (code - int(zero)) * float(scale)
        for code, zero, scale in zip(codes, zero_points, scales, strict=True)
    ]


def _per_code(value: Any, count: int) -> list[Any]:
    return list(value) if isinstance(value, list) else [value] * count


def _floats(values: list[Any]) -> list[float]:
    return [float(value) for value in values]


def _integer_accumulator(
    codes: list[pl.Expr], weights: list[int], bias: int, qmax: int, *, exact_in_float: bool
) -> pl.Expr:
    """``Σ_j q_j clip(a_j, 0, qmax) + B`` as Float64, from the unclipped input `codes`.

    Every partial sum is an integer below 2^53 when `exact_in_float`, so float64
    adds it exactly, as the integer accumulator would, and with fewer casts.
    """
    dtype = pl.Float64 if exact_in_float else pl.Int64
    total = pl.lit(bias, dtype)
    for unclipped, weight in zip(codes, weights, strict=True):
        code = unclipped.clip(0, qmax)
        total = total + (code if exact_in_float else code.cast(pl.Int64, strict=False)) * weight
    return total.cast(pl.Float64)


def _input_code(name: str, offset: float, scale: float) -> pl.Expr:
    """The integer model's unclipped input code: ``rint((x - offset) / scale)``, ties to even."""
    return ((pl.col(name) - offset) / scale).round(0, mode="half_to_even")
