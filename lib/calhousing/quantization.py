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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from calhousing.params import check_bits, check_choice
from calhousing.training import LinearParams

SCHEMES: tuple[str, ...] = ("asymmetric", "symmetric")
GRANULARITIES: tuple[str, ...] = ("per_tensor", "per_channel")


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
    """A linear model whose coefficients and intercept are each quantized."""

    coef: QuantizedTensor
    intercept: QuantizedTensor
    feature_names: tuple[str, ...]

    def dequantized_params(self) -> LinearParams:
        """The float parameters the quantized model computes with."""
        return LinearParams(
            coef=self.coef.dequantize(),
            intercept=float(self.intercept.dequantize()[0]),
            feature_names=self.feature_names,
        )

    @property
    def payload_bytes(self) -> int:
        return self.coef.payload_bytes + self.intercept.payload_bytes


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
) -> QuantizedModel:
    """Quantize the coefficients and the intercept, each with its own scale and zero point."""
    return QuantizedModel(
        coef=quantize(params.coef, bits, scheme, granularity),
        intercept=quantize([params.intercept], bits, scheme, granularity),
        feature_names=params.feature_names,
    )


def error_table(params: LinearParams, quantized: QuantizedModel) -> pd.DataFrame:
    """Per parameter: float value, code, dequantized value and absolute error."""
    dequantized = quantized.dequantized_params()
    names = [*params.feature_names, "intercept"]
    return pd.DataFrame(
        {
            "float": [*params.coef, params.intercept],
            "code": [*quantized.coef.codes.tolist(), *quantized.intercept.codes.tolist()],
            "dequantized": [*dequantized.coef, dequantized.intercept],
        },
        index=pd.Index(names, name="parameter"),
    ).assign(abs_error=lambda t: (t["float"] - t["dequantized"]).abs())


def parameters_table(quantized: QuantizedModel) -> pd.DataFrame:
    """Scale, zero point, code range and payload of each quantized tensor."""
    rows = {"coefficients": quantized.coef, "intercept": quantized.intercept}
    return pd.DataFrame(
        {
            "scheme": [t.scheme for t in rows.values()],
            "bits": [t.bits for t in rows.values()],
            "code dtype": [t.codes.dtype.name for t in rows.values()],
            "code range": [f"{t.qmin}..{t.qmax}" for t in rows.values()],
            "scale": [_compact(t.scale) for t in rows.values()],
            "zero_point": [_compact(t.zero_point) for t in rows.values()],
            "payload bytes": [t.payload_bytes for t in rows.values()],
        },
        index=pd.Index(list(rows), name="tensor"),
    )


def _compact(values: np.ndarray) -> object:
    return values.item() if values.size == 1 else values.tolist()


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
