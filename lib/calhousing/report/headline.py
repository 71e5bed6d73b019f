"""The report's summary: the float model against the quantized one, in one table and one verdict.

Everything is computed from the comparison, the models' payload and the sweep, so the summary
can never disagree with the sections below it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from calhousing.core.evaluation import Comparison
from calhousing.core.quantization import QuantizedModel
from calhousing.core.training import METRIC_LABELS, LinearParams
from calhousing.report.tables import LOSS_LABELS, MISSING

R2_TOLERANCE = 0.002  # the largest test R² loss the project accepts at 8 bits
# Each key of the Headline dictionaries: its row's label and format (text is shown as it is).
_ROWS: dict[str, tuple[str, str]] = {
    **{metric: (f"test {label}", "{:.4f}") for metric, label in METRIC_LABELS.items()},
    **{loss: (f"test {label}, 95% interval", "") for loss, label in LOSS_LABELS.items()},
    "payload_bytes": ("parameter bytes stored", "{:,.0f}"),
    "max_abs_diff": ("max |Δ prediction| ($100k)", "{:.4f}"),
    "p99_abs_diff": ("99th percentile |Δ prediction| ($100k)", "{:.4f}"),
}


@dataclass(frozen=True)
class Headline:
    """The numbers the summary shows.

    ``float_model`` and ``quantized_model`` hold test ``r2``, ``mse``, ``mae`` and
    ``payload_bytes``; the quantized one also ``max_abs_diff`` and ``p99_abs_diff`` of
    |float − quantized| over the test rows and, as text, the intervals of its losses.
    ``choice`` is the content of ``choice.json``, or ``None`` when there was no sweep;
    ``slices`` the comparison's errors by slice of the test rows.
    """

    bits: int
    float_model: dict[str, float]
    quantized_model: dict[str, float | str]
    choice: dict[str, Any] | None = None
    slices: pd.DataFrame | None = None


def headline(
    comparison: Comparison,
    params: LinearParams,
    quantized: QuantizedModel,
    choice: dict[str, Any] | None = None,
) -> Headline:
    """Collect the summary's numbers from ``compare_models(params, quantized)`` and the choice."""
    differences = comparison.predictions["abs_pred_diff"].to_numpy()
    return Headline(
        bits=comparison.bits,
        float_model={
            **comparison.float_metrics["test"],
            "payload_bytes": float(params.payload_bytes),
        },
        quantized_model={
            **comparison.quantized_metrics["test"],
            **_interval_texts(comparison.intervals),
            "payload_bytes": float(quantized.payload_bytes),
            "max_abs_diff": float(differences.max()),
            "p99_abs_diff": float(np.quantile(differences, 0.99)),
        },
        choice=choice,
        slices=comparison.slices,
    )


def choice_name(choice: Mapping[str, Any]) -> str:
    """``8-bit · asymmetric · raw · gptq`` (the sweep's configurations are per tensor)."""
    return f"{choice['bits']}-bit · {choice['scheme']} · {choice['space']} · {choice['rounding']}"


def headline_table(summary: Headline) -> pd.DataFrame:
    """One row per measure, one column per model; "—" where a measure does not apply."""
    columns: dict[str, Mapping[str, Any]] = {
        "float64": summary.float_model,
        f"{summary.bits}-bit (this run)": summary.quantized_model,
    }
    if summary.choice is not None:
        choice = summary.choice
        label = "smallest within budget" if choice["met"] else "closest to budget"
        columns[f"{label}: {choice_name(choice)}"] = {
            **choice["test"],
            **_interval_texts(choice["intervals"]),
            "payload_bytes": choice["payload_bytes"],
            "max_abs_diff": choice["max_abs_pred_diff"],
        }
    return pd.DataFrame(
        {
            label: [_cell(values.get(key), form) for key, (_, form) in _ROWS.items()]
            for label, values in columns.items()
        },
        index=pd.Index([label for label, _ in _ROWS.values()]),
    )


