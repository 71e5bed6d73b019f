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


SWEEP = pd.DataFrame(
    {
        "bits": [4, 4, 8],
        "scheme": ["asymmetric", "symmetric", "asymmetric"],
        "space": ["raw", "standardized", "raw"],
        "rounding": ["nearest", "gptq", "nearest"],
        "train_mse": [0.9, 0.52, 0.518],
        "test_r2": [0.60, 0.579, 0.5799],
        "max_abs_pred_diff": [0.9, 0.03, 0.01],
        "payload_bytes": [11, 91, 11],
    }
)


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


def test_best_configuration_is_chosen_by_training_mse_not_by_test_r2():
    best = headline.best_configuration(SWEEP, bits=4)
    assert best["name"] == "symmetric · standardized · gptq"
    assert best["r2"] == pytest.approx(0.579)
    assert best["max_abs_diff"] == pytest.approx(0.03)


def test_best_configuration_names_the_missing_column_or_width():
    with pytest.raises(ValueError, match="train_mse"):
        headline.best_configuration(SWEEP.drop(columns="train_mse"))
    with pytest.raises(ValueError, match="bits=3"):
        headline.best_configuration(SWEEP, bits=3)


def test_table_has_fixed_decimals_per_row_and_a_dash_where_nothing_was_measured():
    summary = headline.headline(
        _comparison(0.001, np.full(10, 0.02)), PARAMS, quantize_model(PARAMS), sweep=SWEEP
    )
    table = headline.headline_table(summary)
    assert list(table.columns) == ["float64", "8-bit", "best 4-bit"]
    assert table.loc["test R²"].tolist() == ["0.5800", "0.5790", "0.5790"]
    assert table.loc["max |Δ prediction| ($100k)", "float64"] == headline.MISSING
    assert table.loc["test MSE ($100k²)", "best 4-bit"] == headline.MISSING
    assert table.loc["parameter bytes stored", "float64"] == "32"


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
        _comparison(0.001, np.array([0.0, 0.02, 0.08])), PARAMS, quantized, sweep=SWEEP
    )
    text = headline.verdict(summary)
    assert "stores 22 bytes instead of float64's 32" in text
    assert "moves no test prediction by more than 0.080 ($8,000)" in text
    # The sweep's best 4-bit row stores 91 bytes against float's 32 and moves one prediction 0.03.
    assert (
        "The best 4-bit configuration (symmetric · standardized · gptq, chosen on the training "
        "rows) loses 0.0010 of test R² but stores 91 bytes, more than float64's 32: it saves no "
        "space, and moves test predictions by up to 0.030 ($3,000)."
    ) in text


def test_verdict_and_paragraph_name_the_best_low_bit_configuration_when_the_sweep_ran():
    summary = headline.headline(
        _comparison(0.001, np.zeros(5)), PARAMS, quantize_model(PARAMS), sweep=SWEEP
    )
    assert "symmetric · standardized · gptq" in headline.verdict(summary)
    assert "symmetric · standardized · gptq" in headline.summary_paragraph(summary)
    no_sweep = headline.headline(_comparison(0.001, np.zeros(5)), PARAMS, quantize_model(PARAMS))
    assert "did not run" in headline.summary_paragraph(no_sweep)


def test_every_label_of_a_4_bit_run_says_4_bit():
    summary = headline.headline(
        _comparison(0.03, np.full(10, 0.2), bits=4),
        PARAMS,
        quantize_model(PARAMS, bits=4),
        sweep=SWEEP,
    )
    assert list(headline.headline_table(summary).columns) == ["float64", "4-bit", "best 4-bit"]
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
