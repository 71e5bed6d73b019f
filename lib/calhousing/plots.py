"""Figures of the float and the quantized model.

Every function returns a :class:`~matplotlib.figure.Figure` that pyplot no longer
tracks: the notebook shows it once, by ending a cell with it, and no global state
leaks from one plot into the next.
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

# Okabe–Ito colours, readable with every common colour-vision deficiency.
FLOAT_COLOR = "#0072B2"
QUANTIZED_COLOR = "#E69F00"
ERROR_COLOR = "#D55E00"


def coefficient_plot(errors: pd.DataFrame) -> Figure:
    """Float vs dequantized value of each coefficient, side by side.

    Parameters
    ----------
    errors : pandas.DataFrame
        :func:`calhousing.quantization.error_table`; the intercept row is left
        out, since at ~-37 it would dwarf every coefficient.
    """
    table = errors.drop(index="intercept", errors="ignore")
    positions = np.arange(len(table))
    fig = new_figure(figsize=(8, 4))
    ax = fig.subplots()
    width = 0.4
    ax.bar(positions - width / 2, table["float"], width, label="float64", color=FLOAT_COLOR)
    ax.bar(
        positions + width / 2,
        table["dequantized"],
        width,
        label="quantized (dequantized)",
        color=QUANTIZED_COLOR,
    )
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(positions, table.index, rotation=30, ha="right")
    ax.set_ylabel("coefficient ($100k per feature unit)")
    ax.set_title("Coefficients: float and quantized bars should match")
    ax.legend()
    return fig


def quantization_error_plot(errors: pd.DataFrame) -> Figure:
    """Absolute quantization error of each coefficient and of the intercept."""
    fig = new_figure(figsize=(8, 4))
    ax = fig.subplots()
    ax.bar(errors.index, errors["abs_error"], color=ERROR_COLOR)
    ax.set_xticks(range(len(errors)), errors.index, rotation=30, ha="right")
    ax.set_ylabel("|float − dequantized| (coefficient units)")
    ax.set_title("Quantization error per parameter (at most half a scale step)")
    return fig


def new_figure(figsize: tuple[float, float] = (8, 4)) -> Figure:
    """An empty figure with constrained layout, closed in pyplot.

    Created through pyplot so the notebook's inline backend is loaded and knows how
    to display it; closed so that backend does not show it a second time.
    """
    fig = plt.figure(figsize=figsize, layout="constrained")
    plt.close(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str]) -> None:
    """Save `fig` with fixed metadata, so the same figure always gives the same bytes."""
    suffix = os.fspath(path).rsplit(".", 1)[-1].lower()
    metadata: dict[str, None] = {
        "png": {"Software": None},
        "svg": {"Date": None, "Creator": None},
        "pdf": {"CreationDate": None, "ModDate": None, "Producer": None, "Creator": None},
    }.get(suffix, {})
    with plt.rc_context({"svg.hashsalt": "calhousing"}):
        fig.savefig(path, metadata=metadata)
