"""The report's summary: the float model against the quantized one, in one table and one verdict.

Everything is computed from the comparison, the models' payload and the sweep, so the summary
can never disagree with the sections below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from calhousing.core.evaluation import Comparison
from calhousing.core.quantization import QuantizedModel
from calhousing.core.training import LinearParams
from calhousing.params import check_bits
from calhousing.report.tables import MISSING
from calhousing.report.views import payload_table

R2_TOLERANCE = 0.002  # the largest test R² loss the project accepts at 8 bits
CONFIG_COLUMNS: tuple[str, ...] = ("scheme", "granularity", "space", "rounding")
# Each key of the Headline dictionaries: its row's label and format, and its sweep column.
_ROWS: dict[str, tuple[str, str, str]] = {
    "r2": ("test R²", "{:.4f}", "test_r2"),
    "mse": ("test MSE ($100k²)", "{:.4f}", "test_mse"),
    "mae": ("test MAE ($100k)", "{:.4f}", "test_mae"),
    "payload_bytes": ("parameter bytes stored", "{:,.0f}", "payload_bytes"),
    "max_abs_diff": ("max |Δ prediction| ($100k)", "{:.4f}", "max_abs_pred_diff"),
    "p99_abs_diff": ("99th percentile |Δ prediction| ($100k)", "{:.4f}", "p99_abs_pred_diff"),
}


@dataclass(frozen=True)
class Headline:
    """The numbers the summary shows.

    ``float_model`` and ``quantized_model`` hold test ``r2``, ``mse``, ``mae`` and
    ``payload_bytes``; the quantized one also ``max_abs_diff`` and ``p99_abs_diff`` of
    |float − quantized| over the test rows. ``best`` is :func:`best_configuration` at
    ``best_bits``, or ``None`` when there was no sweep.
    """

    bits: int
    float_model: dict[str, float]
    quantized_model: dict[str, float]
    best: dict[str, float | str] | None
    best_bits: int = 4


def headline(
    comparison: Comparison,
    params: LinearParams,
    quantized: QuantizedModel,
    sweep: pd.DataFrame | None = None,
    best_bits: int = 4,
) -> Headline:
    """Collect the summary's numbers from ``compare_models(params, quantized)`` and the sweep."""
    check_bits(best_bits)
    payload = payload_table(params, quantized)["payload_bytes"]
    differences = comparison.predictions["abs_pred_diff"].to_numpy()
    return Headline(
        bits=comparison.bits,
        float_model={**comparison.float_metrics["test"], "payload_bytes": float(payload.iloc[0])},
        quantized_model={
            **comparison.quantized_metrics["test"],
            "payload_bytes": float(payload.iloc[1]),
            "max_abs_diff": float(differences.max()),
            "p99_abs_diff": float(np.quantile(differences, 0.99)),
        },
        best=None if sweep is None else best_configuration(sweep, best_bits),
        best_bits=best_bits,
    )


def best_configuration(sweep: pd.DataFrame, bits: int = 4) -> dict[str, float | str]:
    """The configuration with the lowest training MSE among the sweep's rows at `bits` bits.

    The choice looks at the training data only, as a user choosing a configuration
    would; its test numbers are then reported as they are.

    Returns
    -------
    dict
        ``name`` (the :data:`CONFIG_COLUMNS` the sweep has, joined by " · ") and the row's
        measurements under the keys of :class:`Headline`'s model dictionaries.

    Raises
    ------
    ValueError
        If `sweep` lacks ``bits`` or ``train_mse`` or has no row at `bits`.
    """
    check_bits(bits)
    missing = [column for column in ("bits", "train_mse") if column not in sweep.columns]
    if missing:
        raise ValueError(
            f"sweep lacks the column(s) {', '.join(missing)}; it needs bits and train_mse, "
            f"and names configurations by {', '.join(CONFIG_COLUMNS)}"
        )
    rows = sweep[sweep["bits"] == bits]
    if rows.empty:
        raise ValueError(
            f"sweep has no row at bits={bits}; it covers bits {sorted(set(sweep['bits']))}"
        )
    row = rows.loc[rows["train_mse"].idxmin()]
    name = " · ".join(str(row[column]) for column in CONFIG_COLUMNS if column in row.index)
    measured = {
        key: float(row[column]) for key, (*_, column) in _ROWS.items() if column in row.index
    }
    return {"name": name or f"{bits}-bit", **measured}