def verdict(summary: Headline, tolerance: float = R2_TOLERANCE) -> str:
    """Markdown: whether the run's quantized model can replace the float one (its test R² is
    within `tolerance` and it stores fewer bytes), what it costs, the budgeted choice and
    the slice that loses most."""
    float_bytes = summary.float_model["payload_bytes"]
    stored = summary.quantized_model["payload_bytes"]
    loss = summary.float_model["r2"] - summary.quantized_model["r2"]
    if abs(loss) > tolerance:
        decision = "cannot replace the float one: it costs too much accuracy"
    elif stored >= float_bytes:
        decision = "keeps the float model's accuracy but saves no space"
    else:
        decision = "can replace the float one"
    interval = summary.quantized_model.get("r2_loss")
    moved = summary.quantized_model["max_abs_diff"]
    line = (
        f"**Verdict:** the {summary.bits}-bit model {decision}. It "
        f"{_stores(stored, float_bytes)}, {_change(loss)} of test R² "
        f"({summary.float_model['r2']:.4f} → {summary.quantized_model['r2']:.4f}; "
        + (f"R² lost, with its 95% interval: {interval}; " if interval else "")
        + f"this summary accepts up to {tolerance:g}) and moves no test prediction by more than "
        + ("0.0005 ($50)." if moved < 0.0005 else f"{moved:.3f} (${100_000 * moved:,.0f}).")
    )
    if summary.choice is not None:
        line += f" {choice_sentence(summary.choice)}"
    return line if summary.slices is None else f"{line} {slice_sentence(summary.slices)}"


def choice_sentence(choice: Mapping[str, Any]) -> str:
    """Markdown: the budgeted choice (or the closest miss), its bytes and test loss, and
    whether the upper end of that loss's 95% interval stays within the budget."""
    budget, name = choice["max_r2_loss"], choice_name(choice)
    r2 = choice["intervals"]["r2_loss"]
    stored = _stores(choice["payload_bytes"], choice["float_payload_bytes"])
    if choice["met"]:
        text = (
            f"The smallest configuration whose training R² is within the budget of {budget:g} "
            f"of float's (among the sweep's per-tensor configurations) is **{name}**: it {stored}"
        )
    else:
        text = (
            f"No configuration the sweep measured (per tensor) keeps its training R² within "
            f"the budget of {budget:g} of float's; the closest is **{name}**, which loses "
            f"{small_change(choice['train_r2_loss'])} of R² on the training rows and {stored}"
        )
    return (
        f"{text}. On the test rows it {_change(r2['estimate'])} of R² (95% interval "
        f"{small_change(r2['low'])} to {small_change(r2['high'])}), so the budget is "
        f"{'' if r2['high'] <= budget else 'not '}met with 95% confidence."
    )


def slice_sentence(slices: pd.DataFrame) -> str:
    """Markdown: the slice of the test rows whose MAE quantization raises most."""
    name = slices["mae_change"].idxmax()
    row = slices.loc[name]
    change = "rises" if row["mae_change"] > 0 else "changes"
    return (
        f"Of the slices, **{name}** ({row['rows']:,.0f} test rows) loses most: its MAE {change} "
        f"by {row['mae_change']:+.4f} ({row['float_mae']:.4f} → {row['quantized_mae']:.4f}), "
        f"and its predictions move by {row['mean_abs_pred_diff']:.4f} on average."
    )


def _interval_texts(intervals: Mapping[str, Any] | None) -> dict[str, str]:
    """Each loss of a paired bootstrap as ``+0.0008 [+0.0005, +0.0011]``."""
    return {
        key: f"{small_change(v['estimate'])} [{small_change(v['low'])}, {small_change(v['high'])}]"
        for key, v in (intervals or {}).items()
        if isinstance(v, Mapping)
    }


def small_change(value: float) -> str:
    """A small signed difference: 4 decimals, or 2 significant digits below 0.00005."""
    return f"{value:+.4f}" if value == 0 or abs(value) >= 0.00005 else f"{value:+.1e}"


def _cell(value: Any, form: str) -> str:
    if value is None:
        return MISSING
    return value if isinstance(value, str) else form.format(float(value))


def _stores(stored: float, float_bytes: float) -> str:
    if stored < float_bytes:
        return (
            f"stores {stored:,.0f} bytes instead of float64's {float_bytes:,.0f} "
            f"({float_bytes / stored:.1f}× fewer)"
        )
    return f"stores {stored:,.0f} bytes, more than float64's {float_bytes:,.0f}"


def _change(loss: float) -> str:
    """A test R² loss in words, to the 4 decimals the summary shows."""
    if abs(loss) < 0.00005:
        return "loses less than 0.0001"
    return f"loses {loss:.4f}" if loss > 0 else f"gains {-loss:.4f}"


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
    choice = summary.choice
    if choice is None:
        return text + " The bit-width sweep did not run, so there is no budgeted choice."
    found = "is" if choice["met"] else "is none; the closest is"
    return text + (
        f" The smallest configuration within {choice['max_r2_loss']:g} of float's training R² "
        f"{found} {choice_name(choice)}, {choice['payload_bytes']:,} bytes."
    )


def error_table_sentence(n_samples: int) -> str:
    """The sentence above the error table, with the number of test rows it shows."""
    rows = "test row" if n_samples == 1 else f"{n_samples:,} test rows"
    return f"The first {rows}: the true value, both predictions and their errors."
