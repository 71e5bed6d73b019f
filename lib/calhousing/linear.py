"""The parameters of a linear model, with no dependency beyond numpy.

Scoring (``calhousing predict``) and quantization only need these numbers, so
they import this module rather than :mod:`calhousing.training`, which brings
scikit-learn with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinearParams:
    """The float parameters of a linear model: ``y = X @ coef + intercept``."""

    coef: np.ndarray
    intercept: float
    feature_names: tuple[str, ...]
