"""Tables formatted for a reader: plain-language headers with units, fixed digits, no NaN.

Each column the pipeline shows is declared once in :data:`COLUMNS`, so a notebook's
``formatting.readable(table)`` and the report show the same text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from numbers import Real
from typing import Any

import numpy as np
import pandas as pd

from calhousing.core.data import FEATURE_NAMES
from calhousing.core.training import METRIC_LABELS

MISSING = "—"
# The losses of :func:`calhousing.core.bootstrap.paired_bootstrap`, named.
LOSS_LABELS = {"r2_loss": "R² lost", "mae_increase": "MAE added", "mse_increase": "MSE added"}
STYLES: tuple[str, ...] = ("integer", "decimals", "signed", "significant", "percent", "text")


@dataclass(frozen=True)
class Column:
    """How one column is shown: its header (with its unit) and a style of :data:`STYLES`.

    ``"integer"`` has thousands separators, ``"decimals"`` `digits` decimals, ``"signed"``
    the same with a sign, ``"significant"`` `digits` significant digits, ``"percent"`` the
    value × 100 with `digits` decimals, and ``"text"`` is shown as it is.
    """

    label: str
    style: str = "decimals"
    digits: int = 4

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {self.style!r}")
        if isinstance(self.digits, bool) or not isinstance(self.digits, int) or self.digits < 0:
            raise ValueError(f"digits must be an integer >= 0, got {self.digits!r}")


_PRICE = "($100k)"


def _named(style: str, *names: str) -> dict[str, Column]:
    """Columns whose names already read well as headers, 4 digits where digits apply."""
    return {name: Column(name, style) for name in names}


COLUMNS: dict[str, Column] = {
    # named as a reader would name them
    **_named("integer", "rows", "features", "bits", "code"),
    **_named("integer", "weight bits", "input bits", "bias code"),
    **_named("decimals", *METRIC_LABELS.values(), "quantized", "test R²"),
    **_named("significant", "accumulator scale", *FEATURE_NAMES),
    **_named("text", "space", "rounding", "scheme", "granularity", "result"),
    # the data and the float model
    "mean MedHouseVal ($100k)": Column("mean house value ($100k)", "decimals", 3),
    "value ($100k per feature unit; intercept in $100k)": Column(
        "value ($100k per feature unit; intercept in $100k)", "significant", 6
    ),
    "bytes_on_disk": Column("size on disk (bytes)", "integer"),
    # quantization parameters and errors
    "code dtype": Column("code type", "text"),
    "code range": Column("code range", "text"),
    "scale": Column("scale", "significant", 4),
    "zero_point": Column("zero point", "integer"),
    "payload bytes": Column("bytes stored", "integer"),
    "float": Column("float64", "significant", 6),
    "dequantized": Column("quantized (dequantized)", "significant", 6),
    "abs_error": Column("|float − quantized|", "significant", 3),
    # the integer-only model
    "accumulator bound": Column("largest possible sum", "integer"),
    "int32 max": Column("int32 maximum", "integer"),
    "accumulator dtype": Column("accumulator type", "text"),
    "input_min": Column("input minimum", "significant", 4),
    "input_max": Column("input maximum", "significant", 4),
    "input_scale": Column("input scale", "significant", 4),
    "weight_code": Column("weight code", "integer"),
    "raw_coef_equivalent": Column("coefficient it stands for", "significant", 4),
    # the comparison
    "difference": Column("quantized − float", "signed", 4),
    "true": Column(f"true value {_PRICE}", "decimals", 3),
    "float_pred": Column(f"float64 prediction {_PRICE}", "decimals", 3),
    "quantized_pred": Column(f"quantized prediction {_PRICE}", "decimals", 3),
    "float_abs_error": Column(f"float64 |error| {_PRICE}", "decimals", 3),
    "quantized_abs_error": Column(f"quantized |error| {_PRICE}", "decimals", 3),
    "abs_pred_diff": Column(f"|Δ prediction| {_PRICE}", "decimals", 4),
    "payload_bytes": Column("bytes stored", "integer"),
    "of_which_codes": Column("of which codes (bytes)", "integer"),
    "ratio_to_float": Column("× float64's bytes", "decimals", 2),
    # the slices, the intervals and the budgeted choice
    "float_mae": Column(f"float64 MAE {_PRICE}", "decimals", 4),
    "quantized_mae": Column(f"quantized MAE {_PRICE}", "decimals", 4),
    "mae_change": Column(f"MAE change {_PRICE}", "signed", 4),
    "mean_abs_pred_diff": Column(f"mean |Δ prediction| {_PRICE}", "decimals", 4),
    "estimate": Column("on all test rows", "significant", 3),
    "low": Column("95% interval, low", "significant", 3),
    "high": Column("95% interval, high", "significant", 3),
    "max_r2_loss": Column("budget: training R² loss at most", "significant", 3),
    "met": Column("within budget", "text"),
    "float_payload_bytes": Column("float64 bytes", "integer"),
    "train_r2_loss": Column("training R² lost", "significant", 3),
    "test_r2_loss": Column("test R² lost", "significant", 3),
    # the sweep
    "test_r2": Column("test R²", "decimals", 4),
    "delta_test_r2": Column("test R² − float's", "signed", 4),
    "max_abs_pred_diff": Column(f"max |Δ prediction| {_PRICE}", "significant", 3),
    "in_range_delta_test_r2": Column("test R² − float's, rows in training range", "signed", 4),
    "rows_out_of_range": Column("test rows outside the training range", "integer"),
    "excess_train_mse": Column("training MSE − float's ($100k)²", "significant", 3),
    "excess_ratio": Column("excess training MSE ÷ optimal's", "decimals", 3),
    "codes": Column("codes (bytes)", "integer"),
    "scales": Column("scales (bytes)", "integer"),
    "zero_points": Column("zero points (bytes)", "integer"),
    "intercept": Column("intercept (bytes)", "integer"),
    "statistics": Column("feature means and stds (bytes)", "integer"),
    "on_disk_bytes": Column("JSON file (bytes)", "integer"),
    "payload_vs_float": Column("× float64's bytes", "decimals", 2),
    "outside_training_range": Column("features outside the training range", "text"),
    "residual_share_of_test_sst": Column(
        "share of the test R² this row's error holds", "percent", 1
    ),
    # test rows outside the training range, by model (predict.out_of_range_outcomes)
    "rows outside": Column("test rows outside the range", "integer"),
    "MAE outside": Column(f"MAE outside {_PRICE}", "decimals", 3),
    "max |error| outside": Column(f"max |error| outside {_PRICE}", "decimals", 3),
    "MAE inside": Column(f"MAE inside {_PRICE}", "decimals", 3),
    # ONNX exports scored in onnxruntime (onnx_anchor)
    "max |Δ prediction| vs float model": Column(
        f"max |Δ prediction| vs float model {_PRICE}", "significant", 3
    ),
    "max relative difference vs calhousing": Column(
        "max relative difference vs calhousing", "significant", 2
    ),
    "file bytes": Column("file (bytes)", "integer"),
}
# The format spec of each style that Python's format() writes directly.
_SPECS = {"decimals": ",.{}f", "signed": "+,.{}f", "percent": ".{}%"}


def format_value(value: Any, column: Column) -> str:
    """`value` as `column` shows it; ``None``, NaN and NaT become :data:`MISSING`.

    A list or array (per-channel scales, say) is joined by ", "; infinities are ``∞``, ``−∞``.
    """
    if isinstance(value, list | tuple | np.ndarray):
        return ", ".join(format_value(item, column) for item in np.ravel(value))
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING
    if column.style == "text" or isinstance(value, str) or not isinstance(value, Real):
        return str(value)
    number = float(value)
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if column.style == "integer":
        return f"{int(number):,}" if number.is_integer() else significant(number, 6)
    if column.style == "significant":
        return significant(number, column.digits)
    return format(number, _SPECS[column.style].format(column.digits))


def significant(value: float, digits: int = 4) -> str:
    """`value` with `digits` significant digits, in positional notation where it is readable.

    Magnitudes from 1e-5 to 1e7 are written out (``0.000492``, ``-37.02``,
    ``98,730``); others in scientific notation (``4.02e-06``). Zero is ``0``.
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits!r}")
    if value == 0:
        return "0"
    if not 1e-5 <= abs(value) < 1e7:
        return f"{value:.{digits - 1}e}"
    exponent = math.floor(math.log10(abs(float(f"{value:.{digits - 1}e}"))))
    decimals = max(digits - 1 - exponent, 0)
    return f"{value:,.{decimals}f}"


