"""Fitting the float model and measuring it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sklearn.linear_model import LinearRegression
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

METRIC_NAMES: tuple[str, ...] = ("r2", "mse", "mae")


@dataclass(frozen=True)
class LinearParams:
    """The float parameters of a linear model: ``y = X @ coef + intercept``."""

    coef: np.ndarray
    intercept: float
    feature_names: tuple[str, ...]


def fit_linear_regression(X: pd.DataFrame, y: pd.Series) -> LinearRegression:
    """Fit an ordinary least-squares :class:`~sklearn.linear_model.LinearRegression`."""
    return LinearRegression().fit(X, y)


def linear_params(model: LinearRegression) -> LinearParams:
    """Extract the coefficients, intercept and feature names of a fitted model."""
    return LinearParams(
        coef=np.asarray(model.coef_, dtype=np.float64),
        intercept=float(model.intercept_),
        feature_names=tuple(str(name) for name in model.feature_names_in_),
    )


def regression_metrics(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, float]:
    """R², mean squared error and mean absolute error, from :mod:`sklearn.metrics`."""
    return {
        "r2": float(r2_score(y_true, y_pred)),
        "mse": float(mean_squared_error(y_true, y_pred)),
        "mae": float(mean_absolute_error(y_true, y_pred)),
    }


def metrics_frame(metrics: dict[str, dict[str, float]]) -> pd.DataFrame:
    """Metrics by split (``{"train": {...}, "test": {...}}``) as a table, one row per split."""
    return pd.DataFrame(metrics).T[list(METRIC_NAMES)]


def coefficient_table(params: LinearParams) -> pd.DataFrame:
    """The coefficients by feature, and the intercept, as a one-column table."""
    values = [*params.coef, params.intercept]
    names = [*params.feature_names, "intercept"]
    return pd.DataFrame({"value": values}, index=pd.Index(names, name="parameter"))
