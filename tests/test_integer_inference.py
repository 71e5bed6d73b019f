"""Integer-only inference: exact integer arithmetic, the overflow bound, storage, accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest

from calhousing.core import integer_inference as ii
from calhousing.core import serialization, training
from calhousing.core.inference import predict
from calhousing.core.training import LinearParams


@pytest.fixture(scope="module")
def model(float_params, default_split):
    return ii.build_integer_model(float_params, default_split.X_train)


def _exact_accumulator(model, codes):
    """Σ q_j a_j + B in Python's unbounded integers, row by row."""
    weights = [int(q) for q in model.weight_codes]
    return [
        sum(q * int(a) for q, a in zip(weights, row, strict=True)) + model.bias_code
        for row in codes
    ]


def test_predictions_are_one_float_rescale_of_the_exact_integer_sum(model, default_split):
    codes = ii.quantize_inputs(model, default_split.X_test)
    exact = _exact_accumulator(model, codes)
    np.testing.assert_array_equal(ii.accumulate(model, codes), exact)
    expected = model.accumulator_scale * np.asarray(exact, dtype=np.float64)
    np.testing.assert_array_equal(ii.predict_integer(model, default_split.X_test), expected)


def test_inputs_are_8_bit_codes_calibrated_on_the_training_range(model, default_split):
    train_codes = ii.quantize_inputs(model, default_split.X_train)
    assert train_codes.dtype == np.uint8
    assert (train_codes.min(axis=0) == 0).all() and (train_codes.max(axis=0) == 255).all()
    lows = [0.4999, 1.0, 0.8888888888888888, 0.3333333333333333, 3.0, 0.6923076923076923, 32.55]
    np.testing.assert_array_equal(model.input_offset, [*lows, -124.35])


def test_inputs_beyond_the_training_range_saturate(model, default_split):
    x = default_split.X_train.iloc[:2].copy()
    x.iloc[0] = default_split.X_train.max() + 1000
    x.iloc[1] = default_split.X_train.min() - 1000
    codes = ii.quantize_inputs(model, x)
    assert codes[0].tolist() == [255] * 8 and codes[1].tolist() == [0] * 8


def test_real_model_uses_int32_because_its_bound_fits(model):
    assert model.accumulator_dtype == "int32"
    assert model.weight_codes.tolist() == [42, 3, -111, 127, 0, -28, -25, -28]
    assert model.bias_code == 5909
    assert model.accumulator_bound == 98729  # (42+3+111+127+0+28+25+28) × 255 + 5909
    assert model.accumulator_bound <= np.iinfo(np.int32).max


def test_no_input_drives_the_accumulator_past_the_bound(model):
    # The extreme inputs: every code at 0 or 255, chosen to push the sum up or down.
    positive = model.weight_codes > 0
    extremes = np.array([np.where(positive, 255, 0), np.where(positive, 0, 255)], dtype=np.uint8)
    exact = _exact_accumulator(model, extremes)
    assert max(abs(v) for v in exact) <= model.accumulator_bound
    partial = np.cumsum(extremes.astype(np.int64) * model.weight_codes.astype(np.int64), axis=1)
    assert np.abs(partial).max() <= model.accumulator_bound


def test_a_bound_beyond_int32_switches_to_int64_and_stays_exact():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(200, 4))
    params = LinearParams(
        coef=np.array([3.0, -3.0, 2.9, -2.8]), intercept=0.5, feature_names=("a", "b", "c", "d")
    )
    wide = ii.build_integer_model(params, x, bits=16, input_bits=16)
    assert wide.accumulator_bound > np.iinfo(np.int32).max
    assert wide.accumulator_dtype == "int64"
    extremes = np.array([np.where(wide.weight_codes > 0, 65535, 0)], dtype=np.uint16)
    exact = _exact_accumulator(wide, extremes)[0]
    assert exact > np.iinfo(np.int32).max  # int32 would have wrapped here
    assert ii.accumulate(wide, extremes)[0] == exact
    np.testing.assert_allclose(ii.predict_integer(wide, x), predict(params, x), atol=1e-3)


def test_intercept_is_kept_as_an_integer_at_the_accumulator_scale(
    model, float_params, default_split
):
    # The re-fitted bias keeps the mean training prediction at the float model's.
    integer_mean = ii.predict_integer(model, default_split.X_train).mean()
    float_mean = predict(float_params, default_split.X_train).mean()
    assert integer_mean == pytest.approx(float_mean, abs=model.accumulator_scale)
    assert isinstance(model.bias_code, int)


def test_8_bit_integer_inference_holds_test_r2_on_rows_inside_the_calibrated_range(
    model, float_params, default_split
):
    x, y = default_split.X_test, default_split.y_test.to_numpy()
    inside = ((x >= default_split.X_train.min()) & (x <= default_split.X_train.max())).all(axis=1)
    inside = inside.to_numpy()
    float_r2 = training.regression_metrics(y[inside], predict(float_params, x)[inside])["r2"]
    int_r2 = training.regression_metrics(y[inside], ii.predict_integer(model, x)[inside])["r2"]
    assert abs(int_r2 - float_r2) <= 0.002


@pytest.mark.parametrize("rounding", ["gptq", "optimal"])
def test_error_compensating_rounding_works_on_the_integer_path(
    float_params, default_split, rounding
):
    nearest = ii.build_integer_model(float_params, default_split.X_train, bits=4)
    other = ii.build_integer_model(float_params, default_split.X_train, bits=4, rounding=rounding)
    y = default_split.y_train
    mse = {
        name: training.regression_metrics(y, ii.predict_integer(m, default_split.X_train))["mse"]
        for name, m in (("nearest", nearest), (rounding, other))
    }
    assert mse[rounding] <= mse["nearest"] + 1e-9


def test_model_survives_json_storage_exactly(model, default_split):
    text = json.dumps(serialization.integer_model_to_dict(model))
    restored = serialization.integer_model_from_dict(json.loads(text))
    np.testing.assert_array_equal(
        ii.predict_integer(restored, default_split.X_test),
        ii.predict_integer(model, default_split.X_test),
    )
    assert restored.weight_codes.dtype == np.int8


def test_payload_counts_codes_bias_scale_and_input_parameters(model):
    assert model.payload_bytes == 8 * 1 + 4 + 8 + 8 * 8 * 2


def test_columns_are_taken_by_name(model, default_split):
    shuffled = default_split.X_test[list(reversed(default_split.X_test.columns))]
    np.testing.assert_array_equal(
        ii.predict_integer(model, shuffled), ii.predict_integer(model, default_split.X_test)
    )


def test_non_finite_input_is_refused(model, default_split):
    x = default_split.X_test.iloc[:3].copy()
    x.iloc[1, 2] = np.nan
    with pytest.raises(ValueError, match="X must be finite numbers"):
        ii.predict_integer(model, x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bits": 1}, r"bits must be an integer from 2 to 16, got 1"),
        ({"input_bits": 17}, r"input_bits must be an integer from 2 to 16, got 17"),
        ({"rounding": "floor"}, r"rounding must be one of 'nearest', 'gptq', 'optimal'"),
    ],
)
def test_bad_settings_are_refused(float_params, default_split, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ii.build_integer_model(float_params, default_split.X_train, **kwargs)
