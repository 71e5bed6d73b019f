"""Where quantization hurts: both models' errors on named slices of the test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from calhousing.core.data import Split
from calhousing.core.sweep import inside_training_range

CAPPED_TARGET = 5.00001  # the data's top-coded median house value ($100k)
CAPPED_SLICE = f"target capped at {CAPPED_TARGET}"
# Latitude/longitude boxes (south, north, west, east), in degrees; the rest is "elsewhere".
REGIONS: dict[str, tuple[float, float, float, float]] = {
    "San Francisco Bay Area (lat 36.9–38.6, lon −123.1 to −121.5)": (36.9, 38.6, -123.1, -121.5),
    "Los Angeles (lat 33.6–34.5, lon −118.9 to −117.6)": (33.6, 34.5, -118.9, -117.6),
}
ELSEWHERE = "rest of California (outside both boxes)"


def slice_masks(split: Split) -> dict[str, np.ndarray]:
    """Which test rows fall in each slice: MedInc deciles (edges from the training rows), the
    capped target, rows outside the training range, and the :data:`REGIONS`."""
    X = split.X_test
    edges = np.quantile(split.X_train["MedInc"], np.linspace(0.1, 0.9, 9))
    decile = np.searchsorted(edges, X["MedInc"].to_numpy(), side="right")
    masks = {f"MedInc decile {d + 1}": decile == d for d in range(10)}
    masks[CAPPED_SLICE] = split.y_test.to_numpy() >= CAPPED_TARGET
    masks["outside the training range"] = ~inside_training_range(split)
    lat, lon = X["Latitude"].to_numpy(), X["Longitude"].to_numpy()
    boxes = {
        name: (lat >= s) & (lat <= n) & (lon >= w) & (lon <= e)
        for name, (s, n, w, e) in REGIONS.items()
    }
    return {**masks, **boxes, ELSEWHERE: ~np.any(list(boxes.values()), axis=0)}


def slice_table(
    masks: dict[str, np.ndarray], y_true: pd.Series, float_pred: np.ndarray, pred: np.ndarray
) -> pd.DataFrame:
    """Per non-empty slice: rows, both models' MAE, its change and the |Δ prediction|."""
    y = np.asarray(y_true, dtype=np.float64)
    float_error, error, moved = np.abs(y - float_pred), np.abs(y - pred), np.abs(pred - float_pred)
    rows = {
        name: {
            "rows": int(mask.sum()),
            "float_mae": float(float_error[mask].mean()),
            "quantized_mae": float(error[mask].mean()),
            "mae_change": float(error[mask].mean() - float_error[mask].mean()),
            "mean_abs_pred_diff": float(moved[mask].mean()),
            "max_abs_pred_diff": float(moved[mask].max()),
        }
        for name, mask in masks.items()
        if mask.any()
    }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("slice")
