"""The budgeted choice: the sweep's smallest configuration within a loss of R², confirmed.

It is chosen on the training rows, so the test rows stay untouched until the confirmation:
their R² loss, with paired-bootstrap intervals against the float model.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from calhousing.core.data import Split
from calhousing.core.evaluation import compare_models
from calhousing.core.quantization import quantize_model
from calhousing.core.sweep import CONFIG_COLUMNS, GRANULARITY
from calhousing.core.training import LinearParams
from calhousing.params import BY_NAME


def choose(table: pd.DataFrame, max_r2_loss: float) -> pd.Series:
    """The row of :func:`calhousing.core.sweep.sweep` storing the fewest ``payload_bytes`` whose
    training R² loss is at most `max_r2_loss`; ties go to the smaller loss, then the sweep's
    order. When none is within, the closest miss: the smallest training loss."""
    budget = BY_NAME["max_r2_loss"].check(max_r2_loss)
    ranked = table.assign(_loss=-table["delta_train_r2"], _order=range(len(table)))
    within = ranked[ranked["_loss"] <= budget]
    keys = ["payload_bytes", "_loss", "_order"] if len(within) else ["_loss", "_order"]
    return (within if len(within) else ranked).sort_values(keys).iloc[0]


def budgeted_choice(
    params: LinearParams, split: Split, table: pd.DataFrame, max_r2_loss: float
) -> dict[str, Any]:
    """:func:`choose`'s configuration confirmed on the test rows, as ``choice.json`` holds it."""
    budget = BY_NAME["max_r2_loss"].check(max_r2_loss)
    row = choose(table, budget)
    bits, scheme, space, rounding = int(row["bits"]), *(str(row[c]) for c in CONFIG_COLUMNS[1:])
    model = quantize_model(params, bits, scheme, GRANULARITY, space, rounding, split.X_train)
    confirmed = compare_models(params, model, split)
    return {
        "max_r2_loss": budget,
        "met": bool(row["_loss"] <= budget),
        **{"bits": bits, "scheme": scheme, "space": space, "rounding": rounding},
        "granularity": GRANULARITY,
        "payload_bytes": int(model.payload_bytes),
        "float_payload_bytes": int(params.payload_bytes),
        "train_r2_loss": float(row["_loss"]),
        "test_r2_loss": float(-row["delta_test_r2"]),
        "test": confirmed.quantized_metrics["test"],
        "max_abs_pred_diff": float(row["max_abs_pred_diff"]),
        "intervals": confirmed.intervals,
    }
