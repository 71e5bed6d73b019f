"""Predictions of the float and the quantized linear model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from calhousing.core.linear import LinearParams
from calhousing.core.quantization import QuantizedModel, select_columns, standardize

if TYPE_CHECKING:  # pandas is imported where it is used: `calhousing predict` never needs it
    import pandas as pd


def predict(model: LinearParams | QuantizedModel, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """The model's predictions in float64, with the columns taken in the model's order.

    A quantized model computes with its dequantized coefficients and intercept in its own
    space: a ``standardized`` one first standardizes `X` with its stored training means and
    stds, as it would on a device. Every comparison, the sweep and ``calhousing predict``
    compute it this way.
    """
    features = feature_matrix(X, model.feature_names)
    if isinstance(model, LinearParams):
        return features @ model.coef + model.intercept
    if model.space == "standardized":
        features = standardize(features, model.feature_mean, model.feature_std)
    return features @ model.coef.dequantize() + float(model.intercept.dequantize()[0])


def feature_matrix(X: pd.DataFrame | np.ndarray, feature_names: tuple[str, ...]) -> np.ndarray:
    """`X` as a float64 matrix with the columns in `feature_names` order.

    Raises ``ValueError`` if a named column is missing or the shape does not fit.
    """
    features = np.asarray(select_columns(X, feature_names, "X"), dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != len(feature_names):
        raise ValueError(
            f"X must have {len(feature_names)} feature columns, got shape {features.shape}"
        )
    return features
