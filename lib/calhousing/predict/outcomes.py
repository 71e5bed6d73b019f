"""How rows outside the training range fare under each model: the report's out-of-range table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from calhousing.predict.model import Model
from calhousing.predict.scoring import OUTSIDE, PREDICTION_COLUMN, with_scores

if TYPE_CHECKING:
    import pandas as pd


def out_of_range_outcomes(models: Sequence[Model], X: pd.DataFrame, y: pd.Series) -> pd.DataFrame:
    """Each model's absolute error on the rows outside the training range, and on the others.

    A row is outside when a feature lies outside the models' ``ranges``; each model scores it
    exactly as ``calhousing predict`` does.

    Returns
    -------
    pandas.DataFrame
        One row per model: rows outside, their mean and largest absolute error, and the mean
        absolute error of the rows inside, for comparison.
    """
    import numpy as np
    import pandas as pd

    truth = np.asarray(y, dtype=np.float64)
    rows = []
    for model in models:
        frame = pl.from_pandas(X[list(model.feature_names)].astype("float64"))
        scored = with_scores(frame, model)
        errors = np.abs(scored[PREDICTION_COLUMN].to_numpy() - truth)
        outside = scored[OUTSIDE].to_numpy()
        rows.append(
            {
                "model": model.name,
                "rows outside": int(outside.sum()),
                "MAE outside": float(errors[outside].mean()) if outside.any() else np.nan,
                "max |error| outside": float(errors[outside].max()) if outside.any() else np.nan,
                "MAE inside": float(errors[~outside].mean()),
            }
        )
    return pd.DataFrame(rows).set_index("model")
