"""The run summary the container prints: built from comparison.json and the predictions CSV."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from calhousing.cli import main
from calhousing.report.summary import run_summary

COMPARISON = {
    "float": {"train": {"r2": 0.61}, "test": {"r2": 0.5757877}},
    "quantized": {"train": {"r2": 0.60}, "test": {"r2": 0.5749482}},
    "max_abs_prediction_diff": 0.08,
    "bits": 8,
}


@pytest.fixture
def predictions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "true": [0.477, 0.458, 5.0, 2.186, 2.78, 1.587, 1.982],
            "float_pred": [0.7191, 1.764, 2.7097, 2.8389, 2.6047, 2.0118, 2.6455],
            "quantized_pred": [0.7681, 1.8135, 2.7582, 2.8887, 2.6534, 2.0597, 2.6951],
            "abs_pred_diff": [0.049, 0.0495, 0.0485, 0.0498, 0.0487, 0.0479, 0.0496],
        }
    )


def test_summary_names_a_missed_budget_and_its_closest_configuration(predictions):
    r2 = {"estimate": -4.3e-6, "low": -1.4e-5, "high": 6.5e-7}
    choice = {
        "max_r2_loss": 0.0,
        "met": False,
        "bits": 16,
        "scheme": "asymmetric",
        "space": "standardized",
        "rounding": "optimal",
        "granularity": "per_tensor",
        "payload_bytes": 166,
        "float_payload_bytes": 72,
        "intervals": {"r2_loss": r2},
    }
    text = run_summary(COMPARISON, predictions, "r.html", choice=choice)
    assert (
        "Budget (training R² loss at most 0), none within; closest to it: 16-bit asymmetric "
        "standardized optimal (per_tensor), 166 bytes (float64 72); test R² lost -4.3e-06, "
        "95% interval -1.4e-05 to +6.5e-07\n"
    ) in text


def test_summary_shows_both_test_r2_to_four_decimals_and_the_bits(predictions):
    text = run_summary(COMPARISON, predictions, "/app/reports/report.html")
    assert "float 0.5758, 8-bit quantized 0.5749 (difference -0.0008)" in text


def test_summary_shows_the_first_five_quantized_predictions_next_to_the_float_ones(predictions):
    lines = run_summary(COMPARISON, predictions, "r.html").splitlines()
    header = lines.index(
        next(line for line in lines if line.split() == ["true", "float", "quantized"])
    )
    rows = [line.split() for line in lines[header + 1 : header + 6]]
    assert rows[0] == ["0", "0.4770", "0.7191", "0.7681"]
    assert rows[4] == ["4", "2.7800", "2.6047", "2.6534"]
    assert "1.5870" not in "\n".join(lines)  # the sixth row is not shown


def test_summary_opens_with_the_runs_parameters_when_given(predictions):
    text = run_summary(
        {**COMPARISON, "bits": 4},
        predictions,
        "r.html",
        parameters={"bits": 4, "scheme": "symmetric"},
    )
    assert text.splitlines()[:2] == [
        "Run parameters: bits=4, scheme=symmetric",
        "Test R²: float 0.5758, 4-bit quantized 0.5749 (difference -0.0008)",
    ]


def test_summary_ends_with_where_the_report_is(predictions):
    text = run_summary(COMPARISON, predictions, "/app/reports/report.html")
    assert text.endswith("Report: /app/reports/report.html\n")


def test_n_rows_chooses_how_many_predictions_are_shown(predictions):
    text = run_summary(COMPARISON, predictions, "r.html", n_rows=2)
    assert "First 2 test predictions" in text
    assert "5.0000" not in text


def test_comparison_without_a_test_r2_is_a_clear_error(predictions):
    broken = {"float": {"test": {"mse": 0.5}}, "quantized": COMPARISON["quantized"]}
    with pytest.raises(ValueError, match=r"comparison lacks float\.test\.r2"):
        run_summary(broken, predictions, "r.html")


def test_predictions_without_the_quantized_column_are_a_clear_error(predictions):
    with pytest.raises(ValueError, match=r"predictions lacks the column.*quantized_pred"):
        run_summary(COMPARISON, predictions.drop(columns="quantized_pred"), "r.html")


@pytest.mark.parametrize("n_rows", [0, -1, 2.5, True])
def test_n_rows_must_be_a_positive_integer(predictions, n_rows):
    with pytest.raises(
        ValueError, match=re.escape(f"n_rows must be a positive integer, got {n_rows!r}")
    ):
        run_summary(COMPARISON, predictions, "r.html", n_rows=n_rows)


def test_summary_command_prints_the_real_runs_figures(pipeline_run, capsys):
    code = main(
        [
            "summary",
            "--artifacts-dir",
            str(pipeline_run["artifacts"]),
            "--reports-dir",
            str(pipeline_run["reports"]),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(
        "Run parameters: test_size=0.2, random_state=42, bits=8, scheme=asymmetric, "
        "granularity=per_tensor, space=raw, rounding=nearest, n_samples=10, max_r2_loss=0.001\n"
    )
    assert "Test R²: float 0.5758, 8-bit quantized 0.5749 (difference -0.0008)" in out
    assert (
        "Budget (training R² loss at most 0.001), smallest within it: 8-bit asymmetric raw gptq "
        "(per_tensor), 27 bytes (float64 72); test R² lost -0.0007, 95% interval -0.0018 to "
        "-0.0002\n"
    ) in out
    assert out.endswith(f"Report: {pipeline_run['report']}\n")


def test_summary_command_without_artifacts_exits_non_zero_naming_the_folder(tmp_path, capsys):
    code = main(["summary", "--artifacts-dir", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 1
    assert f"artifacts_dir {str(tmp_path / 'none')!r} does not exist" in err


def test_summary_command_without_a_report_exits_non_zero(pipeline_run, tmp_path, capsys):
    code = main(
        [
            "summary",
            "--artifacts-dir",
            str(pipeline_run["artifacts"]),
            "--reports-dir",
            str(tmp_path),
        ]
    )
    assert code == 1
    assert "no report at" in capsys.readouterr().err


@pytest.mark.parametrize("n_rows", ["0", "-3"])
def test_summary_command_refuses_fewer_than_one_row_as_bad_usage(n_rows, tmp_path, capsys):
    code = main(["summary", "--artifacts-dir", str(tmp_path), "--n-rows", n_rows])
    assert code == 2
    assert f"--n-rows must be 1 or more, got {n_rows}" in capsys.readouterr().err
