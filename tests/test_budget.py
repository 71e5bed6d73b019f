"""The budgeted choice, the paired bootstrap's intervals and the slices of the test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calhousing.core import bootstrap, budget, slices
from calhousing.core.data import Split

SWEEP = pd.DataFrame(
    {
        "bits": [4, 8, 8, 8, 16],
        "scheme": ["symmetric", "asymmetric", "symmetric", "symmetric", "asymmetric"],
        "space": ["raw", "raw", "raw", "raw", "standardized"],
        "rounding": ["gptq", "gptq", "gptq", "optimal", "optimal"],
        "delta_train_r2": [-0.0137, -0.0002, -0.0014, -0.0014, -3.4e-10],
        "delta_test_r2": [-0.006, 0.0007, 0.0005, 0.0005, 4e-6],
        "payload_bytes": [25, 27, 25, 25, 166],
    }
)


def _config(row: pd.Series) -> tuple:
    return tuple(row[["bits", "scheme", "space", "rounding"]])


def test_choice_is_the_fewest_bytes_within_the_budget():
    assert _config(budget.choose(SWEEP, 0.001)) == (8, "asymmetric", "raw", "gptq")


def test_a_looser_budget_never_chooses_more_bytes():
    loose = budget.choose(SWEEP, 0.05)
    assert loose["payload_bytes"] == 25 <= budget.choose(SWEEP, 0.001)["payload_bytes"]


def test_equal_bytes_go_to_the_smaller_loss_then_to_the_sweeps_order():
    # 4-bit and both 8-bit symmetric rows store 25 bytes; the 8-bit ones lose less, gptq is first
    assert _config(budget.choose(SWEEP, 0.05)) == (8, "symmetric", "raw", "gptq")


def test_no_configuration_within_a_zero_budget_gives_the_closest_miss():
    closest = budget.choose(SWEEP, 0)
    assert _config(closest) == (16, "asymmetric", "standardized", "optimal")
    assert closest["_loss"] == pytest.approx(3.4e-10)


def test_the_budget_is_checked_like_every_parameter():
    with pytest.raises(ValueError, match="max_r2_loss must be a number from 0 up to"):
        budget.choose(SWEEP, -0.1)


def test_budgeted_choice_on_the_published_split(default_split, float_params):
    from calhousing.core.sweep import sweep

    table = sweep(float_params, default_split, bits=[4, 8], roundings=["nearest", "gptq"])
    choice = budget.budgeted_choice(float_params, default_split, table, 0.001)
    assert (choice["bits"], choice["scheme"], choice["space"], choice["rounding"]) == (
        8,
        "asymmetric",
        "raw",
        "gptq",
    )
    assert (choice["met"], choice["payload_bytes"], choice["float_payload_bytes"]) == (True, 27, 72)
    assert choice["train_r2_loss"] == pytest.approx(0.000165, abs=1e-6)
    assert choice["test_r2_loss"] == pytest.approx(-0.000708, abs=1e-6)
    r2 = choice["intervals"]["r2_loss"]
    assert r2["estimate"] == pytest.approx(choice["test_r2_loss"], abs=1e-12)
    assert (r2["low"], r2["high"]) == pytest.approx((-0.001776, -0.000155), abs=1e-6)


def test_mse_interval_of_a_mean_of_zeros_and_ones_is_the_normal_one():
    # The candidate's squared error is 1 on half of 400 rows and 0 elsewhere, the reference's
    # is 0 everywhere: the MSE added is a mean of 0/1 values, 0.5 with standard error
    # 0.5 / sqrt(400) = 0.025, so its 95% interval is about 0.5 ± 1.96 × 0.025 = 0.451..0.549.
    y = np.arange(400, dtype=np.float64)
    candidate = y + np.tile([0.0, 1.0], 200)
    intervals = bootstrap.paired_bootstrap(y, y, candidate, resamples=4000)
    mse = intervals["mse_increase"]
    assert mse["estimate"] == 0.5
    assert mse["low"] == pytest.approx(0.451, abs=0.008)
    assert mse["high"] == pytest.approx(0.549, abs=0.008)
    # the absolute error added is the same 0/1 mean
    assert intervals["mae_increase"]["estimate"] == 0.5


def test_a_constant_shift_of_a_perfect_model_adds_exactly_its_square():
    y = np.linspace(0.5, 5.0, 50)
    intervals = bootstrap.paired_bootstrap(y, y, y + 0.1)
    for end in ("estimate", "low", "high"):
        assert intervals["mse_increase"][end] == pytest.approx(0.01)
        assert intervals["mae_increase"][end] == pytest.approx(0.1)


def test_intervals_record_how_they_were_drawn():
    y = np.linspace(0.0, 1.0, 20)
    intervals = bootstrap.paired_bootstrap(y, y, y + 0.01)
    assert (intervals["resamples"], intervals["seed"], intervals["confidence"]) == (1000, 0, 0.95)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(-5, 5), min_size=20, max_size=40),  # no resample of one repeated row
    st.integers(0, 2**16),
)
def test_swapping_the_models_mirrors_the_intervals(errors, seed):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=len(errors))
    a, b = y + np.asarray(errors), y + rng.normal(size=len(errors))
    forward = bootstrap.paired_bootstrap(y, a, b, resamples=200, seed=seed)
    backward = bootstrap.paired_bootstrap(y, b, a, resamples=200, seed=seed)
    for loss in ("mse_increase", "mae_increase"):
        assert forward[loss]["low"] == pytest.approx(-backward[loss]["high"], abs=1e-9)
        assert forward[loss]["estimate"] == pytest.approx(-backward[loss]["estimate"], abs=1e-9)


def _split() -> Split:
    train = pd.DataFrame(
        {
            "MedInc": np.arange(1.0, 11.0),
            "Latitude": [37.8, 34.0, 40.0, 37.5, 34.1, 36.0, 38.0, 33.8, 39.0, 35.0],
            "Longitude": [
                -122.4,
                -118.2,
                -120.0,
                -122.0,
                -118.0,
                -119.0,
                -122.2,
                -118.1,
                -121.0,
                -120.5,
            ],
        }
    )
    test = pd.DataFrame(
        {
            "MedInc": [1.5, 9.5, 20.0],
            "Latitude": [37.7, 34.05, 36.5],
            "Longitude": [-122.3, -118.3, -119.5],
        }
    )
    return Split(train, test, pd.Series(np.ones(10)), pd.Series([1.0, 5.00001, 2.0]))


def test_slices_use_training_deciles_the_capped_target_the_range_and_the_boxes():
    masks = slices.slice_masks(_split())
    assert masks["MedInc decile 1"].tolist() == [True, False, False]
    assert masks["MedInc decile 10"].tolist() == [False, True, True]
    assert masks["target capped at 5.00001"].tolist() == [False, True, False]
    assert masks["outside the training range"].tolist() == [False, False, True]
    bay, los_angeles = slices.REGIONS
    assert masks[bay].tolist() == [True, False, False]
    assert masks[los_angeles].tolist() == [False, True, False]
    assert masks[slices.ELSEWHERE].tolist() == [False, False, True]


def test_slice_table_measures_each_non_empty_slice():
    masks = {
        "all": np.array([True, True]),
        "first": np.array([True, False]),
        "none": np.zeros(2, bool),
    }
    table = slices.slice_table(
        masks, pd.Series([1.0, 2.0]), np.array([1.5, 2.0]), np.array([1.0, 2.5])
    )
    assert list(table.index) == ["all", "first"]
    assert table.loc["first"].tolist() == [1, 0.5, 0.0, -0.5, 0.5, 0.5]
    assert table.loc["all", "mae_change"] == 0.0
