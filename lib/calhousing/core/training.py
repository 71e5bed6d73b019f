"""Fitting the float model and measuring it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from calhousing.core.linear import LinearParams

_METRICS = {"r2": r2_score, "mse": mean_squared_error, "mae": mean_absolute_error}
METRIC_NAMES: tuple[str, ...] = tuple(_METRICS)
METRIC_LABELS: dict[str, str] = {"r2": "R²", "mse": "MSE ($100k)²", "mae": "MAE ($100k)"}


def fit_linear_regression(X: pd.DataFrame, y: pd.Series) -> LinearRegression:
    return LinearRegression().fit(X, y)


def linear_params(model: LinearRegression) -> LinearParams:
    return LinearParams(
        coef=np.asarray(model.coef_, dtype=np.float64),
        intercept=float(model.intercept_),
        feature_names=tuple(str(name) for name in model.feature_names_in_),
    )


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    return {name: float(metric(y_true, y_pred)) for name, metric in _METRICS.items()}


def metrics_frame(metrics: dict[str, dict[str, float]], decimals: int = 4) -> pd.DataFrame:
    """Metrics by split for reading: units in the headers, rounded to `decimals`."""
    table = pd.DataFrame(metrics).T[list(METRIC_NAMES)].rename(columns=METRIC_LABELS)
    return table.astype(float).round(decimals).rename_axis("split")


def coefficient_table(params: LinearParams) -> pd.DataFrame:
    """The coefficients by feature, and the intercept, as a one-column table."""
    column = "value ($100k per feature unit; intercept in $100k)"
    return pd.DataFrame(
        {column: [*params.coef, params.intercept]},
        index=pd.Index([*params.feature_names, "intercept"], name="parameter"),
    )
