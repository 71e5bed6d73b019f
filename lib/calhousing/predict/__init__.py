"""Scoring files and Parquet datasets with the float, quantized or integer model
(``calhousing predict``, described in ``docs/scoring.md``)."""

from calhousing.predict.run import Summary as Summary
from calhousing.predict.run import predict_file as predict_file
from calhousing.predict.scoring import PREDICTION_COLUMN as PREDICTION_COLUMN
from calhousing.predict.scoring import Model as Model
from calhousing.predict.scoring import load_model as load_model
from calhousing.predict.scoring import load_models as load_models
from calhousing.predict.scoring import out_of_range_outcomes as out_of_range_outcomes