def readable(
    table: pd.DataFrame,
    columns: Mapping[str, Column] | None = None,
    *,
    every: Column | None = None,
) -> pd.DataFrame:
    """`table` with every cell a string and its headers in plain language.

    Columns are formatted by `columns` (:data:`COLUMNS` by default), or rows when only the
    index is declared (a transposed table); `every` formats every cell one way, headers kept.

    Raises
    ------
    ValueError
        If a column has no format, so no table reaches a reader with a code name and
        unformatted numbers.
    """
    known = COLUMNS if columns is None else columns
    if every is not None:
        return table.map(format_value, column=every)
    unknown = [str(name) for name in table.columns if str(name) not in known]
    if not unknown:
        formatted = table.apply(lambda s: s.map(partial(format_value, column=known[str(s.name)])))
        return formatted.rename(columns=lambda name: known[str(name)].label)
    if all(str(name) in known for name in table.index):
        return readable(table.T, known).T
    raise ValueError(
        f"no format declared for {', '.join(map(repr, unknown))}; add them to "
        "calhousing.report.tables.COLUMNS or pass every=Column(...)"
    )


def grid(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """A pivot of one quantity (`column` of :data:`COLUMNS`), such as a sweep metric by bits
    and configuration, shown cell by cell in that quantity's format."""
    if column not in COLUMNS:
        raise ValueError(f"no format declared for {column!r}; known: {', '.join(COLUMNS)}")
    return readable(table, every=COLUMNS[column])


def metrics_comparison(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`calhousing.report.views.metrics_table` for reading: 4 decimals, named."""
    formatted = readable(table, {**COLUMNS, "float": Column("float64", "decimals", 4)})
    return formatted.rename(index=METRIC_LABELS)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[str]], *, rule: str) -> str:
    """A markdown table of text cells under `rule`, its alignment row (``|:---|---:|``); an
    empty cell is written ``| |``."""
    lines = ["|" + "".join(f" {c} |" if c else " |" for c in row) for row in [header, *rows]]
    return "\n".join([lines[0], rule, *lines[1:]])


def results_markdown(comparison: Mapping[str, Any]) -> str:
    """The README's results table (markdown) from the content of ``comparison.json``:
    float64, quantized and their difference per split and metric, then the largest change
    to a test prediction."""
    rows = [
        [f"{split} {label}", f"{before:.4f}", f"{after:.4f}", f"{after - before:+.4f}"]
        for split in ("test", "train")
        for metric, label in METRIC_LABELS.items()
        for before, after in [(float(comparison[m][split][metric]) for m in ("float", "quantized"))]
    ]
    largest = f"{float(comparison['max_abs_prediction_diff']):.4f}"
    rows.append(["largest change to a test prediction ($100k)", "", largest, ""])
    header = ["", "float64", f"{comparison['bits']}-bit quantized", "difference"]
    return markdown_table(header, rows, rule="|:---|---:|---:|---:|") + "\n"
