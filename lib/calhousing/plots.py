"""Figures of the float and the quantized model.

Every function returns a :class:`~matplotlib.figure.Figure` that pyplot no longer
tracks: the notebook shows it once, by ending a cell with it, and no global state
leaks from one plot into the next.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import r2_score

# Okabe–Ito colours, readable with every common colour-vision deficiency.
FLOAT_COLOR = "#0072B2"
QUANTIZED_COLOR = "#E69F00"
ERROR_COLOR = "#D55E00"
REFERENCE_COLOR = "#000000"  # the y = x line and other references


class DescribedFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` that carries alt text stating its point.

    Jupyter shows it as a PNG whose output metadata holds the text
    (``{"image/png": {"alt": ...}}``); the report's template writes that into
    the image's ``alt`` attribute, and plain-text front ends show the text itself.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`~matplotlib.figure.Figure`.
    alt : str, default=""
        One or two sentences saying what the figure shows, with its numbers.
    """

    def __init__(self, *args: Any, alt: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.alt = alt

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
        png = base64.b64encode(buffer.getvalue()).decode("ascii")
        return {"image/png": png, "text/plain": self.alt}, {"image/png": {"alt": self.alt}}


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
    worst = table["abs_error"].idxmax()
    fig = DescribedFigure(
        figsize=(8, 4),
        layout="constrained",
        alt=(
            f"Bar chart of the {len(table)} coefficients, float beside quantized for each "
            f"feature. The pairs of bars match: the largest difference is "
            f"{table['abs_error'].max():.2g} ({worst}), against coefficients of up to "
            f"{table['float'].abs().max():.2g} in size."
        ),
    )
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
    worst = errors["abs_error"].idxmax()
    fig = DescribedFigure(
        figsize=(8, 4),
        layout="constrained",
        alt=(
            f"Bar chart of the absolute quantization error of each of the {len(errors)} "
            f"parameters. The largest is {errors['abs_error'].max():.2g} ({worst}); the "
            f"smallest is {errors['abs_error'].min():.2g} ({errors['abs_error'].idxmin()})."
        ),
    )
    ax = fig.subplots()
    ax.bar(errors.index, errors["abs_error"], color=ERROR_COLOR)
    ax.set_xticks(range(len(errors)), errors.index, rotation=30, ha="right")
    ax.set_ylabel("|float − dequantized| (coefficient units)")
    ax.set_title("Quantization error per parameter: the smaller the bar, the closer the code")
    return fig


def prediction_scatter(predictions: pd.DataFrame, bits: int | None = None) -> DescribedFigure:
    """Predicted against true value of every row: the float model left, the quantized right.

    Parameters
    ----------
    predictions : pandas.DataFrame
        :func:`calhousing.evaluation.prediction_frame`: columns ``true``,
        ``float_pred`` and ``quantized_pred``, in $100k.
    bits : int, optional
        Code width of the quantized model, for its label.
    """
    label = _quantized_label(bits)
    true = predictions["true"].to_numpy()
    panels = (
        ("float64", predictions["float_pred"].to_numpy(), FLOAT_COLOR),
        (label, predictions["quantized_pred"].to_numpy(), QUANTIZED_COLOR),
    )
    largest_move = float(np.max(np.abs(panels[0][1] - panels[1][1])))
    fig = DescribedFigure(
        figsize=(10, 4.8),
        layout="constrained",
        alt=(
            f"Two scatter plots of predicted against true median house value for the "
            f"{len(true):,} test rows, float64 left and {label} right. No prediction moved "
            f"by more than {largest_move:.3f} ($100k). Both clouds follow the diagonal "
            f"loosely (test R² {_r2(true, panels[0][1]):.4f} and "
            f"{_r2(true, panels[1][1]):.4f}); true values stop at {true.max():.2f}."
        ),
    )
    axes = fig.subplots(1, 2, sharex=True, sharey=True)
    values = np.concatenate([true, panels[0][1], panels[1][1]])
    # The view holds 99.8% of the predictions, so a few outliers do not squash the cloud.
    low, high = _view_range(values)
    for ax, (name, predicted, color) in zip(axes, panels, strict=True):
        ax.scatter(true, predicted, s=4, alpha=0.3, color=color, linewidths=0, rasterized=True)
        ax.plot([low, high], [low, high], color=REFERENCE_COLOR, linewidth=1, linestyle="--")
        outside = int(np.count_nonzero((predicted < low) | (predicted > high)))
        ax.set_title(f"{name}: test R² {_r2(true, predicted):.4f}, {outside} rows off the axes")
        ax.set_xlabel("true median house value ($100k)")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect("equal")
    axes[0].set_ylabel("predicted median house value ($100k)")
    fig.suptitle(
        f"Predicted vs true (dashed line: exact). {label} moves no prediction by more "
        f"than {largest_move:.3f}"
    )
    return fig


def residual_histogram(predictions: pd.DataFrame, bits: int | None = None) -> DescribedFigure:
    """Histogram of the residuals (true − predicted) of both models, on the same bins.

    Parameters
    ----------
    predictions : pandas.DataFrame
        :func:`calhousing.evaluation.prediction_frame`.
    bits : int, optional
        Code width of the quantized model, for its label.
    """
    label = _quantized_label(bits)
    float_residuals = (predictions["true"] - predictions["float_pred"]).to_numpy()
    quantized_residuals = (predictions["true"] - predictions["quantized_pred"]).to_numpy()
    # Bins over the middle 99.8%; the few residuals beyond are counted in the end bins.
    low, high = _view_range(np.concatenate([float_residuals, quantized_residuals]))
    edges = np.linspace(low, high, 61)
    shift = float(quantized_residuals.mean() - float_residuals.mean())
    fig = DescribedFigure(
        figsize=(8, 4),
        layout="constrained",
        alt=(
            f"Histogram of the residuals (true − predicted, $100k) of the "
            f"{len(float_residuals):,} test rows: float64 filled, {label} outlined, on the "
            f"same bins. Mean {float_residuals.mean():+.3f} vs "
            f"{quantized_residuals.mean():+.3f}, standard deviation "
            f"{float_residuals.std():.3f} vs {quantized_residuals.std():.3f}."
        ),
    )
    ax = fig.subplots()
    ax.hist(
        np.clip(float_residuals, low, high),
        bins=edges,
        color=FLOAT_COLOR,
        alpha=0.45,
        label="float64",
    )
    ax.hist(
        np.clip(quantized_residuals, low, high),
        bins=edges,
        histtype="step",
        linewidth=1.8,
        color=QUANTIZED_COLOR,
        label=label,
    )
    ax.axvline(0, color=REFERENCE_COLOR, linewidth=0.8)
    ax.set_xlabel("residual: true − predicted ($100k); the end bins hold everything beyond")
    ax.set_ylabel("test rows per bin")
    ax.set_title(f"Residuals: {label} shifts their mean by {shift:+.3f} ($100k)")
    ax.legend()
    return fig


def _quantized_label(bits: int | None) -> str:
    return "quantized" if bits is None else f"{bits}-bit quantized"


def _view_range(values: np.ndarray) -> tuple[float, float]:
    """From the 0.1th to the 99.9th percentile of `values`, widened by 5% on each side."""
    low, high = np.quantile(values, [0.001, 0.999])
    margin = 0.05 * (high - low)
    return float(low - margin), float(high + margin)


def _r2(true: np.ndarray, predicted: np.ndarray) -> float:
    return float(r2_score(true, predicted))


# The sweep's lines: colour by rounding, line style by space, marker by scheme.
SWEEP_ROUNDING_COLORS = {"nearest": QUANTIZED_COLOR, "gptq": ERROR_COLOR, "optimal": "#009E73"}
SWEEP_SPACE_STYLES = {"raw": "--", "standardized": "-"}
SWEEP_SCHEME_MARKERS = {"asymmetric": "o", "symmetric": "s"}


def sweep_plot(table: pd.DataFrame, float_test_r2: float) -> DescribedFigure:
    """Test R² (left) and max |Δ prediction| (right) against bits, one line per configuration.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`calhousing.sweep.sweep`.
    float_test_r2 : float
        The float model's test R², drawn as the reference line.
    """
    low = float_test_r2 - 0.05
    off_scale = table[table["test_r2"] < low]
    standardized_8 = table[(table["bits"] == 8) & (table["space"] == "standardized")]
    fig = DescribedFigure(
        figsize=(12, 5),
        layout="constrained",
        alt=(
            f"Two line plots against code width for {table.groupby(_SWEEP_KEYS).ngroups} "
            f"configurations. Left: test R², float64 reference {float_test_r2:.4f}; "
            f"{len(off_scale)} points fall below {low:.3f} and are drawn at the bottom edge. "
            f"Right: max |quantized − float| test prediction on a log scale; at 8 bits in "
            f"standardized space it ranges from {standardized_8['max_abs_pred_diff'].min():.3f} "
            f"to {standardized_8['max_abs_pred_diff'].max():.3f} ($100k)."
        ),
    )
    r2_ax, diff_ax = fig.subplots(1, 2, sharex=True)
    for (scheme, space, rounding), rows in table.groupby(_SWEEP_KEYS, sort=False):
        style = {
            "color": SWEEP_ROUNDING_COLORS[rounding],
            "linestyle": SWEEP_SPACE_STYLES[space],
            "marker": SWEEP_SCHEME_MARKERS[scheme],
            "markersize": 4,
            "linewidth": 1.2,
            "label": f"{space}, {scheme}, {rounding}",
        }
        r2_ax.plot(rows["bits"], rows["test_r2"].clip(lower=low), **style)
        diff_ax.plot(rows["bits"], rows["max_abs_pred_diff"].clip(lower=1e-12), **style)
    r2_ax.axhline(float_test_r2, color=FLOAT_COLOR, linewidth=2, label="float64")
    r2_ax.set_ylim(low, float_test_r2 + 0.02)
    r2_ax.set_ylabel(f"test R² (values below {low:.3f} drawn at the edge)")
    r2_ax.set_title("Test R² vs bits (blue line: float64)")
    diff_ax.set_yscale("log")
    diff_ax.axhline(0.05, color=REFERENCE_COLOR, linewidth=0.8, linestyle=":")
    diff_ax.set_ylabel("max |quantized − float| test prediction ($100k)")
    diff_ax.set_title("Largest change to any test prediction (dotted: 0.05)")
    for ax in (r2_ax, diff_ax):
        ax.set_xlabel("bits")
        ax.set_xticks(sorted(table["bits"].unique()))
    r2_ax.legend(fontsize=7, ncol=2, loc="lower right")
    return fig


def excess_mse_plot(table: pd.DataFrame) -> DescribedFigure:
    """Excess training MSE over float of each rounding, per space and scheme, log scale.

    ``optimal`` is the exact minimum over the grid, so it is the floor every other
    rounding's line lies on or above.
    """
    panels = table.groupby(["space", "scheme"], sort=False)
    fig = DescribedFigure(
        figsize=(11, 7),
        layout="constrained",
        alt=(
            "Four log-scale line plots, one per space and scheme, of the excess training "
            "MSE over float64 against bits, one line per rounding. The optimal line is the "
            "floor; gptq lies on it or just above, nearest up to "
            f"{_worst_ratio(table, 'nearest'):.0f} times higher."
        ),
    )
    axes = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    for ax, ((space, scheme), rows) in zip(axes, panels, strict=True):
        for rounding, line in rows.groupby("rounding", sort=False):
            ax.plot(
                line["bits"],
                line["excess_train_mse"].clip(lower=1e-16),
                color=SWEEP_ROUNDING_COLORS[rounding],
                marker=SWEEP_SCHEME_MARKERS[scheme],
                markersize=4,
                linewidth=2.5 if rounding == "optimal" else 1.2,
                linestyle=":" if rounding == "optimal" else "-",
                label=rounding,
            )
        ax.set_yscale("log")
        ax.set_title(f"{space}, {scheme}")
        ax.set_xlabel("bits")
        ax.set_ylabel("training MSE − float training MSE")
        ax.legend(fontsize=8)
    fig.suptitle("Excess training MSE per rounding (optimal: the exact floor on each grid)")
    return fig


_SWEEP_KEYS = ["scheme", "space", "rounding"]


def _worst_ratio(table: pd.DataFrame, rounding: str) -> float:
    keys = ["bits", "scheme", "space"]
    floor = table[table["rounding"] == "optimal"].set_index(keys)["excess_train_mse"]
    other = table[table["rounding"] == rounding].set_index(keys)["excess_train_mse"]
    return float((other / floor).max())