def headline_table(summary: Headline) -> pd.DataFrame:
    """One row per measure, one column per model; "—" where a measure does not apply."""
    columns: dict[str, Mapping[str, float | str]] = {
        "float64": summary.float_model,
        f"{summary.bits}-bit": summary.quantized_model,
    }
    if summary.best is not None:
        columns[f"best {summary.best_bits}-bit"] = summary.best
    return pd.DataFrame(
        {
            label: [
                MISSING if values.get(key) is None else form.format(float(values[key]))
                for key, (_, form, _) in _ROWS.items()
            ]
            for label, values in columns.items()
        },
        index=pd.Index([label for label, *_ in _ROWS.values()]),
    )


def verdict(summary: Headline, tolerance: float = R2_TOLERANCE) -> str:
    """Markdown: whether the run's quantized model can replace the float one, and what it costs.

    It "can replace" the float one when its test R² is within `tolerance` and it stores
    fewer bytes; the sweep's best configuration, when there is one, gets the same numbers.
    """
    float_bytes = summary.float_model["payload_bytes"]
    stored = summary.quantized_model["payload_bytes"]
    loss = summary.float_model["r2"] - summary.quantized_model["r2"]
    if abs(loss) > tolerance:
        decision = "cannot replace the float one: it costs too much accuracy"
    elif stored >= float_bytes:
        decision = "keeps the float model's accuracy but saves no space"
    else:
        decision = "can replace the float one"
    line = (
        f"**Verdict:** the {summary.bits}-bit model {decision}. It "
        f"{_stores(stored, float_bytes)}, {_change(loss)} of test R² "
        f"({summary.float_model['r2']:.4f} → {summary.quantized_model['r2']:.4f}; this "
        f"summary accepts up to {tolerance:g}) and moves no test prediction by more than "
        f"{_money(summary.quantized_model['max_abs_diff'])}."
    )
    best = summary.best
    if best is None or "r2" not in best:
        return line
    line += (
        f" The best {summary.best_bits}-bit configuration ({best['name']}, chosen on the "
        f"training rows) {_change(summary.float_model['r2'] - float(best['r2']))} of test R²"
    )
    if "payload_bytes" in best:
        stored = float(best["payload_bytes"])
        if stored < float_bytes:
            line += f" and {_stores(stored, float_bytes)}"
        else:
            line += f" but {_stores(stored, float_bytes)}: it saves no space"
    if "max_abs_diff" in best:
        line += f", and moves test predictions by up to {_money(float(best['max_abs_diff']))}"
    return line + "."


def _stores(stored: float, float_bytes: float) -> str:
    if stored < float_bytes:
        return (
            f"stores {stored:,.0f} bytes instead of float64's {float_bytes:,.0f} "
            f"({float_bytes / stored:.1f}× fewer)"
        )
    return f"stores {stored:,.0f} bytes, more than float64's {float_bytes:,.0f}"


def _money(change: float) -> str:
    """A prediction change in $100k, then in dollars."""
    if change < 0.0005:
        return "0.0005 ($50)"
    return f"{change:.3f} (${100_000 * change:,.0f})"


def _change(loss: float) -> str:
    """A test R² loss in words, to the 4 decimals the summary shows."""
    if abs(loss) < 0.00005:
        return "loses less than 0.0001"
    if loss > 0:
        return f"loses {loss:.4f}"
    return f"gains {-loss:.4f}"


def summary_paragraph(summary: Headline) -> str:
    """The summary's opening paragraph (markdown), with the run's own numbers."""
    text = (
        f"A least-squares linear regression predicts the median house value of a "
        f"California block group from 8 features. Its {summary.float_model['payload_bytes']:,.0f} "
        f"bytes of float64 parameters were quantized to {summary.bits}-bit integer codes "
        f"({summary.quantized_model['payload_bytes']:,.0f} bytes with their scales and zero "
        f"points), and both models predicted the same held-out test rows. Test R² went from "
        f"{summary.float_model['r2']:.4f} to {summary.quantized_model['r2']:.4f}; 99% of "
        f"predictions moved by at most {summary.quantized_model['p99_abs_diff']:.4f}."
    )
    if summary.best is None:
        return text + " The bit-width sweep did not run, so there is no lower-bit comparison."
    return (
        text + f" The sweep's best {summary.best_bits}-bit configuration is {summary.best['name']}."
    )
