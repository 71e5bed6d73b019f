"""Integer-only inference of the linear model, in the style of TFLite (Jacob et al., 2018).

A prediction takes four steps:

1. each input feature is quantized to an unsigned ``input_bits``-bit code
   ``a_j = clip(round((x_j - input_offset_j) / input_scale_j), 0, 2**input_bits - 1)``
   with the range ``[min, max]`` of that feature on the training data (values
   outside it saturate, as in TFLite);
2. the codes are multiplied by the integer weight codes ``q_j`` and summed, with
   the integer bias ``B``, in an integer accumulator:
   ``acc = Σ_j q_j a_j + B``;
3. one float rescale: ``y = accumulator_scale × acc``.

How the float model maps onto that: ``x_j ≈ input_offset_j + input_scale_j a_j``,
so ``y = Σ_j (w_j input_scale_j) a_j + (b + Σ_j w_j input_offset_j)``. The
per-feature input scales are folded into the weights, ``w'_j = w_j ×
input_scale_j`` (the weight per input code step), and ``w'`` is quantized
symmetric per tensor, ``w'_j ≈ S q_j``, so every product shares one scale ``S``
(the input scale × weight scale of Jacob et al.). The bias is re-fitted to the
rounded weights on the training codes and stored as an integer at that same
scale, ``B = round(c / S)``, so the intercept is kept to within ``S / 2``.

Departure from TFLite: the input range is the training min..max, not widened to
include 0. A linear model never needs an exact input 0, and widening
Longitude's -124..-114 to -124..0 would make its step twelve times coarser. The
offset form needs no integer zero point: it folds into the bias exactly.

Overflow: with ``|q_j| ≤ 2**(bits-1) - 1`` and ``0 ≤ a_j ≤ 2**input_bits - 1``,
every partial sum of ``acc`` is bounded by
``Σ_j |q_j| × (2**input_bits - 1) + |B|`` (:attr:`IntegerModel.accumulator_bound`).
The accumulator is int32 when that bound is at most ``2**31 - 1``, else int64
(a bound beyond ``2**63 - 1`` is refused). For 8 features at 8 bits the bound
is at most ``8 × 127 × 255 + |B| = 259,080 + |B|``.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral
from typing import TYPE_CHECKING, Any

import numpy as np

from calhousing.core import rounding as _rounding
from calhousing.core.inference import feature_matrix
from calhousing.core.linear import LinearParams
from calhousing.core.quantization import code_dtype, quantize, training_features
from calhousing.core.rounding import ROUNDINGS
from calhousing.params import MAX_BITS, MIN_BITS, check_bits, check_choice

if TYPE_CHECKING:  # pandas is imported where it is used: `calhousing predict` never needs it
    import pandas as pd

INT32_MAX = np.iinfo(np.int32).max
INT64_MAX = np.iinfo(np.int64).max
WEIGHT_SCHEME = "symmetric"


@dataclass(frozen=True)
class IntegerModel:
    """Everything integer-only inference needs, and nothing else.

    Attributes
    ----------
    feature_names : tuple of str
        The input columns, in order.
    input_offset, input_scale : numpy.ndarray of float64, shape (n_features,)
        Feature ``j``'s code ``a`` stands for ``input_offset[j] + input_scale[j] * a``.
    input_bits : int
        Width of the unsigned input codes.
    weight_codes : numpy.ndarray
        Signed weight codes (int8 up to 8 bits, int16 above).
    bias_code : int
        The bias in accumulator units.
    accumulator_scale : float
        ``S``: a prediction is ``S × (Σ_j weight_codes[j] a_j + bias_code)``.
    bits : int
        Width of the weight codes.
    accumulator_dtype : str
        ``"int32"`` or ``"int64"``, chosen by :attr:`accumulator_bound`.
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
        """``Σ_j |q_j| × (2**input_bits - 1) + |B|``: no partial sum of the
        accumulator can exceed it in absolute value, whatever the input."""
        magnitudes = np.abs(self.weight_codes.astype(np.int64)).tolist()
        return sum(magnitudes) * self.input_qmax + abs(self.bias_code)

    @property
    def payload_bytes(self) -> int:
        """Weight codes, bias, accumulator scale, and the input offsets and scales."""
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
    """Calibrate the input ranges on `X_train` and quantize `params` for integer inference.

    Parameters
    ----------
    params : LinearParams
        The float model.
    X_train : array-like of shape (n_samples, n_features)
        Training features (a DataFrame is taken by column name); their per-feature
        min and max are the input ranges.
    bits : int, default=8
        Weight code width, 2..16 (signed, symmetric, per tensor).
    input_bits : int, default=8
        Input code width, 2..16 (unsigned).
    rounding : {"nearest", "gptq", "optimal"}, default="nearest"
        How the weight codes are chosen (:mod:`calhousing.core.rounding`), with the
        Hessian of the training least squares on the input codes.

    Returns
    -------
    IntegerModel

    Raises
    ------
    ValueError
        For `bits` or `input_bits` outside 2..16, an unknown `rounding`, a
        malformed `X_train`, or a bias too large for an int64 accumulator.
    """
    check_bits(bits)
    _check_input_bits(input_bits)
    check_choice("rounding", rounding, ROUNDINGS)
    x = training_features(X_train, params.feature_names, rounding=rounding)
    input_qmax = 2**input_bits - 1
    offset = x.min(axis=0)
    span = x.max(axis=0) - offset
    input_scale = np.where(span > 0, span / input_qmax, 1.0)
    codes = _input_codes(x, offset, input_scale, input_qmax).astype(np.float64)
    coef = np.asarray(params.coef, dtype=np.float64)
    folded = coef * input_scale
    grid = quantize(folded, bits, WEIGHT_SCHEME, "per_tensor")
    weight_codes = grid.codes.astype(np.int64)
    if rounding != "nearest":
        choose = _rounding.gptq_codes if rounding == "gptq" else _rounding.optimal_codes
        hessian = _rounding.centered_hessian(codes)
        weight_codes = choose(folded, hessian, grid.scale, 0, grid.qmin, grid.qmax)
    scale = float(grid.scale)
    # Least-squares bias for the rounded weights: the mean training prediction
    # equals the float model's, b + mean(x) @ w (= mean(y) for an OLS fit).
    bias = float(params.intercept) + float(x.mean(axis=0) @ coef)
    bias -= float(codes.mean(axis=0) @ (weight_codes * scale))
    bias_code = _bias_code(bias, scale)
    bound = int(np.abs(weight_codes).sum()) * input_qmax + abs(bias_code)
    if bound > INT64_MAX:
        raise ValueError(
            f"the accumulator bound {bound} exceeds int64: the bias {bias!r} is too "
            f"large for the weight scale {scale!r}; rescale the target or the features"
        )
    return IntegerModel(
        feature_names=params.feature_names,
        input_offset=offset,
        input_scale=input_scale,
        input_bits=input_bits,
        weight_codes=weight_codes.astype(code_dtype(bits, WEIGHT_SCHEME)),
        bias_code=bias_code,
        accumulator_scale=scale,
        bits=bits,
        accumulator_dtype="int32" if bound <= INT32_MAX else "int64",
    )


