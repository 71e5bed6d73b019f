"""Choosing the integer codes of a linear model's coefficients on a fixed grid.

Every rounding here picks, for each coefficient ``w_j``, a code ``k_j`` in
``qmin..qmax`` on the grid ``w_hat_j = (k_j - zero_point_j) * scale_j``; they
differ only in which codes they pick.

For a least-squares model with its intercept re-fitted after rounding, the
training loss grows by exactly ``(w_hat - w)ᵀ H (w_hat - w)`` with ``H`` the
covariance of the training features (:func:`centered_hessian`): that is the
quantity :func:`gptq_codes` reduces greedily and :func:`optimal_codes` minimizes
exactly.

* ``nearest``: each coefficient to its nearest grid point, round half to even.
* ``gptq``: Optimal Brain Quantization / GPTQ (Frantar et al., 2022): one
  coefficient at a time, then the not-yet-quantized ones absorb its error
  through the inverse Hessian; the better of that pass and ``nearest``.
* ``optimal``: the exact minimizer over the grid, by Schnorr–Euchner branch and
  bound (sphere decoding) in the Cholesky basis of the Hessian.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from calhousing.errors import SearchBudgetError
from calhousing.params import ROUNDINGS  # noqa: F401 (declared once, as a Literal, in params)

DEFAULT_MAX_NODES = 5_000_000


def centered_hessian(features: ArrayLike) -> np.ndarray:
    """``Xcᵀ Xc / n`` for the column-centred `features`: the least-squares Hessian.

    With the intercept re-fitted after rounding, a coefficient error ``d`` raises
    the training MSE by exactly ``dᵀ H d``: centring is the intercept column
    eliminated from ``[X 1]ᵀ [X 1]`` (its Schur complement).
    """
    x = np.asarray(features, dtype=np.float64)
    centred = x - x.mean(axis=0)
    return centred.T @ centred / len(x)


def excess_loss(weights: ArrayLike, rounded: ArrayLike, hessian: ArrayLike) -> float:
    """``(rounded - weights)ᵀ H (rounded - weights)``: the rise in training MSE."""
    d = np.asarray(rounded, dtype=np.float64) - np.asarray(weights, dtype=np.float64)
    return float(d @ np.asarray(hessian, dtype=np.float64) @ d)


def grid_values(codes: ArrayLike, scale: ArrayLike, zero_point: ArrayLike) -> np.ndarray:
    """``(codes - zero_point) * scale`` as float64, the values the codes stand for."""
    offsets = np.asarray(codes, dtype=np.int64) - np.asarray(zero_point, dtype=np.int64)
    return offsets * np.asarray(scale, dtype=np.float64)


def nearest_codes(
    weights: ArrayLike, scale: ArrayLike, zero_point: ArrayLike, qmin: int, qmax: int
) -> np.ndarray:
    """``clip(round_half_even(w / scale) + zero_point, qmin, qmax)`` as int64."""
    w = np.asarray(weights, dtype=np.float64)
    codes = np.rint(w / np.asarray(scale, dtype=np.float64)) + np.asarray(zero_point)
    return np.clip(codes, qmin, qmax).astype(np.int64)


def gptq_codes(
    weights: ArrayLike,
    hessian: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    qmin: int,
    qmax: int,
) -> np.ndarray:
    """Error-compensating sequential rounding (OBQ / GPTQ), never worse than nearest.

    Coefficients are quantized one at a time; after coefficient ``i`` is rounded
    to ``q_i``, the not-yet-quantized ones move by ``-(w_i - q_i) / Hinv_ii ·
    Hinv_{i,rest}`` (the Optimal Brain Surgeon update) and ``i`` is removed from
    the inverse Hessian ``Hinv``. A greedy pass depends on its order and can end
    worse than plain rounding, so three passes are made (the given order, GPTQ's
    "act order" of decreasing Hessian diagonal, and decreasing conditional
    precision ``1 / Hinv_ii``, the coefficient hardest to compensate first) and
    the codes with the smallest :func:`excess_loss` among them and ``nearest``
    are returned (``nearest`` on a tie). With eight coefficients a pass costs
    microseconds.

    Parameters
    ----------
    weights : array-like of shape (n,)
        The float coefficients.
    hessian : array-like of shape (n, n)
        Symmetric positive definite, e.g. :func:`centered_hessian`.
    scale, zero_point : array-like of shape () or (n,)
        The grid.
    qmin, qmax : int
        The code range.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)
    """
    w, h, scale, zero_point = _problem(weights, hessian, scale, zero_point)
    candidates = [nearest_codes(w, scale, zero_point, qmin, qmax)]
    for order in _gptq_orders(h * np.outer(scale, scale)):
        candidates.append(_gptq_pass(w, h, scale, zero_point, qmin, qmax, order))
    losses = [excess_loss(w, grid_values(c, scale, zero_point), h) for c in candidates]
    return candidates[int(np.argmin(losses))]


def optimal_codes(
    weights: ArrayLike,
    hessian: ArrayLike,
    scale: ArrayLike,
    zero_point: ArrayLike,
    qmin: int,
    qmax: int,
    max_nodes: int = DEFAULT_MAX_NODES,
) -> np.ndarray:
    """The codes that minimize :func:`excess_loss` over the whole grid, exactly.

    A closest-vector problem in a box: with ``u = w / scale + zero_point`` (the
    ideal real-valued codes) and ``G = S H S`` (``S = diag(scale)``), minimize
    ``(k - u)ᵀ G (k - u)`` over integer ``k`` in ``[qmin, qmax]ⁿ``. With
    ``G = Rᵀ R`` (Cholesky, upper ``R``) the loss is a sum of per-level squares,
    ``Σ_i R_ii² (k_i - c_i(k_{i+1..n}))²``, so a depth-first Schnorr–Euchner
    enumeration (candidates at each level in order of distance from the centre
    ``c_i``) can stop a level as soon as its partial sum reaches the best loss
    found so far. The search starts from the :func:`gptq_codes` solution as the
    incumbent, and the variables are ordered so the levels searched first are the
    best determined ones (largest conditional precision). Every pruned branch
    provably holds no better point, so the result is the exact minimizer; on
    ties the earlier incumbent is kept.

    Parameters
    ----------
    weights, hessian, scale, zero_point, qmin, qmax
        As in :func:`gptq_codes`.
    max_nodes : int, default=5_000_000
        Search nodes allowed before giving up.

    Returns
    -------
    numpy.ndarray of int64, shape (n,)

    Raises
    ------
    SearchBudgetError
        If optimality is not proven within `max_nodes` nodes (never silently
        returns a non-optimal point).
    """
    w, h, scale, zero_point = _problem(weights, hessian, scale, zero_point)
    incumbent = gptq_codes(w, h, scale, zero_point, qmin, qmax)
    target = w / scale + zero_point
    gram = h * np.outer(scale, scale)
    order = _search_order(gram)
    chol = np.linalg.cholesky(gram[np.ix_(order, order)]).T
    best = _sphere_decode(
        chol, target[order], qmin, qmax, incumbent[order].astype(np.float64), max_nodes
    )
    codes = np.empty_like(incumbent)
    codes[order] = best
    return codes


def _problem(
    weights: ArrayLike, hessian: ArrayLike, scale: ArrayLike, zero_point: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    w = np.asarray(weights, dtype=np.float64)
    h = np.asarray(hessian, dtype=np.float64)
    if w.ndim != 1 or h.shape != (w.size, w.size):
        raise ValueError(
            f"hessian must be a square matrix of shape ({w.size}, {w.size}) for "
            f"{w.size} weights, got shape {h.shape}"
        )
    if not np.all(np.isfinite(w)) or not np.all(np.isfinite(h)):
        raise ValueError("weights and hessian must be finite numbers; got NaN or inf")
    try:
        np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        raise ValueError(
            "hessian must be symmetric positive definite; a constant or perfectly "
            "collinear feature makes it singular: drop that feature first"
        ) from None
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), w.shape)
    zero_point = np.broadcast_to(np.asarray(zero_point, dtype=np.float64), w.shape)
    return w, h, scale, zero_point


def _gptq_pass(
    w: np.ndarray,
    h: np.ndarray,
    scale: np.ndarray,
    zero_point: np.ndarray,
    qmin: int,
    qmax: int,
    order: np.ndarray,
) -> np.ndarray:
    remaining = w.copy()
    h_inv = np.linalg.inv(h)
    codes = np.zeros(w.size, dtype=np.int64)
    for i in order:
        codes[i] = nearest_codes(remaining[i], scale[i], zero_point[i], qmin, qmax)
        error = (remaining[i] - grid_values(codes[i], scale[i], zero_point[i])) / h_inv[i, i]
        remaining -= error * h_inv[:, i]
        h_inv -= np.outer(h_inv[:, i], h_inv[i, :]) / h_inv[i, i]
    return codes


def _gptq_orders(gram: np.ndarray) -> list[np.ndarray]:
    """The orders GPTQ passes take: as given, by Hessian diagonal ("act order"),
    and by conditional precision (hardest to compensate first)."""
    natural = np.arange(len(gram))
    act_order = np.argsort(-np.diag(gram), kind="stable")
    return [natural, act_order, _search_order(gram)[::-1]]


def _search_order(gram: np.ndarray) -> np.ndarray:
    """Variables in search order, last searched first: each level's conditional
    precision given the levels still below it is the largest available."""
    remaining = list(range(len(gram)))
    reversed_order = []
    while remaining:
        precision = 1.0 / np.diag(np.linalg.inv(gram[np.ix_(remaining, remaining)]))
        pick = remaining[int(np.argmax(precision))]
        reversed_order.append(pick)
        remaining.remove(pick)
    return np.array(reversed_order[::-1])


def _sphere_decode(
    chol: np.ndarray,
    target: np.ndarray,
    qmin: int,
    qmax: int,
    incumbent: np.ndarray,
    max_nodes: int,
) -> np.ndarray:
    n = len(target)
    r = chol.tolist()
    u = target.tolist()
    diag_sq = [r[i][i] ** 2 for i in range(n)]
    best = incumbent.tolist()
    best_loss = _chol_loss(r, u, best)
    k = [0.0] * n
    nodes = 0

    def descend(i: int, partial: float) -> None:
        nonlocal best, best_loss, nodes
        shift = sum(r[i][j] * (k[j] - u[j]) for j in range(i + 1, n))
        centre = u[i] - shift / r[i][i]
        for candidate in _zigzag(centre, qmin, qmax):
            nodes += 1
            if nodes > max_nodes:
                raise SearchBudgetError(
                    f"optimal rounding visited more than max_nodes={max_nodes} search "
                    "nodes without proving optimality; raise max_nodes or use 'gptq'"
                )
            loss = partial + diag_sq[i] * (candidate - centre) ** 2
            if loss >= best_loss:
                return
            k[i] = candidate
            if i == 0:
                best_loss, best = loss, k.copy()
            else:
                descend(i - 1, loss)

    descend(n - 1, 0.0)
    return np.array(best, dtype=np.int64)


def _chol_loss(r: list[list[float]], u: list[float], k: list[float]) -> float:
    n = len(u)
    return sum(sum(r[i][j] * (k[j] - u[j]) for j in range(i, n)) ** 2 for i in range(n))


def _zigzag(centre: float, low: int, high: int):
    """The integers in ``low..high`` in order of distance from `centre`."""
    start = min(max(round(centre), low), high)
    yield float(start)
    below, above = start - 1, start + 1
    while below >= low or above <= high:
        if above > high or (below >= low and centre - below <= above - centre):
            yield float(below)
            below -= 1
        else:
            yield float(above)
            above += 1
