"""The report's summary: numbers taken from the comparison and the sweep, verdict computed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from calhousing.core.evaluation import Comparison, prediction_frame
from calhousing.core.quantization import quantize_model
from calhousing.core.training import LinearParams
from calhousing.report import headline

PARAMS = LinearParams(
    coef=np.array([0.5, -0.25, 0.125]), intercept=-3.0, feature_names=("a", "b", "c")
)


def _comparison(r2_loss: float, moves: np.ndarray, bits: int = 8) -> Comparison:
    true = pd.Series(np.linspace(0.5, 5.0, len(moves)))
    float_pred = true.to_numpy() + 0.1
    return Comparison(
        float_metrics={"test": {"r2": 0.58, "mse": 0.556, "mae": 0.533}},
        quantized_metrics={"test": {"r2": 0.58 - r2_loss, "mse": 0.557, "mae": 0.54}},
        predictions=prediction_frame(true, float_pred, float_pred + moves),
        bits=bits,
    )


def _interval(estimate: float, low: float, high: float) -> dict[str, float]:
    return {"estimate": estimate, "low": low, "high": high}


INTERVALS = {
    "resamples": 1000,
    "seed": 0,
    "confidence": 0.95,
    "r2_loss": _interval(0.0004, -0.0002, 0.0009),
    "mae_increase": _interval(0.002, 0.001, 0.003),
    "mse_increase": _interval(0.0003, -0.0001, 0.0007),
}
CHOICE = {
    "max_r2_loss": 0.001,
    "met": True,
    "bits": 6,
    "scheme": "symmetric",
    "space": "raw",
    "rounding": "gptq",
    "granularity": "per_tensor",
    "payload_bytes": 20,
    "float_payload_bytes": 32,
    "train_r2_loss": 0.0006,
    "test_r2_loss": 0.0004,
    "test": {"r2": 0.5796, "mse": 0.5563, "mae": 0.535},
    "max_abs_pred_diff": 0.03,
    "intervals": INTERVALS,
}


def test_p99_and_max_of_prediction_changes_come_from_every_row():
    moves = np.r_[np.full(99, 0.01), 0.5]
    summary = headline.headline(_comparison(0.001, moves), PARAMS, quantize_model(PARAMS))
    assert summary.quantized_model["max_abs_diff"] == pytest.approx(0.5)
    # the 99th percentile of 99 moves of 0.01 and one of 0.5, interpolated between the 99th
    # and 100th of the sorted values: 0.01 + 0.01 × (0.5 - 0.01)
    assert summary.quantized_model["p99_abs_diff"] == pytest.approx(0.0149)


def test_bytes_are_float64_parameters_against_codes_scales_and_zero_points():
    quantized = quantize_model(PARAMS)
    summary = headline.headline(_comparison(0.001, np.zeros(10)), PARAMS, quantized)
    assert summary.float_model["payload_bytes"] == 4 * 8
    assert summary.quantized_model["payload_bytes"] == 22


def test_table_has_fixed_decimals_per_row_and_a_dash_where_nothing_was_measured():
    summary = headline.headline(
        _comparison(0.001, np.full(10, 0.02)), PARAMS, quantize_model(PARAMS), CHOICE
    )
    table = headline.headline_table(summary)
    chosen = "smallest within budget: 6-bit · symmetric · raw · gptq"
    assert list(table.columns) == ["float64", "8-bit (this run)", chosen]
    assert table.loc["test R²"].tolist() == ["0.5800", "0.5790", "0.5796"]
    assert table.loc["max |Δ prediction| ($100k)", "float64"] == headline.MISSING
    assert table.loc["99th percentile |Δ prediction| ($100k)", chosen] == headline.MISSING
    assert table.loc["test R² lost, 95% interval", chosen] == "+0.0004 [-0.0002, +0.0009]"
    assert table.loc["parameter bytes stored"].tolist() == ["32", "22", "20"]
    assert "test MSE ($100k)²" in table.index  # the unit as every other table writes it


def test_verdict_follows_the_numbers_across_the_tolerance():
    params, quantized = PARAMS, quantize_model(PARAMS)
    moves = np.array([0.0, 0.01, 0.08])
    kept = headline.verdict(headline.headline(_comparison(0.0008, moves), params, quantized))
    lost = headline.verdict(headline.headline(_comparison(0.05, moves), params, quantized))
    assert kept.startswith("**Verdict:** the 8-bit model can replace the float one.")
    assert "loses 0.0008 of test R² (0.5800 → 0.5792; this summary accepts up to 0.002)" in kept
    assert lost.startswith(
        "**Verdict:** the 8-bit model cannot replace the float one: it costs too much accuracy."
    )
    assert "loses 0.0500 of test R²" in lost


def test_verdict_says_what_each_model_costs_in_bytes_and_in_the_worst_prediction():
    quantized = quantize_model(PARAMS)
    summary = headline.headline(
        _comparison(0.001, np.array([0.0, 0.02, 0.08])), PARAMS, quantized, CHOICE
    )
    text = headline.verdict(summary)
    assert "stores 22 bytes instead of float64's 32" in text
    assert "moves no test prediction by more than 0.080 ($8,000)" in text
    assert (
        "The smallest configuration whose training R² is within the budget of 0.001 of float's "
        "(among the sweep's per-tensor configurations) is **6-bit · symmetric · raw · gptq**: it "
        "stores 20 bytes instead of float64's 32 (1.6× fewer). On the test rows it loses 0.0004 "
        "of R² (95% interval -0.0002 to +0.0009), so the budget is met with 95% confidence."
    ) in text


def test_budget_not_met_at_95_percent_when_the_interval_reaches_past_it():
    wide = {**CHOICE, "intervals": {**INTERVALS, "r2_loss": _interval(0.0004, -0.0002, 0.0012)}}
    text = headline.choice_sentence(wide)
    assert text.endswith(
        "(95% interval -0.0002 to +0.0012), so the budget is not met with 95% confidence."
    )


def test_a_missed_budget_names_the_closest_configuration():
    missed = {**CHOICE, "met": False, "max_r2_loss": 0.0, "train_r2_loss": 3.4e-10}
    text = headline.choice_sentence(missed)
    assert text.startswith(
        "No configuration the sweep measured (per tensor) keeps its training R² within the "
        "budget of 0 of float's; the closest is **6-bit · symmetric · raw · gptq**, which loses "
        "+3.4e-10 of R² on the training rows"
    )
    assert "budget is not met with 95% confidence" in text
    summary = headline.headline(
        _comparison(0.001, np.zeros(5)), PARAMS, quantize_model(PARAMS), missed
    )
    assert "closest to budget: 6-bit · symmetric · raw · gptq" in headline.headline_table(summary)
    assert "is none; the closest is 6-bit" in headline.summary_paragraph(summary)


def test_verdict_and_paragraph_name_the_budgeted_choice_when_the_sweep_ran():
    summary = headline.headline(
        _comparison(0.001, np.zeros(5)), PARAMS, quantize_model(PARAMS), CHOICE
    )
    assert "6-bit · symmetric · raw · gptq" in headline.verdict(summary)
    assert "6-bit · symmetric · raw · gptq, 20 bytes" in headline.summary_paragraph(summary)
    no_sweep = headline.headline(_comparison(0.001, np.zeros(5)), PARAMS, quantize_model(PARAMS))
    assert "did not run" in headline.summary_paragraph(no_sweep)


def test_slice_sentence_names_the_slice_whose_mae_rises_most():
    slices = pd.DataFrame(
        {
            "rows": [10, 4],
            "float_mae": [0.5, 1.5],
            "quantized_mae": [0.51, 1.53],
            "mae_change": [0.01, 0.03],
            "mean_abs_pred_diff": [0.02, 0.05],
            "max_abs_pred_diff": [0.04, 0.09],
        },
        index=pd.Index(["Los Angeles", "capped"], name="slice"),
    )
    assert headline.slice_sentence(slices) == (
        "Of the slices, **capped** (4 test rows) loses most: its MAE rises by +0.0300 "
        "(1.5000 → 1.5300), and its predictions move by 0.0500 on average."
    )


def test_every_label_of_a_4_bit_run_says_4_bit():
    summary = headline.headline(
        _comparison(0.03, np.full(10, 0.2), bits=4),
        PARAMS,
        quantize_model(PARAMS, bits=4),
    )
    assert list(headline.headline_table(summary).columns) == ["float64", "4-bit (this run)"]
    assert headline.verdict(summary).startswith(
        "**Verdict:** the 4-bit model cannot replace the float one: it costs too much accuracy. "
        "It stores 22 bytes instead of float64's 32 (1.5× fewer), loses 0.0300 of test R²"
    )
    paragraph = headline.summary_paragraph(summary)
    assert "were quantized to 4-bit integer codes" in paragraph
    assert "8-bit" not in paragraph + headline.verdict(summary)


def test_verdict_of_a_model_that_stores_more_than_float_says_it_saves_no_space():
    quantized = quantize_model(PARAMS, 8, "asymmetric", "per_channel")
    summary = headline.headline(_comparison(0.0, np.zeros(4)), PARAMS, quantized)
    text = headline.verdict(summary)
    assert text.startswith(
        "**Verdict:** the 8-bit model keeps the float model's accuracy but saves no space. "
        "It stores 40 bytes, more than float64's 32, "
        "loses less than 0.0001 of test R²"
    )
    assert text.endswith("moves no test prediction by more than 0.0005 ($50).")


@pytest.mark.parametrize(
    ("n_samples", "sentence"),
    [
        (1, "The first test row: the true value, both predictions and their errors."),
        (3, "The first 3 test rows: the true value, both predictions and their errors."),
        (4128, "The first 4,128 test rows: the true value, both predictions and their errors."),
    ],
)
def test_the_error_tables_sentence_counts_its_rows(n_samples, sentence):
    assert headline.error_table_sentence(n_samples) == sentence
