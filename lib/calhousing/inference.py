"""Predictions of the float and the quantized linear model."""

from __future__ import annotations

import numpy as np
import pandas as pd

from calhousing.quantization import QuantizedModel
from calhousing.training import LinearParams


def predict(params: LinearParams, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """``X @ coef + intercept`` in float64, with the columns taken in the model's order."""
    features = _feature_matrix(X, params.feature_names)
    return features @ params.coef + params.intercept


def predict_quantized(model: QuantizedModel, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """Predictions with the dequantized coefficients and intercept."""
    return predict(model.dequantized_params(), X)


def _feature_matrix(X: pd.DataFrame | np.ndarray, feature_names: tuple[str, ...]) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        missing = [name for name in feature_names if name not in X.columns]
        if missing:
            raise ValueError(f"X lacks the feature columns {missing}")
        X = X[list(feature_names)]
    features = np.asarray(X, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != len(feature_names):
        raise ValueError(
            f"X must have {len(feature_names)} feature columns, got shape {features.shape}"
        )
    return features
