"""Affine quantization: PyTorch/ONNX semantics, edge cases, properties, model-level choices."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from calhousing.core import quantization, serialization, training
from calhousing.core.inference import predict
from calhousing.core.quantization import (
    QuantizedTensor,
    check_model_choices,
    code_range,
    quantize,
    quantize_model,
)
from calhousing.params import GRANULARITIES, ROUNDINGS, SCHEMES, SPACES
from calhousing.report import views

CHOICES = [(s, g) for s in SCHEMES for g in GRANULARITIES]


@pytest.fixture(scope="module")
def float_params(default_split):
    model = training.fit_linear_regression(default_split.X_train, default_split.y_train)
    return training.linear_params(model)


def _within_half_step(x: np.ndarray, tensor) -> bool:
    """|x − x̂| ≤ scale/2, allowing the float rounding of x / scale and (q − z) × scale."""
    x = np.asarray(x, dtype=np.float64)
    slack = 4 * np.spacing(np.max(np.abs(x))) + 1e-9 * tensor.scale
    return bool(np.all(np.abs(x - tensor.dequantize()) <= tensor.scale / 2 + slack))


# The affine semantics


def test_asymmetric_scale_and_zero_point_follow_the_min_max_formulas():
    t = quantize([-1.0, 0.5, 2.0], bits=8)
    assert t.scale == pytest.approx(3.0 / 255, rel=1e-15)
    assert t.zero_point == np.rint(1.0 / t.scale) == 85
    assert t.codes.tolist() == [0, np.rint(0.5 / t.scale) + 85, 255]


def test_range_is_widened_to_include_zero():
    positive = quantize([2.0, 4.0], bits=2)
    assert positive.scale == pytest.approx(4.0 / 3) and positive.zero_point == 0
    negative = quantize([-4.0, -2.0], bits=2)
    assert negative.scale == pytest.approx(4.0 / 3) and negative.zero_point == 3


def test_symmetric_scale_is_max_abs_over_qmax_with_zero_point_zero():
    t = quantize([-2.0, 0.5, 1.0], bits=4, scheme="symmetric")
    assert (t.qmin, t.qmax) == (-7, 7)
    assert t.scale == pytest.approx(2.0 / 7) and t.zero_point == 0
    assert t.codes.tolist() == [-7, 2, 4]


def test_codes_round_half_to_even():
    # Range 0..255 at 8 bits gives scale exactly 1, so x / scale has exact halves.
    t = quantize([0.5, 1.5, 2.5, 3.5, 255.0], bits=8)
    assert t.scale == 1.0
    assert t.codes.tolist() == [0, 2, 2, 4, 255]


@pytest.mark.parametrize(("scheme", "granularity"), CHOICES)
def test_zero_is_exact(scheme, granularity):
    t = quantize([-3.3, 0.0, 7.1], bits=5, scheme=scheme, granularity=granularity)
    assert t.dequantize()[1] == 0.0


@pytest.mark.parametrize("scheme", SCHEMES)
def test_lone_value_sits_at_the_grid_end_and_dequantizes_to_itself(scheme, float_params):
    intercept = float_params.intercept
    t = quantize([intercept], bits=8, scheme=scheme)
    assert t.codes[0] == t.qmin if scheme == "asymmetric" else t.codes[0] == -t.qmax
    assert t.dequantize()[0] == intercept


@given(value=st.floats(-1e12, 1e12, allow_nan=False).filter(lambda v: abs(v) > 1e-300))
@settings(max_examples=300, deadline=None)
def test_lone_value_is_exact_to_the_last_bit_float64_allows(value):
    # x̂ = q × fl(x / q) is x unless no float64 scale reproduces it (then 1 ulp).
    t = quantize([value], bits=8)
    assert abs(t.dequantize()[0] - value) <= np.spacing(abs(value))


@pytest.mark.parametrize(
    ("bits", "scheme", "dtype"),
    [
        (2, "asymmetric", np.uint8),
        (8, "asymmetric", np.uint8),
        (9, "asymmetric", np.uint16),
        (16, "asymmetric", np.uint16),
        (2, "symmetric", np.int8),
        (8, "symmetric", np.int8),
        (9, "symmetric", np.int16),
        (16, "symmetric", np.int16),
    ],
)
def test_codes_use_the_smallest_integer_dtype(bits, scheme, dtype):
    assert quantize([-1.0, 2.0], bits=bits, scheme=scheme).codes.dtype == dtype


def test_intercept_has_its_own_scale_and_zero_point(float_params):
    q = quantize_model(float_params)
    assert q.intercept.scale != q.coef.scale
    assert q.intercept.dequantize()[0] == pytest.approx(float_params.intercept, abs=1e-12)


def test_default_8_bit_model_keeps_test_r2_within_0_002_of_float(float_params, default_split):
    y = default_split.y_test
    float_r2 = training.regression_metrics(y, predict(float_params, default_split.X_test))["r2"]
    quantized = quantize_model(float_params)
    r2 = training.regression_metrics(y, predict(quantized, default_split.X_test))["r2"]
    assert abs(r2 - float_r2) <= 0.002


def test_default_model_is_the_plain_per_tensor_quantization(float_params, default_split):
    default = quantize_model(float_params)
    explicit = quantize_model(
        float_params, 8, "asymmetric", "per_tensor", "raw", "nearest", default_split.X_train
    )
    for model in (default, explicit):
        assert model.coef.codes.tolist() == [185, 93, 65, 255, 91, 90, 3, 0]
        assert model.coef.zero_point == 91
        assert model.coef.scale == pytest.approx(0.004771972438262595, rel=1e-15)
        assert model.intercept.codes.tolist() == [0] and model.intercept.zero_point == 255
        assert model.intercept.scale == pytest.approx(0.14518932433750595, rel=1e-15)
        assert model.intercept.dequantize()[0] == pytest.approx(-37.023277706064015, rel=1e-15)
    assert default.payload_bytes == 8 + 8 + 1 + (1 + 8 + 1)


# Edge cases

EDGE_CASES = {
    "constant vector": np.full(5, 3.7),
    "single value": np.array([-2.5]),
    "all zeros": np.zeros(4),
    "1e-12 to 1e6": np.geomspace(1e-12, 1e6, 19),
    "negative only": -np.geomspace(0.5, 40.0, 6),
    "positive only": np.geomspace(0.5, 40.0, 6),
}


@pytest.mark.parametrize("name", EDGE_CASES)
@pytest.mark.parametrize("bits", [2, 8, 16])
@pytest.mark.parametrize(("scheme", "granularity"), CHOICES)
def test_edge_case_dequantizes_within_half_a_step_without_warnings(name, bits, scheme, granularity):
    x = EDGE_CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = quantize(x, bits=bits, scheme=scheme, granularity=granularity)
        x_hat = t.dequantize()
    qmin, qmax = code_range(bits, scheme)
    assert np.all((t.codes >= qmin) & (t.codes <= qmax))
    assert _within_half_step(x, t)
    if name == "all zeros":
        np.testing.assert_array_equal(x_hat, 0.0)
    if name in ("constant vector", "single value") or granularity == "per_channel":
        np.testing.assert_allclose(x_hat, x, rtol=2**-52, atol=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(bad):
    with pytest.raises(ValueError, match=r"values must be finite numbers; got NaN or inf"):
        quantize([1.0, bad])


@pytest.mark.parametrize("bits", [1, 17, 0, -8, 8.0, "8", True])
def test_bits_outside_2_to_16_are_refused(bits):
    with pytest.raises(ValueError, match=rf"bits must be an integer from 2 to 16, got {bits!r}"):
        quantize([1.0], bits=bits)


@pytest.mark.parametrize(
    ("argument", "value", "allowed"),
    [
        ("scheme", "affine", "'asymmetric', 'symmetric'"),
        ("granularity", "per_row", "'per_tensor', 'per_channel'"),
    ],
)
def test_unknown_scheme_or_granularity_is_refused_naming_the_allowed(argument, value, allowed):
    with pytest.raises(ValueError, match=rf"{argument} must be one of {allowed}, got '{value}'"):
        quantize([1.0], **{argument: value})


def test_empty_values_are_refused():
    with pytest.raises(ValueError, match="values must hold at least one value"):
        quantize([])


# Properties

VALUES = arrays(
    np.float64,
    st.integers(1, 12),
    elements=st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
)
GRIDS = st.sampled_from([(b, s, g) for b in (2, 3, 4, 8, 12, 16) for s, g in CHOICES])


@given(x=VALUES, grid=GRIDS)
@settings(max_examples=400, deadline=None)
def test_codes_lie_in_the_code_range(x, grid):
    bits, scheme, granularity = grid
    t = quantize(x, bits, scheme, granularity)
    qmin, qmax = code_range(bits, scheme)
    assert np.all((t.codes.astype(np.int64) >= qmin) & (t.codes.astype(np.int64) <= qmax))


@given(x=VALUES, grid=GRIDS)
@settings(max_examples=400, deadline=None)
def test_every_value_dequantizes_within_half_a_step(x, grid):
    assert _within_half_step(x, quantize(x, *grid))


@given(x=VALUES, grid=GRIDS)
@settings(max_examples=400, deadline=None)
def test_zero_maps_back_to_exactly_zero(x, grid):
    t = quantize(np.append(x, 0.0), *grid)
    assert t.dequantize()[-1] == 0.0


@given(x=VALUES, grid=GRIDS)
@example(x=np.array([1.1, -1.1]), grid=(3, "asymmetric", "per_tensor"))
@settings(max_examples=400, deadline=None)
def test_dequantized_values_lie_on_the_grid_they_came_from(x, grid):
    # Rounded onto the same grid, each dequantized value gives back its code. (A grid derived
    # afresh from the dequantized values can differ: x = [1.1, -1.1] at 3 bits puts 1.1 on
    # code 6, not 7, since 1.1 / scale is 3.4999999999999996, so the new range is narrower.)
    t = quantize(x, *grid)
    np.testing.assert_array_equal(np.rint(t.dequantize() / t.scale) + t.zero_point, t.codes)


# Model-level choices


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_every_choice_predicts_like_its_dequantized_raw_parameters(
    float_params, default_split, space, rounding
):
    model = quantize_model(
        float_params, 6, "symmetric", "per_tensor", space, rounding, default_split.X_train
    )
    as_stored = predict(model, default_split.X_test)
    as_raw = predict(model.dequantized_params(), default_split.X_test)
    np.testing.assert_allclose(as_stored, as_raw, rtol=0, atol=1e-10)


def test_standardized_space_stores_and_counts_the_feature_statistics(float_params, default_split):
    raw = quantize_model(float_params, X_train=default_split.X_train)
    standardized = quantize_model(float_params, space="standardized", X_train=default_split.X_train)
    mean = [3.88075425750969, 28.60828488372093, 5.4352350204875295, 1.0966847487895381]
    mean += [1426.453003875969, 3.0969611946687525, 35.643149224806194, -119.58229045542636]
    std = [1.9042362577470788, 12.602117730095301, 2.387302579723395, 0.43320142626448643]
    std += [1137.0219480466567, 11.578393509846865, 2.136600595041562, 2.0055928065666584]
    np.testing.assert_allclose(standardized.feature_mean, mean, rtol=1e-15)
    np.testing.assert_allclose(standardized.feature_std, std, rtol=1e-15)
    assert standardized.statistics_bytes == 128  # two float64 per feature
    assert standardized.payload_bytes == raw.payload_bytes + 128
    table = views.parameters_table(standardized)
    assert table.loc["feature mean and std", "payload bytes"] == 128


def test_standardized_coefficients_are_coef_times_std(float_params, default_split):
    model = quantize_model(float_params, 16, space="standardized", X_train=default_split.X_train)
    errors = views.error_table(float_params, model)
    times_std = [0.8543830309268543, 0.12254623807839995, -0.2944101344732998]
    times_std += [0.33925949059448485, -0.00230772314586037, -0.04082910308508852]
    times_std += [-0.8969288766386662, -0.8698417752417174]
    np.testing.assert_allclose(errors["float"].iloc[:-1], times_std, rtol=1e-12)
    assert (errors["abs_error"].iloc[:-1] <= model.coef.scale / 2 * (1 + 1e-9)).all()


@pytest.mark.parametrize("rounding", ["gptq", "optimal"])
def test_error_compensating_roundings_refit_the_intercept(float_params, default_split, rounding):
    model = quantize_model(float_params, 4, rounding=rounding, X_train=default_split.X_train)
    train_pred = predict(model, default_split.X_train)
    # The least-squares intercept makes the mean training prediction the mean target.
    assert train_pred.mean() == pytest.approx(default_split.y_train.mean(), abs=1e-9)


def test_quantized_model_survives_the_json_round_trip(float_params, default_split):
    model = quantize_model(
        float_params,
        5,
        "symmetric",
        "per_channel",
        "standardized",
        "optimal",
        default_split.X_train,
    )
    restored = serialization.quantized_from_dict(serialization.quantized_to_dict(model))
    assert (restored.space, restored.rounding) == ("standardized", "optimal")
    np.testing.assert_array_equal(
        predict(restored, default_split.X_test),
        predict(model, default_split.X_test),
    )


@pytest.mark.parametrize(
    ("argument", "value"), [("space", "log"), ("rounding", "stochastic"), ("scheme", "")]
)
def test_unknown_model_choice_is_refused(float_params, argument, value):
    with pytest.raises(ValueError, match=rf"{argument} must be one of .*, got '{value}'"):
        quantize_model(float_params, **{argument: value})


@pytest.mark.parametrize(("space", "rounding"), [("standardized", "nearest"), ("raw", "gptq")])
def test_choices_that_need_training_data_say_so(float_params, space, rounding):
    with pytest.raises(ValueError, match="X_train is required"):
        quantize_model(float_params, space=space, rounding=rounding)


def test_constant_feature_cannot_be_standardized(float_params, default_split):
    x = default_split.X_train.assign(HouseAge=1.0)
    with pytest.raises(ValueError, match="constant feature column"):
        quantize_model(float_params, space="standardized", X_train=x)


def test_choices_can_be_checked_before_anything_is_read():
    check_model_choices(4, "symmetric", "per_channel", "standardized", "optimal")
    with pytest.raises(ValueError, match="rounding must be one of"):
        check_model_choices(rounding="round")


def test_the_standardized_space_scales_by_std_and_moves_the_mean_into_the_intercept():
    coef, intercept = np.array([2.0, -1.0]), 3.0
    mean, std = np.array([1.0, 3.0]), np.array([0.5, 4.0])
    standardized, shifted = quantization.standardized_space(coef, intercept, mean, std)
    np.testing.assert_array_equal(standardized, [1.0, -4.0])
    assert shifted == 2.0  # 3 + (1 × 2 + 3 × -1)
    one, zero = np.array(1.0), np.array(0, dtype=np.int8)
    model = quantization.QuantizedModel(
        coef=QuantizedTensor(np.array([1, -4], dtype=np.int8), one, zero, 4, "symmetric"),
        intercept=QuantizedTensor(np.array([2], dtype=np.int8), one, zero, 4, "symmetric"),
        feature_names=("a", "b"),
        space="standardized",
        feature_mean=mean,
        feature_std=std,
    )
    raw = model.dequantized_params()
    np.testing.assert_array_equal(raw.coef, coef)
    assert raw.intercept == intercept
    own_coef, own_intercept = model.in_own_space(raw)  # and back: the codes' own values
    np.testing.assert_array_equal(own_coef, [1.0, -4.0])
    assert own_intercept == 2.0
    x = np.array([[1.5, 7.0]])
    np.testing.assert_array_equal(quantization.standardize(x, mean, std), [[1.0, 1.0]])
    assert model.predict_features(x).tolist() == [-1.0]  # 1 - 4 + 2, as 1.5 × 2 + 7 × -1 + 3
