"""Predictions of the float and the quantized linear model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from calhousing.core.linear import LinearParams
from calhousing.core.quantization import QuantizedModel, feature_matrix

if TYPE_CHECKING:  # pandas is imported where it is used: `calhousing predict` never needs it
    import pandas as pd


def predict(model: LinearParams | QuantizedModel, X: pd.DataFrame | np.ndarray) -> np.ndarray:
    """The model's predictions in float64, with the columns taken in the model's order; a
    quantized model's as :meth:`QuantizedModel.predict_features` computes them."""
    features = feature_matrix(X, model.feature_names)
    if isinstance(model, QuantizedModel):
        return model.predict_features(features)
    return features @ model.coef + model.intercept
