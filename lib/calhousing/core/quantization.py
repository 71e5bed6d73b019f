"""Affine quantization of model parameters to low-bit integers.

The semantics are those of PyTorch's ``MinMaxObserver`` and ONNX
``QuantizeLinear``:

* the range always includes 0, so 0 (and a lone value) is exactly representable
  and no scale is ever 0;
* ``scale = (max - min) / (qmax - qmin)``, ``zero_point = clamp(round(qmin - min / scale))``;
* ``q = clamp(round(x / scale) + zero_point, qmin, qmax)`` with round half to even;
* ``x_hat = (q - zero_point) * scale``.

The ``symmetric`` scheme uses signed codes in ``[-(2**(b-1) - 1), 2**(b-1) - 1]``,
zero point 0 and ``scale = max|x| / qmax``.

A linear model is quantized by :func:`quantize_model`, with three more choices:

* ``space``: quantize the raw coefficients, or those of standardized features
  (``coef × std``, with the training means and stds stored beside the codes);
* ``rounding``: ``nearest``, ``gptq`` or ``optimal`` (:mod:`calhousing.core.rounding`),
  all on the same grid; ``gptq`` and ``optimal`` re-fit the intercept;
* the intercept always keeps its own scale and zero point: a lone value sits at
  the end of its own grid, so its code dequantizes to it (to float64 rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from calhousing.core import rounding as _rounding
from calhousing.core.linear import LinearParams
from calhousing.params import (  # the choices are declared once, as Literals, in params
    GRANULARITIES,
    ROUNDINGS,
    SCHEMES,
    SPACES,
    check_bits,
    check_choice,
)

if TYPE_CHECKING:  # pandas is imported where it is used: `calhousing predict` never needs it
    import pandas as pd


@dataclass(frozen=True)
class QuantizedTensor:
    """Integer codes with the affine parameters that map them back to reals.

    Attributes
    ----------
    codes : numpy.ndarray
        Integer codes in the smallest integer dtype that holds ``[qmin, qmax]``.
    scale : numpy.ndarray
        Float64 step between codes; shape ``()`` per tensor, ``codes.shape`` per channel.
    zero_point : numpy.ndarray
        The code that stands for 0, in the codes' dtype; shaped like `scale`.
    bits : int
        Code width.
    scheme : str
        ``"asymmetric"`` (unsigned codes) or ``"symmetric"`` (signed, zero point 0).
    """

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
        """``"per_tensor"`` for one scale, ``"per_channel"`` for one per code."""
        return "per_tensor" if self.scale.ndim == 0 else "per_channel"

    def dequantize(self) -> np.ndarray:
        """Return ``(codes - zero_point) * scale`` as float64."""
        offsets = self.codes.astype(np.int64) - self.zero_point.astype(np.int64)
        return offsets * self.scale

    @property
    def payload_bytes(self) -> int:
        """Bytes needed to store the codes, the scale(s) and the zero point(s).

        Codes are counted at their dtype's width (a 4-bit code still takes a
        byte unless packed); a symmetric zero point is always 0 and is not stored.
        """
        zero_point_bytes = 0 if self.scheme == "symmetric" else self.zero_point.nbytes
        return int(self.codes.nbytes + self.scale.nbytes + zero_point_bytes)


@dataclass(frozen=True)
class QuantizedModel:
    """A linear model whose coefficients and intercept are each quantized.

    Attributes
    ----------
    coef : QuantizedTensor
        Codes of the coefficients in `space`.
    intercept : QuantizedTensor
        The intercept in `space`, a lone value with its own scale and zero point.
    feature_names : tuple of str
    space : {"raw", "standardized"}
        ``"standardized"``: the model computes ``((X - feature_mean) / feature_std)
        @ coef + intercept``; ``"raw"``: ``X @ coef + intercept``.
    rounding : {"nearest", "gptq", "optimal"}
        How the codes were chosen.
    feature_mean, feature_std : numpy.ndarray or None
        Float64 training statistics, stored (and counted) for ``"standardized"``.
    """

    coef: QuantizedTensor
    intercept: QuantizedTensor
    feature_names: tuple[str, ...]
    space: str = "raw"
    rounding: str = "nearest"
    feature_mean: np.ndarray | None = None
    feature_std: np.ndarray | None = None

    def dequantized_params(self) -> LinearParams:
        """The float parameters the quantized model computes with, on raw features."""
        coef = self.coef.dequantize()
        intercept = float(self.intercept.dequantize()[0])
        if self.space == "standardized":
            coef, intercept = raw_space(coef, intercept, self.feature_mean, self.feature_std)
        return LinearParams(coef=coef, intercept=intercept, feature_names=self.feature_names)

    @property
    def statistics_bytes(self) -> int:
        """Bytes of the stored feature means and stds (0 in raw space)."""
        stats = (self.feature_mean, self.feature_std)
        return sum(int(array.nbytes) for array in stats if array is not None)

    @property
    def payload_bytes(self) -> int:
        """Codes, scales and zero points of both tensors, plus the feature statistics."""
        return self.coef.payload_bytes + self.intercept.payload_bytes + self.statistics_bytes


def code_range(bits: int, scheme: str = "asymmetric") -> tuple[int, int]:
    """The smallest and largest code of a `bits`-bit `scheme`."""
    check_bits(bits)
    check_choice("scheme", scheme, SCHEMES)
    if scheme == "symmetric":
        qmax = 2 ** (bits - 1) - 1
        return -qmax, qmax
    return 0, 2**bits - 1


def code_dtype(bits: int, scheme: str = "asymmetric") -> np.dtype:
    """The smallest integer dtype that holds every code of `bits` bits."""
    qmin, qmax = code_range(bits, scheme)
    candidates = (np.int8, np.int16) if qmin < 0 else (np.uint8, np.uint16)
    return next(
        np.dtype(dtype)
        for dtype in candidates
        if np.iinfo(dtype).min <= qmin and qmax <= np.iinfo(dtype).max
    )


def quantize(
    values: ArrayLike,
    bits: int = 8,
    scheme: str = "asymmetric",
    granularity: str = "per_tensor",
) -> QuantizedTensor:
    """Affine-quantize `values` to `bits`-bit integer codes.

    Parameters
    ----------
    values : array-like of float
        Finite values, at least one.
    bits : int, default=8
        Code width, 2..16.
    scheme : {"asymmetric", "symmetric"}, default="asymmetric"
        Unsigned min-max codes, or signed codes with zero point 0.
    granularity : {"per_tensor", "per_channel"}, default="per_tensor"
        One scale for all values, or one scale (and zero point) per value.

    Returns
    -------
    QuantizedTensor

    Raises
    ------
    ValueError
        If `values` is empty or holds NaN or inf, if `bits` is not in 2..16, or if
        `scheme` or `granularity` is not a known name.
    """
    x = finite_array(values, name="values")
    check_bits(bits)
    check_choice("scheme", scheme, SCHEMES)
    check_choice("granularity", granularity, GRANULARITIES)
    if granularity == "per_tensor":
        low, high = np.min(x), np.max(x)
    else:
        low, high = x, x
    scale, zero_point = _affine_params(np.asarray(low), np.asarray(high), bits, scheme)
    return QuantizedTensor(
        codes=quantize_to_grid(x, scale, zero_point, bits, scheme),
        scale=scale,
        zero_point=zero_point,
        bits=bits,
        scheme=scheme,
    )


def quantize_to_grid(
    x: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, bits: int, scheme: str
) -> np.ndarray:
    """Codes of `x` on a given grid: ``clamp(round_half_even(x / scale) + zero_point)``."""
    qmin, qmax = code_range(bits, scheme)
    codes = np.clip(np.rint(x / scale) + zero_point, qmin, qmax)
    return codes.astype(code_dtype(bits, scheme))


def quantize_model(
    params: LinearParams,
    bits: int = 8,
    scheme: str = "asymmetric",
    granularity: str = "per_tensor",
    space: str = "raw",
    rounding: str = "nearest",
    X_train: pd.DataFrame | np.ndarray | None = None,
) -> QuantizedModel:
    """Quantize a linear model's coefficients and intercept, each with its own grid.

    The coefficient grid is :func:`quantize`'s min-max grid of the coefficients
    (in `space`); `rounding` decides which grid point each coefficient takes. The
    defaults (8 bits, asymmetric, per tensor, raw, nearest) are the pipeline's
    baseline and need no data.

    Parameters
    ----------
    params : LinearParams
        The float model.
    bits, scheme, granularity
        As in :func:`quantize`.
    space : {"raw", "standardized"}, default="raw"
        Quantize ``coef`` of the raw features, or ``coef × std`` of the
        standardized ones (the training means and stds are then stored).
    rounding : {"nearest", "gptq", "optimal"}, default="nearest"
        ``nearest`` rounds each coefficient and keeps the float intercept.
        ``gptq`` and ``optimal`` choose codes that keep the training MSE low
        (:mod:`calhousing.core.rounding`) and re-fit the intercept to the rounded
        coefficients (``b + mean(X) @ (w - w_hat)``, the least-squares intercept).
    X_train : array-like of shape (n_samples, n_features), optional
        The training features, in the model's column order; needed for the
        ``standardized`` space and for ``gptq`` and ``optimal``.

    Returns
    -------
    QuantizedModel

    Raises
    ------
    ValueError
        For an unknown choice, `bits` outside 2..16, missing or malformed
        `X_train` where it is needed, or a constant feature in standardized space.
    """
    check_model_choices(bits, scheme, granularity, space, rounding)
    mean = std = features = None
    weights, intercept = np.asarray(params.coef, dtype=np.float64), float(params.intercept)
    if space == "standardized" or rounding != "nearest":
        features = training_features(X_train, params.feature_names, space, rounding)
    if space == "standardized":
        mean, std = feature_statistics(features)
        weights, intercept = standardized_space(weights, intercept, mean, std)
        features = standardize(features, mean, std)
    grid = quantize(weights, bits, scheme, granularity)
    codes = grid.codes
    if rounding != "nearest":
        choose = _rounding.gptq_codes if rounding == "gptq" else _rounding.optimal_codes
        hessian = _rounding.centered_hessian(features)
        chosen = choose(weights, hessian, grid.scale, grid.zero_point, grid.qmin, grid.qmax)
        codes = chosen.astype(grid.codes.dtype)
        rounded = _rounding.grid_values(codes, grid.scale, grid.zero_point)
        intercept = intercept + float(features.mean(axis=0) @ (weights - rounded))
    return QuantizedModel(
        coef=QuantizedTensor(codes, grid.scale, grid.zero_point, bits, scheme),
        intercept=quantize([intercept], bits, scheme, granularity),
        feature_names=params.feature_names,
        space=space,
        rounding=rounding,
        feature_mean=mean,
        feature_std=std,
    )


def check_model_choices(
    bits: int = 8,
    scheme: str = "asymmetric",
    granularity: str = "per_tensor",
    space: str = "raw",
    rounding: str = "nearest",
) -> None:
    """Check every choice of :func:`quantize_model` before any work (or I/O) is done.

    Raises
    ------
    ValueError
        Naming the first bad argument, its value and the allowed values.
    """
    check_bits(bits)
    check_choice("scheme", scheme, SCHEMES)
    check_choice("granularity", granularity, GRANULARITIES)
    check_choice("space", space, SPACES)
    check_choice("rounding", rounding, ROUNDINGS)


def standardize(features: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(X - mean) / std``: the features a standardized-space model multiplies."""
    return (features - mean) / std


