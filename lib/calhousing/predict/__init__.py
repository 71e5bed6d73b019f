"""Scoring files and Parquet datasets with the float, quantized or integer model
(``calhousing predict``, described in ``docs/scoring.md``)."""

from __future__ import annotations

from calhousing.predict.run import Summary, predict_file
from calhousing.predict.scoring import (
    PREDICTION_COLUMN,
    Model,
    load_model,
    load_models,
    out_of_range_outcomes,
)

__all__ = [
    "PREDICTION_COLUMN",
    "Model",
    "Summary",
    "load_model",
    "load_models",
    "out_of_range_outcomes",
    "predict_file",
]
