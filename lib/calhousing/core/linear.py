"""The parameters of a linear model, with no dependency beyond numpy (unlike
:mod:`calhousing.core.training`, which brings scikit-learn)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinearParams:
    """The float parameters of a linear model: ``y = X @ coef + intercept``."""

    coef: np.ndarray
    intercept: float
    feature_names: tuple[str, ...]

    @property
    def payload_bytes(self) -> int:
        """Bytes of the coefficients and the intercept as float64: what quantization shrinks."""
        return (self.coef.size + 1) * np.dtype(np.float64).itemsize
