"""Tables as a reader sees them: fixed digits per column, integers as integers, no NaN."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from calhousing.report import tables as formatting
from calhousing.report import views
from calhousing.report.tables import MISSING, Column


@pytest.mark.parametrize(
    ("value", "digits", "expected"),
    [
        (0.000492163, 3, "0.000492"),
        (-37.02327770606391, 4, "-37.02"),
        (0.5757877, 4, "0.5758"),
        (9.9999, 4, "10.00"),
        (98729.0, 4, "98,729"),
        (-4.0249e-06, 3, "-4.02e-06"),
        (123456789.0, 3, "1.23e+08"),
        (0.0, 3, "0"),
    ],
)
def test_significant_keeps_the_digits_asked_for_in_positional_notation(value, digits, expected):
    assert formatting.significant(value, digits) == expected


@given(
    st.floats(min_value=1e-5, max_value=9e6, allow_nan=False).filter(lambda x: x > 0),
    st.integers(min_value=1, max_value=8),
)
def test_significant_rounds_to_within_half_a_unit_of_its_last_digit(value, digits):
    text = formatting.significant(value, digits)
    shown = float(text.replace(",", ""))
    last_digit = 10.0 ** (math.floor(math.log10(value)) - digits + 1)
    assert abs(shown - value) <= last_digit / 2 * (1 + 1e-9) + 1e-15 * value


@pytest.mark.parametrize(
    ("value", "column", "expected"),
    [
        (8.0, Column("bits", "integer"), "8"),
        (np.int64(98729), Column("bound", "integer"), "98,729"),
        (float("nan"), Column("codes", "integer"), MISSING),
        (None, Column("x", "decimals", 3), MISSING),
        (pd.NA, Column("x", "text"), MISSING),
        (0.57494, Column("R²", "decimals", 4), "0.5749"),
        (-0.000837, Column("ΔR²", "signed", 4), "-0.0008"),
        (0.0011, Column("ΔMSE", "signed", 4), "+0.0011"),
        (0.0312, Column("share", "percent", 1), "3.1%"),
        ([0.01234, 0.5], Column("scale", "significant", 2), "0.012, 0.50"),
        (float("inf"), Column("x", "decimals", 2), "∞"),
        ("per_tensor", Column("granularity", "text"), "per_tensor"),
    ],
)
def test_format_value_follows_the_column_style(value, column, expected):
    assert formatting.format_value(value, column) == expected


def test_readable_renames_columns_formats_each_its_own_way_and_shows_no_nan():
    table = pd.DataFrame(
        {
            "codes": [np.nan, 8.0],
            "payload_bytes": [72, 27],
            "payload_vs_float": [1.0, 0.375],
        },
        index=pd.Index(["float64", "8-bit"], name="model"),
    )
    shown = formatting.readable(table)
    assert list(shown.columns) == ["codes (bytes)", "bytes stored", "× float64's bytes"]
    assert shown.to_dict(orient="list") == {
        "codes (bytes)": [MISSING, "8"],
        "bytes stored": ["72", "27"],
        "× float64's bytes": ["1.00", "0.38"],
    }
    assert "NaN" not in shown.to_html() and "nan" not in shown.to_html()


def test_readable_formats_a_table_by_its_rows_when_the_rows_name_the_quantities():
    table = pd.DataFrame(
        {"first": [3.0, 0.12345], "second": [4.0, 0.5]}, index=["bits", "abs_pred_diff"]
    )
    shown = formatting.readable(table)
    assert list(shown.index) == ["bits", "|Δ prediction| ($100k)"]
    assert shown.loc["bits"].tolist() == ["3", "4"]
    assert shown.loc["|Δ prediction| ($100k)"].tolist() == ["0.1235", "0.5000"]


def test_readable_refuses_a_column_it_has_no_format_for():
    with pytest.raises(ValueError, match=r"no format declared for 'mystery'"):
        formatting.readable(pd.DataFrame({"bits": [8], "mystery": [1.5]}))


def test_grid_shows_every_cell_of_a_pivot_in_the_quantity_s_format():
    pivot = pd.DataFrame({("raw", "asymmetric"): [-0.000837, np.nan]}, index=[8, 2])
    assert formatting.grid(pivot, "delta_test_r2").iloc[:, 0].tolist() == ["-0.0008", MISSING]


def test_metrics_comparison_names_the_metrics_and_signs_the_difference():
    table = views.metrics_table(
        {
            "train": {"r2": 0.6126, "mse": 0.5179, "mae": 0.5286},
            "test": {"r2": 0.57579, "mse": 0.5559, "mae": 0.5332},
        },
        {
            "train": {"r2": 0.6106, "mse": 0.5205, "mae": 0.5386},
            "test": {"r2": 0.57494, "mse": 0.5570, "mae": 0.5425},
        },
    )
    shown = formatting.metrics_comparison(table)
    assert shown.loc[("test", "R²")].tolist() == ["0.5758", "0.5749", "-0.0009"]
    assert shown.loc[("test", "MSE ($100k)²")].tolist() == ["0.5559", "0.5570", "+0.0011"]


def test_a_column_style_must_be_known():
    with pytest.raises(ValueError, match="style must be one of"):
        Column("x", "scientific")


def test_markdown_table_aligns_each_column_and_writes_an_empty_cell_as_one_space():
    text = formatting.markdown_table(
        ["", "value", "note"], [["a", "1.5", ""]], rule="|:---|---:|---|"
    )
    assert text == "| | value | note |\n|:---|---:|---|\n| a | 1.5 | |"