def quantize_inputs(model: IntegerModel, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """The unsigned input codes of `X`, saturating outside the calibrated range.

    Raises
    ------
    ValueError
        If `X` has the wrong columns or holds NaN or inf.
    """
    features = feature_matrix(X, model.feature_names)
    if not np.all(np.isfinite(features)):
        raise ValueError("X must be finite numbers; got NaN or inf in the features")
    codes = _input_codes(features, model.input_offset, model.input_scale, model.input_qmax)
    return codes.astype(code_dtype(model.input_bits, "asymmetric"))


def accumulate(model: IntegerModel, input_codes: np.ndarray) -> np.ndarray:
    """``Σ_j q_j a_j + B`` per row, in the model's integer accumulator dtype."""
    dtype = np.dtype(model.accumulator_dtype)
    products = input_codes.astype(dtype) @ model.weight_codes.astype(dtype)
    return products + dtype.type(model.bias_code)


def predict_integer(model: IntegerModel, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Predictions by integer-only inference: quantize inputs, integer dot product,
    one float rescale.

    Parameters
    ----------
    model : IntegerModel
        From :func:`build_integer_model` or its JSON (:mod:`calhousing.core.serialization`).
    X : array-like of shape (n_samples, n_features)
        Float features (a DataFrame is taken by column name).

    Returns
    -------
    numpy.ndarray of float64, shape (n_samples,)
    """
    accumulator = accumulate(model, quantize_inputs(model, X))
    return model.accumulator_scale * accumulator.astype(np.float64)


def _input_codes(
    x: np.ndarray, offset: np.ndarray, scale: np.ndarray, input_qmax: int
) -> np.ndarray:
    return np.clip(np.rint((x - offset) / scale), 0, input_qmax)


def _bias_code(bias: float, scale: float) -> int:
    code = bias / scale
    if not np.isfinite(code) or abs(code) > INT64_MAX:
        raise ValueError(
            f"the bias {bias!r} at the weight scale {scale!r} does not fit an int64 "
            "accumulator; rescale the target or the features"
        )
    return int(np.rint(code))


def _check_input_bits(input_bits: Any) -> int:
    if (
        isinstance(input_bits, bool)
        or not isinstance(input_bits, Integral)
        or not MIN_BITS <= input_bits <= MAX_BITS
    ):
        raise ValueError(
            f"input_bits must be an integer from {MIN_BITS} to {MAX_BITS}, got {input_bits!r}"
        )
    return int(input_bits)