def standardized_space(
    coef: np.ndarray, intercept: float, mean: np.ndarray, std: np.ndarray
) -> tuple[np.ndarray, float]:
    """The same model on standardized features: ``coef × std``, ``intercept + mean @ coef``."""
    return coef * std, intercept + float(mean @ coef)


def raw_space(
    coef: np.ndarray, intercept: float, mean: np.ndarray, std: np.ndarray
) -> tuple[np.ndarray, float]:
    """The inverse of :func:`standardized_space`: the model on raw features."""
    raw = coef / std
    return raw, intercept - float(mean @ raw)


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Training mean and (population) std of each feature column, as float64.

    Raises
    ------
    ValueError
        If a feature is constant: it cannot be standardized.
    """
    x = np.asarray(features, dtype=np.float64)
    mean, std = x.mean(axis=0), x.std(axis=0)
    if np.any(std == 0):
        raise ValueError(
            f"X_train has constant feature column(s) {np.flatnonzero(std == 0).tolist()}; "
            "the standardized space divides by each feature's std, so use space='raw'"
        )
    return mean, std


def training_features(
    X_train: pd.DataFrame | np.ndarray | None,
    feature_names: tuple[str, ...],
    space: str = "raw",
    rounding: str = "nearest",
) -> np.ndarray:
    import pandas as pd

    """`X_train` as a finite float64 matrix in the model's column order.

    Raises
    ------
    ValueError
        If `X_train` is missing, not 2-D with one column per feature, or not finite.
    """
    if X_train is None:
        raise ValueError(
            f"X_train is required for space={space!r} and rounding={rounding!r}: pass the "
            "training features (only space='raw' with rounding='nearest' needs no data)"
        )
    if isinstance(X_train, pd.DataFrame):
        missing = [name for name in feature_names if name not in X_train.columns]
        if missing:
            raise ValueError(f"X_train lacks the feature columns {missing}")
        X_train = X_train[list(feature_names)]
    x = finite_array(X_train, name="X_train")
    if x.ndim != 2 or x.shape[1] != len(feature_names) or len(x) < 2:
        raise ValueError(
            f"X_train must have at least 2 rows and {len(feature_names)} feature columns, "
            f"got shape {x.shape}"
        )
    return x


def finite_array(values: ArrayLike, name: str) -> np.ndarray:
    """`values` as a non-empty float64 array of finite numbers, else ``ValueError``."""
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numbers, got {values!r}") from None
    if x.size == 0:
        raise ValueError(f"{name} must hold at least one value, got an empty array")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite numbers; got NaN or inf in {x!r}")
    return x


def _affine_params(
    low: np.ndarray, high: np.ndarray, bits: int, scheme: str
) -> tuple[np.ndarray, np.ndarray]:
    qmin, qmax = code_range(bits, scheme)
    if scheme == "symmetric":
        magnitude = np.maximum(np.abs(low), np.abs(high))
        scale = magnitude / qmax
        zero_point = np.zeros_like(scale)
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
    if scheme == "asymmetric":
        zero_point = np.clip(np.rint(qmin - low / scale), qmin, qmax)
    return scale.astype(np.float64), zero_point.astype(code_dtype(bits, scheme))
