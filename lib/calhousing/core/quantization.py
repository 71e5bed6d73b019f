"""Affine quantization of model parameters to low-bit integers.

The semantics are PyTorch's ``MinMaxObserver`` and ONNX ``QuantizeLinear``: the range always
includes 0, so 0 (and a lone value) is exact and no scale is 0; codes round half to even;
``x_hat = (q - zero_point) * scale``. The ``symmetric`` scheme has signed codes, zero point 0
and ``scale = max|x| / qmax``. The intercept keeps its own grid: a lone value sits at the end
of it, so its code dequantizes to it (to float64 rounding).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from calhousing.core import rounding as _rounding
from calhousing.core.linear import LinearParams
from calhousing.params import GRANULARITIES, ROUNDINGS, SCHEMES, SPACES, check_bits, check_choice

if TYPE_CHECKING:  # pandas is imported where it is used: `calhousing predict` never needs it
    import pandas as pd


@dataclass(frozen=True)
class QuantizedTensor:
    """Integer codes in the smallest dtype that holds them, and their grid: `scale` (float64) and
    `zero_point` (the codes' dtype) have shape ``()`` per tensor, ``codes.shape`` per channel."""

    codes: np.ndarray
    scale: np.ndarray
    zero_point: np.ndarray
    bits: int
    scheme: str = "asymmetric"

    @property
    def qmin(self) -> int:
        return code_range(self.bits, self.scheme)[0]

    @property
    def qmax(self) -> int:
        return code_range(self.bits, self.scheme)[1]

    @property
    def granularity(self) -> str:
        return "per_tensor" if self.scale.ndim == 0 else "per_channel"

    def dequantize(self) -> np.ndarray:
        return _rounding.grid_values(self.codes, self.scale, self.zero_point)

    @property
    def payload_bytes(self) -> int:
        """Bytes of the codes, scales and zero points (a symmetric one, always 0, is not stored)."""
        zero_point_bytes = 0 if self.scheme == "symmetric" else self.zero_point.nbytes
        return int(self.codes.nbytes + self.scale.nbytes + zero_point_bytes)


@dataclass(frozen=True)
class QuantizedModel:
    """A linear model with quantized coefficients and intercept; in ``"standardized"`` space it
    computes on standardized features, with the training means and stds stored (and counted)."""

    coef: QuantizedTensor
    intercept: QuantizedTensor
    feature_names: tuple[str, ...]
    space: str = "raw"
    rounding: str = "nearest"
    feature_mean: np.ndarray | None = None
    feature_std: np.ndarray | None = None

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """Predictions from features in the model's column order, computed as a device would:
        with the dequantized parameters, in the model's own space."""
        if self.space == "standardized":
            features = standardize(features, self.feature_mean, self.feature_std)
        return features @ self.coef.dequantize() + float(self.intercept.dequantize()[0])

    def dequantized_params(self) -> LinearParams:
        """The float parameters of the same model on raw features."""
        coef, intercept = self.coef.dequantize(), float(self.intercept.dequantize()[0])
        if self.space == "standardized":
            coef = coef / self.feature_std
            intercept = intercept - float(self.feature_mean @ coef)
        return LinearParams(coef=coef, intercept=intercept, feature_names=self.feature_names)

    def in_own_space(self, params: LinearParams) -> tuple[np.ndarray, float]:
        """Float `params` (on raw features) on the features this model computes on."""
        coef, intercept = params.coef, params.intercept
        if self.space == "raw":
            return coef, intercept
        return standardized_space(coef, intercept, self.feature_mean, self.feature_std)

    @property
    def statistics_bytes(self) -> int:
        stats = (self.feature_mean, self.feature_std)
        return sum(int(array.nbytes) for array in stats if array is not None)

    @property
    def payload_bytes(self) -> int:
        return self.coef.payload_bytes + self.intercept.payload_bytes + self.statistics_bytes


def code_range(bits: int, scheme: str = "asymmetric") -> tuple[int, int]:
    """The smallest and largest code of a `bits`-bit `scheme` (checked: a loaded model's too)."""
    check_bits(bits)
    check_choice("scheme", scheme, SCHEMES)
    if scheme == "symmetric":
        return -(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1


def code_dtype(bits: int, scheme: str = "asymmetric") -> np.dtype:
    qmin, _ = code_range(bits, scheme)
    return np.dtype(f"{'' if qmin < 0 else 'u'}int{8 if bits <= 8 else 16}")


def quantize(
    values: ArrayLike, bits: int = 8, scheme: str = "asymmetric", granularity: str = "per_tensor"
) -> QuantizedTensor:
    """Affine-quantize finite `values` to `bits`-bit (2..16) integer codes; ``"per_channel"``
    gives each value its own scale and zero point."""
    x = finite_array(values, name="values")
    check_model_choices(bits, scheme, granularity)
    (qmin, qmax), dtype = code_range(bits, scheme), code_dtype(bits, scheme)
    low, high = (np.min(x), np.max(x)) if granularity == "per_tensor" else (x, x)
    low, high = np.asarray(low), np.asarray(high)
    if scheme == "symmetric":
        scale = np.maximum(np.abs(low), np.abs(high)) / qmax
    else:
        low, high = np.minimum(low, 0.0), np.maximum(high, 0.0)
        with np.errstate(over="ignore"):  # an overflowing range is refused just below
            scale = (high - low) / (qmax - qmin)
    if not np.all(np.isfinite(scale)):
        raise ValueError(
            f"values span a range too wide for float64 ({low!r} to {high!r}); "
            "scale them before quantizing"
        )
    # All-zero input: any positive scale represents it exactly; 1.0 keeps codes readable.
    scale = np.where(scale > 0, scale, 1.0)
    zero_point = np.zeros_like(scale)
    if scheme == "asymmetric":
        zero_point = np.clip(np.rint(qmin - low / scale), qmin, qmax)
    scale, zero_point = scale.astype(np.float64), zero_point.astype(dtype)
    codes = _rounding.nearest_codes(x, scale, zero_point, qmin, qmax).astype(dtype)
    return QuantizedTensor(codes, scale, zero_point, bits, scheme)


def quantize_model(
    params: LinearParams,
    bits: int = 8,
    scheme: str = "asymmetric",
    granularity: str = "per_tensor",
    space: str = "raw",
    rounding: str = "nearest",
    X_train: pd.DataFrame | np.ndarray | None = None,
) -> QuantizedModel:
    """Quantize a linear model's coefficients and intercept, each on its own grid.

    ``"standardized"`` space quantizes ``coef × std``. ``"gptq"`` and ``"optimal"`` rounding keep
    the training MSE low and re-fit the intercept to the rounded coefficients (the least-squares
    ``b + mean(X) @ (w - w_hat)``). Only ``space="raw"`` with ``"nearest"`` needs no `X_train`.
    """
    check_model_choices(bits, scheme, granularity, space, rounding)
    mean = std = features = None
    weights, intercept = np.asarray(params.coef, dtype=np.float64), float(params.intercept)
    if space == "standardized" or rounding != "nearest":
        if X_train is None:
            raise ValueError(
                f"X_train is required for space={space!r} and rounding={rounding!r}: pass the "
                "training features (only space='raw' with rounding='nearest' needs no data)"
            )
        features = feature_matrix(X_train, params.feature_names, training=True)
    if space == "standardized":
        mean, std = features.mean(axis=0), features.std(axis=0)
        if np.any(std == 0):
            raise ValueError(
                f"X_train has constant feature column(s) {np.flatnonzero(std == 0).tolist()}; "
                "the standardized space divides by each feature's std, so use space='raw'"
            )
        weights, intercept = standardized_space(weights, intercept, mean, std)
        features = standardize(features, mean, std)
    coef = quantize(weights, bits, scheme, granularity)
    if rounding != "nearest":
        codes = chosen_codes(rounding, weights, features, coef)
        coef = replace(coef, codes=codes.astype(coef.codes.dtype))
        intercept += float(features.mean(axis=0) @ (weights - coef.dequantize()))
    intercept_grid = quantize([intercept], bits, scheme, granularity)
    return QuantizedModel(coef, intercept_grid, params.feature_names, space, rounding, mean, std)


def chosen_codes(
    rounding: str, weights: np.ndarray, features: np.ndarray | None, grid: QuantizedTensor
) -> np.ndarray:
    """The int64 codes `rounding` picks for `weights` on `grid`; ``gptq`` and ``optimal`` weigh
    the errors by the Hessian of the training `features` (``nearest`` needs none)."""
    args = (grid.scale, grid.zero_point, grid.qmin, grid.qmax)
    if rounding == "nearest":
        return _rounding.nearest_codes(weights, *args)
    choose = _rounding.gptq_codes if rounding == "gptq" else _rounding.optimal_codes
    return choose(weights, _rounding.centered_hessian(features), *args)


def check_model_choices(
    bits: int = 8,
    scheme: str = "asymmetric",
    granularity: str = "per_tensor",
    space: str = "raw",
    rounding: str = "nearest",
) -> None:
    """Check every choice of :func:`quantize_model` before any work (or I/O) is done."""
    check_bits(bits)
    check_choice("scheme", scheme, SCHEMES)
    check_choice("granularity", granularity, GRANULARITIES)
    check_choice("space", space, SPACES)
    check_choice("rounding", rounding, ROUNDINGS)


def standardize(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return (features - mean) / std


def standardized_space(
    coef: np.ndarray, intercept: float, mean: np.ndarray, std: np.ndarray
) -> tuple[np.ndarray, float]:
    """The same model on standardized features: ``coef × std``, ``intercept + mean @ coef``."""
    return coef * std, intercept + float(mean @ coef)


def feature_matrix(
    X: pd.DataFrame | np.ndarray, feature_names: tuple[str, ...], *, training: bool = False
) -> np.ndarray:
    """`X` as a float64 matrix with the columns in `feature_names` order (a DataFrame's by
    name); `training` data (``X_train``) must also be finite and hold at least 2 rows."""
    import pandas as pd

    name, min_rows = ("X_train", 2) if training else ("X", 0)
    if isinstance(X, pd.DataFrame):
        missing = [column for column in feature_names if column not in X.columns]
        if missing:
            raise ValueError(f"{name} lacks the feature columns {missing}")
        X = X[list(feature_names)]
    features = finite_array(X, name) if training else np.asarray(X, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != len(feature_names) or len(features) < min_rows:
        rows = "at least 2 rows and " if training else ""
        raise ValueError(
            f"{name} must have {rows}{len(feature_names)} feature columns, "
            f"got shape {features.shape}"
        )
    return features


def finite_array(values: ArrayLike, name: str) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, got {values!r}") from None
    if x.size == 0:
        raise ValueError(f"{name} must hold at least one value, got an empty array")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite numbers; got NaN or inf in {x!r}")
    return x
