"""Integer-only inference of the linear model, in the style of TFLite (Jacob et al., 2018).

Each feature is quantized to an unsigned ``input_bits``-bit code ``a_j`` on its training
``[min, max]`` (values outside saturate); ``acc = Σ_j q_j a_j + B`` in an integer accumulator;
then one float rescale, ``y = S × acc``. The input scales are folded into the weights
(``w_j × input_scale_j``, quantized symmetric per tensor), so every product shares the one
scale ``S``; the bias is re-fitted to the rounded weights and stored as ``B = round(c / S)``.
Unlike TFLite's, the input range is not widened to include 0: Longitude's -124..-114 widened
to -124..0 would make its step twelve times coarser, and the offset folds into the bias.

The accumulator is int32 when :attr:`IntegerModel.accumulator_bound`, the largest partial
sum, fits, else int64 (beyond int64 is refused).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from calhousing.core.linear import LinearParams
from calhousing.core.quantization import (
    chosen_codes,
    code_dtype,
    feature_matrix,
    quantize,
    standardize,
)
from calhousing.params import MAX_BITS, MIN_BITS, ROUNDINGS, check_bits, check_choice, integers

if TYPE_CHECKING:  # pandas is imported where it is used: `calhousing predict` never needs it
    import pandas as pd

INT32_MAX = np.iinfo(np.int32).max
INT64_MAX = np.iinfo(np.int64).max
WEIGHT_SCHEME = "symmetric"


@dataclass(frozen=True)
class IntegerModel:
    """Everything integer-only inference needs, and nothing else.

    Feature ``j``'s code ``a`` stands for ``input_offset[j] + input_scale[j] * a``; a
    prediction is ``accumulator_scale × (Σ_j weight_codes[j] a_j + bias_code)``, summed in
    `accumulator_dtype`. `bits` is the width of the signed weight codes.
    """

    feature_names: tuple[str, ...]
    input_offset: np.ndarray
    input_scale: np.ndarray
    input_bits: int
    weight_codes: np.ndarray
    bias_code: int
    accumulator_scale: float
    bits: int
    accumulator_dtype: str

    @property
    def input_qmax(self) -> int:
        return 2**self.input_bits - 1

    @property
    def accumulator_bound(self) -> int:
        """``Σ_j |q_j| × (2**input_bits - 1) + |B|``, in Python's unbounded integers."""
        magnitudes = np.abs(self.weight_codes.astype(np.int64)).tolist()
        return sum(magnitudes) * self.input_qmax + abs(self.bias_code)

    @property
    def payload_bytes(self) -> int:
        bias_bytes = np.dtype(self.accumulator_dtype).itemsize
        floats = self.input_offset.nbytes + self.input_scale.nbytes + np.float64().nbytes
        return int(self.weight_codes.nbytes + bias_bytes + floats)


def build_integer_model(
    params: LinearParams,
    X_train: pd.DataFrame | np.ndarray,
    bits: int = 8,
    input_bits: int = 8,
    rounding: str = "nearest",
) -> IntegerModel:
    """Calibrate the input ranges on `X_train` and quantize `params` for integer inference;
    `rounding` weighs the weight codes' errors by the training least squares on input codes."""
    check_bits(bits)
    integers(MIN_BITS, MAX_BITS).check("input_bits", input_bits)
    check_choice("rounding", rounding, ROUNDINGS)
    x = feature_matrix(X_train, params.feature_names, training=True)
    input_qmax, offset, span = 2**input_bits - 1, x.min(axis=0), np.ptp(x, axis=0)
    input_scale = np.where(span > 0, span / input_qmax, 1.0)
    codes = _input_codes(x, offset, input_scale, input_qmax).astype(np.float64)
    coef = np.asarray(params.coef, dtype=np.float64)
    folded = coef * input_scale
    grid = quantize(folded, bits, WEIGHT_SCHEME, "per_tensor")
    weight_codes = chosen_codes(rounding, folded, codes, grid)
    scale = float(grid.scale)
    # Least-squares bias for the rounded weights: the mean training prediction
    # equals the float model's, b + mean(x) @ w (= mean(y) for an OLS fit).
    bias = float(params.intercept) + float(x.mean(axis=0) @ coef)
    bias -= float(codes.mean(axis=0) @ (weight_codes * scale))
    code = bias / scale
    if not np.isfinite(code) or abs(code) > INT64_MAX:
        raise ValueError(
            f"the bias {bias!r} at the weight scale {scale!r} does not fit an int64 "
            "accumulator; rescale the target or the features"
        )
    model = IntegerModel(
        feature_names=params.feature_names,
        input_offset=offset,
        input_scale=input_scale,
        input_bits=input_bits,
        weight_codes=weight_codes.astype(code_dtype(bits, WEIGHT_SCHEME)),
        bias_code=int(np.rint(code)),
        accumulator_scale=scale,
        bits=bits,
        accumulator_dtype="int64",
    )
    if model.accumulator_bound > INT64_MAX:
        raise ValueError(
            f"the accumulator bound {model.accumulator_bound} exceeds int64: the bias {bias!r} "
            f"is too large for the weight scale {scale!r}; rescale the target or the features"
        )
    return replace(
        model, accumulator_dtype="int32" if model.accumulator_bound <= INT32_MAX else "int64"
    )


def quantize_inputs(model: IntegerModel, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """The unsigned input codes of `X`, saturating outside the calibrated range."""
    features = feature_matrix(X, model.feature_names)
    if not np.all(np.isfinite(features)):
        raise ValueError("X must be finite numbers; got NaN or inf in the features")
    codes = _input_codes(features, model.input_offset, model.input_scale, model.input_qmax)
    return codes.astype(code_dtype(model.input_bits, "asymmetric"))


def accumulate(model: IntegerModel, input_codes: np.ndarray) -> np.ndarray:
    dtype = np.dtype(model.accumulator_dtype)
    products = input_codes.astype(dtype) @ model.weight_codes.astype(dtype)
    return products + dtype.type(model.bias_code)


def predict_integer(model: IntegerModel, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Predictions by integer-only inference: input codes, integer sum, one float rescale."""
    accumulator = accumulate(model, quantize_inputs(model, X))
    return model.accumulator_scale * accumulator.astype(np.float64)


def _input_codes(x: np.ndarray, offset: np.ndarray, scale: np.ndarray, qmax: int) -> np.ndarray:
    return np.clip(np.rint(standardize(x, offset, scale)), 0, qmax)
