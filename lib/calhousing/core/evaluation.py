"""Comparing the float and the quantized model on the same split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from calhousing.core import slices
from calhousing.core.bootstrap import paired_bootstrap
from calhousing.core.data import Split
from calhousing.core.inference import predict
from calhousing.core.quantization import QuantizedModel
from calhousing.core.training import METRIC_NAMES, LinearParams, regression_metrics
from calhousing.params import check_n_samples

SPLITS: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True)
class Comparison:
    """Float and quantized model measured on the same split; `intervals` are the quantized
    model's paired-bootstrap test losses, `slices` its errors by slice of the test rows."""

    float_metrics: dict[str, dict[str, float]]
    quantized_metrics: dict[str, dict[str, float]]
    predictions: pd.DataFrame
    bits: int
    intervals: dict[str, Any] | None = None
    slices: pd.DataFrame | None = None

    def summary(self) -> dict[str, Any]:
        """The machine-readable summary written as ``comparison.json``."""
        return {
            "float": _plain_metrics(self.float_metrics),
            "quantized": _plain_metrics(self.quantized_metrics),
            "max_abs_prediction_diff": float(self.predictions["abs_pred_diff"].max()),
            "bits": int(self.bits),
            "intervals": self.intervals,
            "slices": None if self.slices is None else self.slices.reset_index().to_dict("records"),
        }

    @classmethod
    def from_saved(
        cls, summary: dict[str, Any], predictions: pd.DataFrame, *, rows: pd.Index
    ) -> Comparison:
        """The comparison 03_compare saved; `rows` (the split's test index) gives the
        predictions CSV, which holds the test rows without their index, its row numbers."""
        return cls(
            float_metrics=summary["float"],
            quantized_metrics=summary["quantized"],
            predictions=predictions.set_axis(pd.Index(rows, name="row")),
            bits=summary["bits"],
            intervals=summary.get("intervals"),
            slices=pd.DataFrame(summary["slices"]).set_index("slice")
            if "slices" in summary
            else None,
        )


def compare_models(params: LinearParams, quantized: QuantizedModel, split: Split) -> Comparison:
    float_pred, pred = predict(params, split.X_test), predict(quantized, split.X_test)
    return Comparison(
        float_metrics=split_metrics(params, split),
        quantized_metrics=split_metrics(quantized, split),
        predictions=prediction_frame(split.y_test, float_pred, pred),
        bits=quantized.coef.bits,
        intervals=paired_bootstrap(split.y_test, float_pred, pred),
        slices=slices.slice_table(slices.slice_masks(split), split.y_test, float_pred, pred),
    )


def split_metrics(
    model: LinearParams | QuantizedModel, split: Split
) -> dict[str, dict[str, float]]:
    return {
        "train": regression_metrics(split.y_train, predict(model, split.X_train)),
        "test": regression_metrics(split.y_test, predict(model, split.X_test)),
    }


def prediction_frame(
    y_true: pd.Series, float_pred: np.ndarray, quantized_pred: np.ndarray
) -> pd.DataFrame:
    """Every row's true value, both predictions and both absolute errors, in $100k."""
    y = np.asarray(y_true, dtype=np.float64)
    return pd.DataFrame(
        {
            "true": y,
            "float_pred": float_pred,
            "quantized_pred": quantized_pred,
            "float_abs_error": np.abs(y - float_pred),
            "quantized_abs_error": np.abs(y - quantized_pred),
            "abs_pred_diff": np.abs(float_pred - quantized_pred),
        },
        index=pd.Index(y_true.index, name="row"),
    )


def first_rows(predictions: pd.DataFrame, n_samples: int = 10) -> pd.DataFrame:
    check_n_samples(n_samples)
    return predictions.head(n_samples)


def _plain_metrics(metrics: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    return {s: {m: float(metrics[s][m]) for m in METRIC_NAMES} for s in SPLITS}
