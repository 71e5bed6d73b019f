"""The bit-width sweep, its tables and the checks of the project's accuracy targets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from calhousing.core import serialization, sweep
from calhousing.core.integer_inference import build_integer_model
from calhousing.core.quantization import quantize_model
from calhousing.report import plots
from calhousing.run import artifacts


@pytest.fixture(scope="module")
def table(float_params, default_split):
    return sweep.sweep(float_params, default_split)


def _run_models(float_params, default_split, bits):
    """The quantized and integer-only models 02_quantize writes with `bits` and the defaults."""
    return (
        quantize_model(float_params, bits),
        build_integer_model(float_params, default_split.X_train, bits=bits),
    )


@pytest.fixture(scope="module")
def integer(float_params, default_split):
    return sweep.integer_comparison(
        float_params, default_split, *_run_models(float_params, default_split, 8)
    )


def test_sweep_has_one_row_per_bits_scheme_space_and_rounding(table):
    assert len(table) == 15 * 2 * 2 * 3
    assert not table.duplicated(sweep.CONFIG_COLUMNS).any()
    assert sorted(table["bits"].unique()) == list(range(2, 17))
    assert table.notna().all().all()


def test_sweep_row_matches_the_model_it_describes(table, float_params, default_split):
    row = table[
        (table["bits"] == 5)
        & (table["scheme"] == "symmetric")
        & (table["space"] == "standardized")
        & (table["rounding"] == "gptq")
    ].iloc[0]
    assert row["test_r2"] == pytest.approx(0.5715838030088393, abs=1e-12)
    assert row["payload_bytes"] == 153


def test_optimal_is_the_floor_of_the_excess_training_mse(table):
    excess = sweep.metric_table(table, "excess_train_mse")
    floor = excess.xs("optimal", axis=1, level="rounding")
    for rounding in ("nearest", "gptq"):
        other = excess.xs(rounding, axis=1, level="rounding")
        assert (other >= floor - 1e-12).all().all(), rounding
    assert (sweep.excess_ratio_table(table) >= 1 - 1e-6).all().all()


def test_metric_table_has_a_row_per_bit_width_and_a_column_per_configuration(table):
    pivot = sweep.metric_table(table, "delta_test_r2")
    assert pivot.shape == (15, 12)
    assert pivot.columns.names == ["space", "scheme", "rounding"]


def test_size_table_counts_every_stored_byte(float_params, default_split):
    sizes = sweep.size_table(float_params, default_split)
    assert sizes.loc["float64", "payload_bytes"] == 9 * 8
    raw = sizes.loc["8-bit asymmetric per_tensor raw"]
    assert raw["payload_bytes"] == 8 + 8 + 1 + (1 + 8 + 1)
    standardized = sizes.loc["8-bit asymmetric per_tensor standardized"]
    assert standardized["statistics"] == 128
    assert standardized["payload_bytes"] == raw["payload_bytes"] + 128
    per_channel = sizes.loc["8-bit symmetric per_channel raw"]
    assert per_channel["scales"] == 64 and per_channel["zero_points"] == 0
    parts = ["codes", "scales", "zero_points", "intercept", "statistics"]
    quantized = sizes.drop(index=["float64", "8-bit integer-only"])
    assert (quantized[parts].sum(axis=1) == quantized["payload_bytes"]).all()


def test_on_disk_bytes_are_the_size_of_the_written_file(float_params, tmp_path):
    model = quantize_model(float_params)
    path = tmp_path / "quantized.json"
    artifacts.write_json(path, serialization.quantized_to_dict(model))
    assert serialization.json_bytes(serialization.quantized_to_dict(model)) == path.stat().st_size


def test_integer_comparison_puts_integer_inference_beside_the_runs_model(integer):
    assert list(integer.index) == [
        "float64",
        "this run's 8-bit model, dequantized weights",
        "this run's 8-bit integer-only",
    ]
    assert integer.loc["float64", "delta_test_r2"] == 0
    assert (integer["rows_out_of_range"] == 3).all()
    assert abs(integer.loc["this run's 8-bit integer-only", "in_range_delta_test_r2"]) <= 0.002


def test_integer_comparison_measures_the_models_it_is_given_not_8_bit_ones(
    float_params, default_split, integer
):
    four = sweep.integer_comparison(
        float_params, default_split, *_run_models(float_params, default_split, 4)
    )
    assert list(four.index) == [
        "float64",
        "this run's 4-bit model, dequantized weights",
        "this run's 4-bit integer-only",
    ]
    # the 8-bit dequantized model loses 0.00084 of test R²; the 4-bit one far more
    assert integer.iloc[1]["delta_test_r2"] == pytest.approx(-0.000840, abs=1e-6)
    assert four.iloc[1]["delta_test_r2"] < -0.01


def test_out_of_range_rows_name_the_feature_beyond_the_training_range(float_params, default_split):
    rows = sweep.out_of_range_rows(float_params, default_split)
    assert len(rows) == 3
    assert rows.loc[1979, "outside_training_range"] == "AveBedrms"
    assert rows["residual_share_of_test_sst"].idxmax() == 1979


def test_target_checks_mark_pass_exactly_when_the_measure_meets_its_target(table, integer):
    checks = sweep.target_checks(table, integer)
    assert len(checks) == 19
    limits = checks["target"].str.removeprefix("≤ ").astype(float)
    assert ((checks["measured"] <= limits) == (checks["result"] == "PASS")).all()
    default = checks[checks["number"] == "|ΔR²| at 8 bits, default"].iloc[0]
    assert default["result"] == "PASS"


def test_three_bit_best_configuration_is_chosen_by_training_mse_not_test(table, integer):
    checks = sweep.target_checks(table, integer)
    row = checks[checks["number"] == "|ΔR²| at 3 bits, best configuration"].iloc[0]
    # nearest, gptq and optimal tie on training MSE here; the best by test R² would be
    # asymmetric standardized optimal, at |ΔR²| 0.000492
    assert row["configuration"] == "3-bit symmetric standardized nearest (lowest training MSE)"
    assert row["measured"] == pytest.approx(0.0062780736264740344, abs=1e-12)


def test_target_checks_need_the_configurations_they_measure(table, integer):
    with pytest.raises(ValueError, match="holds 0 rows for 8-bit"):
        sweep.target_checks(table[table["bits"] != 8], integer)


def test_sweep_figures_describe_themselves(table, float_params, default_split):
    reference = sweep.float_reference(float_params, default_split)
    heatmap = plots.sweep_heatmap(table)
    assert "12 configurations" in heatmap.alt
    assert "within 0.001 of float's R² from 12 bits" in heatmap.alt
    assert heatmap.axes[0].get_title() == "Test R² lost (+: gained)"
    pareto = plots.pareto_plot(table, float_bytes=72)
    assert "smallest within 0.001 of float's R² is 8-bit raw symmetric gptq, 25 bytes" in pareto.alt
    assert pareto.axes[0].get_legend() is not None
    excess = plots.excess_mse_plot(table)
    assert len(excess.axes) == 4 and "floor" in excess.alt
    assert len(excess.legends) == 1 and all(ax.get_legend() is None for ax in excess.axes)
    assert np.isfinite(reference["train_mse"])


def test_pareto_front_keeps_only_configurations_nothing_beats_on_bytes_and_r2():
    table = pd.DataFrame(
        {
            "bits": [2, 4, 8, 8, 16, 16],
            "payload_bytes": [25, 25, 25, 27, 34, 40],
            "delta_test_r2": [-0.5, -0.01, 0.002, 0.001, -0.0001, 0.0001],
        }
    )
    front = plots.pareto_front(table)
    assert front["bits"].tolist() == [8, 8, 16]
    assert front["payload_bytes"].tolist() == [25, 27, 34]


def test_sweep_heatmap_marks_each_gain_over_float_with_a_plus():
    table = sweep_like(delta=[-0.01, 0.002, -0.0001, 0.0003])
    texts = [text.get_text() for text in plots.sweep_heatmap(table).axes[0].texts]
    assert texts == ["+", "+"]


def sweep_like(delta: list[float]) -> pd.DataFrame:
    """A two-configuration, two-bit-width sweep table with the given ΔR²."""
    return pd.DataFrame(
        {
            "bits": [4, 8, 4, 8],
            "space": ["raw"] * 4,
            "scheme": ["asymmetric", "asymmetric", "symmetric", "symmetric"],
            "rounding": ["nearest"] * 4,
            "delta_test_r2": delta,
            "max_abs_pred_diff": [0.5, 0.05, 0.6, 0.04],
        }
    )
