"""Scoring new data with the float, quantized or integer model (``calhousing predict``).

The feature columns are found by name, every other column is passed through,
and ``MedHouseVal_pred`` is added. polars does the work: its multi-threaded
streaming reader, the model as one expression, its streaming writer (see
``docs/scoring.md`` for why polars, measured against DuckDB and pyarrow). The
parameters come from the JSON artifacts only, so nothing is unpickled.

One concept a module:

* :mod:`~calhousing.predict.model`: the models as polars expressions;
* :mod:`~calhousing.predict.scoring`: prediction, validity and range verdicts of a row;
* :mod:`~calhousing.predict.header`: the input's columns, checked against the model;
* :mod:`~calhousing.predict.records`: quote-aware CSV records and their line numbers;
* :mod:`~calhousing.predict.rejects`: why a row is rejected;
* :mod:`~calhousing.predict.csv_reader`, :mod:`~calhousing.predict.parquet_reader`: scoring a file;
* :mod:`~calhousing.predict.careful`: a CSV file record by record, naming each bad one;
* :mod:`~calhousing.predict.writers`: output checks and all-or-nothing writing;
* :mod:`~calhousing.predict.run`: :func:`predict_file`, wiring them together;
* :mod:`~calhousing.predict.outcomes`: how out-of-range rows fare (for the report);
* :mod:`~calhousing.predict.dataset`: a partitioned Parquet dataset on a Dask cluster
  (imported only for datasets: the single-file path never loads Dask).
"""

from __future__ import annotations

from calhousing.errors import InputError, OutputError
from calhousing.params import MODELS
from calhousing.predict.model import Model, load_model, load_models
from calhousing.predict.outcomes import out_of_range_outcomes
from calhousing.predict.run import Summary, predict_file, rejects_path
from calhousing.predict.scoring import OUT_OF_RANGE_COLUMN, PREDICTION_COLUMN

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
