"""A short plain-text summary of a finished run, for a terminal or a container's log, from
what ``03_compare`` wrote, so it shows exactly the numbers of the report."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from calhousing.report.headline import small_change

PREDICTION_COLUMNS = {"true": "true", "float_pred": "float", "quantized_pred": "quantized"}


def run_summary(
    comparison: Mapping[str, Any],
    predictions: pd.DataFrame,
    report: str | os.PathLike[str],
    n_rows: int = 5,
    *,
    parameters: Mapping[str, Any] | None = None,
    choice: Mapping[str, Any] | None = None,
) -> str:
    """The run's `parameters`, the float and quantized test R², the budgeted `choice`
    (``choice.json``) when given, the first `n_rows` of `predictions`
    (``prediction_comparison.csv``) and the report's path.

    Raises
    ------
    ValueError
        If `comparison` lacks a test R², `predictions` a column, or `n_rows` is not a
        positive integer.
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1:
        raise ValueError(f"n_rows must be a positive integer, got {n_rows!r}")
    float_r2 = _test_r2(comparison, "float")
    quantized_r2 = _test_r2(comparison, "quantized")
    bits = comparison.get("bits", "?")
    missing = [name for name in PREDICTION_COLUMNS if name not in predictions.columns]
    if missing:
        raise ValueError(
            f"predictions lacks the column(s) {', '.join(missing)}; expected the columns "
            f"of prediction_comparison.csv: {', '.join(PREDICTION_COLUMNS)}"
        )
    shown = predictions[list(PREDICTION_COLUMNS)].head(n_rows).rename(columns=PREDICTION_COLUMNS)
    table = shown.to_string(float_format=lambda value: f"{value:.4f}", index_names=False)
    settings = ", ".join(f"{name}={value}" for name, value in (parameters or {}).items())
    return (
        (f"Run parameters: {settings}\n" if settings else "")
        + f"Test R²: float {float_r2:.4f}, {bits}-bit quantized {quantized_r2:.4f} "
        f"(difference {quantized_r2 - float_r2:+.4f})\n"
        + ("" if choice is None else _choice_line(choice))
        + f"First {len(shown)} test predictions (median house value, $100k):\n"
        f"{table}\n"
        f"Report: {os.fspath(report)}\n"
    )


def _choice_line(choice: Mapping[str, Any]) -> str:
    r2 = choice["intervals"]["r2_loss"]
    found = "smallest within" if choice["met"] else "none within; closest to"
    return (
        f"Budget (training R² loss at most {choice['max_r2_loss']:g}), {found} it: "
        f"{choice['bits']}-bit {choice['scheme']} {choice['space']} {choice['rounding']} "
        f"({choice['granularity']}), {choice['payload_bytes']} bytes (float64 "
        f"{choice['float_payload_bytes']}); test R² lost {small_change(r2['estimate'])}, "
        f"95% interval {small_change(r2['low'])} to {small_change(r2['high'])}\n"
    )


def report_shows(report_text: str, sha256: str) -> bool:
    """Whether the report's appendix lists `sha256` (the current ``comparison.json``'s)."""
    return sha256 in report_text


def _test_r2(comparison: Mapping[str, Any], model: str) -> float:
    try:
        value = comparison[model]["test"]["r2"]
    except (KeyError, TypeError):
        raise ValueError(
            f"comparison lacks {model}.test.r2; expected the content of comparison.json "
            '({"float": {"test": {"r2": ...}}, "quantized": {...}, ...})'
        ) from None
    return float(value)
