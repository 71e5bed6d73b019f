"""Roundings on a fixed grid: nearest, GPTQ-style compensation, and the exact optimum."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calhousing import errors
from calhousing.core import rounding, training
from calhousing.core.inference import predict
from calhousing.core.quantization import code_range, quantize, quantize_model
from calhousing.params import SCHEMES, SPACES


def _brute_force_codes(weights, hessian, scale, zero_point, qmin: int, qmax: int) -> np.ndarray:
    """Exhaustive minimizer of ``excess_loss``, the check of ``optimal_codes``.

    Every combination of the first ``n - 1`` codes is tried; for each, the last
    code's best value is the nearest in-range integer to its conditional optimum
    (a one-dimensional convex quadratic), so nothing is skipped. Cost grows as
    ``(qmax - qmin + 1) ** (n - 1)``: meant for 2- and 3-bit grids.
    """
    w, h, scale, zero_point = rounding._problem(weights, hessian, scale, zero_point)
    n = len(w)
    target = w / scale + zero_point
    gram = h * np.outer(scale, scale)
    levels = np.arange(qmin, qmax + 1, dtype=np.float64)
    best_loss, best = np.inf, np.zeros(n)
    combos = levels.size ** (n - 1)
    chunk = 1 << 18
    for start in range(0, combos, chunk):
        index = np.arange(start, min(start + chunk, combos))
        head = np.stack(
            [levels[(index // levels.size**j) % levels.size] for j in range(n - 1)], axis=1
        )
        offsets = head - target[: n - 1]
        centre = target[-1] - offsets @ gram[: n - 1, -1] / gram[-1, -1]
        last = np.clip(np.rint(centre), qmin, qmax)
        full = np.column_stack([offsets, last - target[-1]])
        losses = np.einsum("ij,jk,ik->i", full, gram, full)
        i = int(np.argmin(losses))
        if losses[i] < best_loss:
            best_loss, best = float(losses[i]), np.append(head[i], last[i])
    return best.astype(np.int64)


@pytest.fixture(scope="module")
def problems(float_params, default_split):
    """The real rounding problem in each space: weights and training Hessian."""
    x = default_split.X_train.to_numpy()
    mean, std = x.mean(axis=0), x.std(axis=0)
    return {
        "raw": (float_params.coef, rounding.centered_hessian(x)),
        "standardized": (float_params.coef * std, rounding.centered_hessian((x - mean) / std)),
    }


def _losses(weights, hessian, bits, scheme):
    grid = quantize(weights, bits, scheme)
    args = (weights, hessian, grid.scale, grid.zero_point, grid.qmin, grid.qmax)
    codes = {
        "nearest": rounding.nearest_codes(
            weights, grid.scale, grid.zero_point, grid.qmin, grid.qmax
        ),
        "gptq": rounding.gptq_codes(*args),
        "optimal": rounding.optimal_codes(*args),
    }
    return (
        {
            name: rounding.excess_loss(
                weights, rounding.grid_values(c, grid.scale, grid.zero_point), hessian
            )
            for name, c in codes.items()
        },
        codes,
        args,
    )


def test_excess_loss_is_the_rise_in_training_mse_with_the_intercept_refitted(default_split):
    x, y = default_split.X_train.to_numpy(), default_split.y_train.to_numpy()
    fitted = training.fit_linear_regression(default_split.X_train, default_split.y_train)
    w, b = fitted.coef_, fitted.intercept_
    perturbed = w + np.linspace(-0.01, 0.01, w.size)
    refit = b + x.mean(axis=0) @ (w - perturbed)
    rise = np.mean((y - x @ perturbed - refit) ** 2) - np.mean((y - x @ w - b) ** 2)
    loss = rounding.excess_loss(w, perturbed, rounding.centered_hessian(x))
    assert loss == pytest.approx(rise, rel=1e-7)


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("bits", [2, 3])
def test_optimal_equals_brute_force_on_the_real_problem(problems, space, scheme, bits):
    weights, hessian = problems[space]
    losses, codes, args = _losses(weights, hessian, bits, scheme)
    brute = _brute_force_codes(*args)
    grid = quantize(weights, bits, scheme)
    brute_loss = rounding.excess_loss(
        weights, rounding.grid_values(brute, grid.scale, grid.zero_point), hessian
    )
    assert losses["optimal"] == pytest.approx(brute_loss, rel=1e-9)
    np.testing.assert_array_equal(codes["optimal"], brute)


@given(
    n=st.integers(2, 4),
    bits=st.integers(2, 3),
    scheme=st.sampled_from(SCHEMES),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=200, deadline=None)
def test_optimal_equals_brute_force_on_random_problems(n, bits, scheme, seed):
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(n, n)) * rng.uniform(0.1, 10, size=n)
    hessian = basis.T @ basis + 1e-3 * np.eye(n)
    weights = rng.normal(size=n) * rng.uniform(0.01, 5, size=n)
    losses, _, args = _losses(weights, hessian, bits, scheme)
    brute = _brute_force_codes(*args)
    grid = quantize(weights, bits, scheme)
    brute_loss = rounding.excess_loss(
        weights, rounding.grid_values(brute, grid.scale, grid.zero_point), hessian
    )
    assert losses["optimal"] <= brute_loss * (1 + 1e-9) + 1e-15
    assert losses["optimal"] <= losses["gptq"] * (1 + 1e-12)
    assert losses["gptq"] <= losses["nearest"]


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_optimal_is_never_worse_than_gptq_which_is_never_worse_than_nearest(
    problems, space, scheme
):
    weights, hessian = problems[space]
    for bits in range(2, 17):
        losses, _, _ = _losses(weights, hessian, bits, scheme)
        assert losses["optimal"] <= losses["gptq"] * (1 + 1e-12), bits
        assert losses["gptq"] <= losses["nearest"], bits


@pytest.mark.parametrize("space", SPACES)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_gptq_model_has_no_higher_training_mse_than_nearest_at_2_to_8_bits(
    float_params, default_split, space, scheme
):
    y = default_split.y_train
    for bits in range(2, 9):
        mse = {
            r: training.regression_metrics(
                y,
                predict(
                    quantize_model(
                        float_params, bits, scheme, "per_tensor", space, r, default_split.X_train
                    ),
                    default_split.X_train,
                ),
            )["mse"]
            for r in ("nearest", "gptq", "optimal")
        }
        assert mse["gptq"] <= mse["nearest"] + 1e-12, bits
        assert mse["optimal"] <= mse["gptq"] + 1e-12, bits


@pytest.mark.parametrize("scheme", SCHEMES)
def test_gptq_is_within_10_percent_of_optimal_at_4_to_8_bits_standardized(problems, scheme):
    weights, hessian = problems["standardized"]
    for bits in range(4, 9):
        losses, _, _ = _losses(weights, hessian, bits, scheme)
        assert losses["gptq"] <= 1.10 * losses["optimal"], bits


def test_gptq_with_an_uncoupled_hessian_is_nearest():
    weights = np.array([0.31, -0.77, 0.05, 0.52])
    grid = quantize(weights, 3)
    args = (grid.scale, grid.zero_point, grid.qmin, grid.qmax)
    hessian = np.diag([1.0, 4.0, 0.5, 2.0])
    np.testing.assert_array_equal(
        rounding.gptq_codes(weights, hessian, *args), rounding.nearest_codes(weights, *args)
    )


def test_gptq_compensates_a_rounding_error_through_a_correlated_coefficient():
    # Two nearly collinear features: rounding one down should push the other up.
    hessian = np.array([[1.0, 0.99], [0.99, 1.0]])
    weights = np.array([0.24, 0.24])  # on the grid 0, ±0.5 both round to 0
    qmin, qmax = code_range(2, "symmetric")
    args = (weights, hessian, 0.5, 0, qmin, qmax)
    nearest = rounding.nearest_codes(weights, 0.5, 0, qmin, qmax)
    gptq = rounding.gptq_codes(*args)
    assert nearest.tolist() == [0, 0]
    assert sorted(gptq.tolist()) == [0, 1]
    assert rounding.excess_loss(weights, rounding.grid_values(gptq, 0.5, 0), hessian) < (
        rounding.excess_loss(weights, rounding.grid_values(nearest, 0.5, 0), hessian)
    )


def test_exhausted_search_budget_is_an_error_not_a_silent_answer(problems):
    weights, hessian = problems["standardized"]
    grid = quantize(weights, 8)
    with pytest.raises(errors.SearchBudgetError, match="max_nodes=1 "):
        rounding.optimal_codes(
            weights, hessian, grid.scale, grid.zero_point, grid.qmin, grid.qmax, max_nodes=1
        )


def test_singular_hessian_is_refused():
    with pytest.raises(ValueError, match="hessian must be symmetric positive definite"):
        rounding.gptq_codes([0.1, 0.2], np.ones((2, 2)), 0.1, 0, -7, 7)


def test_hessian_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r"hessian must be a square matrix of shape \(2, 2\)"):
        rounding.optimal_codes([0.1, 0.2], np.eye(3), 0.1, 0, -7, 7)
