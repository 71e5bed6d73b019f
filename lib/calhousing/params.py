"""Validation of the pipeline's parameters.

Every check raises one :class:`ValueError` that names the parameter, the value it
got and what is allowed, so a typo in ``calhousing run -p`` or ``papermill -p`` is
reported before anything is written.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

# The parameters `calhousing run -p` accepts (pipeline.PARAMETER_CHECKS checks each).
PIPELINE_PARAMETERS: tuple[str, ...] = (
    "test_size",
    "random_state",
    "bits",
    "n_samples",
    "scheme",
    "granularity",
    "space",
    "rounding",
)
MIN_BITS = 2
MAX_BITS = 16
MAX_RANDOM_STATE = 2**32 - 1


def check_bits(bits: Any) -> int:
    """Return `bits` if it is an integer in 2..16, else raise ``ValueError``."""
    return _check_int("bits", bits, MIN_BITS, MAX_BITS)


def check_test_size(test_size: Any) -> float:
    """Return `test_size` if it is a number strictly between 0 and 1."""
    if (
        isinstance(test_size, bool)
        or not isinstance(test_size, Real)
        or not math.isfinite(test_size)
        or not 0 < test_size < 1
    ):
        raise ValueError(
            f"test_size must be a number strictly between 0 and 1 (the test fraction), "
            f"got {test_size!r}"
        )
    return float(test_size)


def check_random_state(random_state: Any) -> int:
    """Return `random_state` if it is an integer seed in 0..2**32-1."""
    return _check_int("random_state", random_state, 0, MAX_RANDOM_STATE)


def check_n_samples(n_samples: Any) -> int:
    """Return `n_samples` if it is a positive integer."""
    return _check_int("n_samples", n_samples, 1, None)


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """Return `value` if it is one of `allowed`, else raise ``ValueError``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def _check_int(name: str, value: Any, low: int, high: int | None) -> int:
    allowed = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be {allowed}, got {value!r} ({type(value).__name__})")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")
    return int(value)
