"""Scoring files and Parquet datasets with the float, quantized or integer model
(``calhousing predict``, described in ``docs/scoring.md``)."""

from __future__ import annotations

from calhousing.errors import InputError, OutputError
from calhousing.params import MODELS
from calhousing.predict.model import Model, load_model, load_models
from calhousing.predict.run import Summary, predict_file, rejects_path
from calhousing.predict.scoring import OUT_OF_RANGE_COLUMN, PREDICTION_COLUMN, out_of_range_outcomes

__all__ = [
    "MODELS",
    "OUT_OF_RANGE_COLUMN",
    "PREDICTION_COLUMN",
    "InputError",
    "Model",
    "OutputError",
    "Summary",
    "load_model",
    "load_models",
    "out_of_range_outcomes",
    "predict_file",
    "rejects_path",
]
