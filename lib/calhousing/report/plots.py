"""Figures of the float and the quantized model.

Each is a :class:`DescribedFigure` made without pyplot: a notebook shows it once, by ending
a cell with it, and no global state leaks from one plot into the next.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.metrics import r2_score

# Okabe–Ito colours, readable with every common colour-vision deficiency.
FLOAT_COLOR = "#0072B2"
QUANTIZED_COLOR = "#E69F00"
ERROR_COLOR = "#D55E00"
REFERENCE_COLOR = "#000000"  # the y = x line and other references
# The sweep: colour by space and scheme, marker by rounding (markers tell them apart without
# colour).
SWEEP_GROUP_COLORS = {
    ("raw", "asymmetric"): QUANTIZED_COLOR,
    ("raw", "symmetric"): "#CC79A7",
    ("standardized", "asymmetric"): FLOAT_COLOR,
    ("standardized", "symmetric"): "#009E73",
}
SWEEP_ROUNDING_MARKERS = {"nearest": "o", "gptq": "s", "optimal": "^"}
SWEEP_ROUNDING_COLORS = {"nearest": QUANTIZED_COLOR, "gptq": ERROR_COLOR, "optimal": "#009E73"}
R2_LOSS_FLOOR = 1e-5  # losses (and gains) smaller than this are drawn at it
CLOSE_R2 = 0.001  # "within 0.001 of float's test R²", the line the sweep figures draw
_SWEEP_KEYS = ["space", "scheme", "rounding"]
_DOT = {"s": 28, "alpha": 0.75, "linewidths": 0}  # one configuration of the sweep


class DescribedFigure(Figure):
    """A :class:`~matplotlib.figure.Figure` with `alt` text stating its point, with its numbers.

    Jupyter shows it as a PNG whose output metadata holds the text (the report's template
    writes it into the ``alt`` attribute); plain-text front ends show the text itself.
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


def _figure(alt: str, size: tuple[float, float], *grid: int, **share: bool) -> tuple[Any, Any]:
    """A constrained-layout :class:`DescribedFigure` and its axes (`grid` rows and columns)."""
    fig = DescribedFigure(figsize=size, layout="constrained", alt=alt)
    return fig, fig.subplots(*grid, **share)


def coefficient_plot(errors: pd.DataFrame) -> Figure:
    """Float beside dequantized value of each coefficient of
    :func:`calhousing.report.views.error_table`; the intercept (~-37) would dwarf them."""
    table = errors.drop(index="intercept", errors="ignore")
    alt = (
        f"Bar chart of the {len(table)} coefficients, float beside quantized for each "
        f"feature. The pairs of bars match: the largest difference is "
        f"{table['abs_error'].max():.2g} ({table['abs_error'].idxmax()}), against "
        f"coefficients of up to {table['float'].abs().max():.2g} in size."
    )
    fig, ax = _figure(alt, (8, 4))
    positions = np.arange(len(table))
    bars = [
        ("float", "float64", FLOAT_COLOR),
        ("dequantized", "quantized (dequantized)", QUANTIZED_COLOR),
    ]
    for offset, (column, label, color) in zip((-0.2, 0.2), bars, strict=True):
        ax.bar(positions + offset, table[column], 0.4, label=label, color=color)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(positions, table.index, rotation=30, ha="right")
    ax.set_ylabel("coefficient ($100k per feature unit)")
    ax.set_title("Coefficients: float and quantized bars should match")
    _legend_outside(ax)
    return fig


def quantization_error_plot(errors: pd.DataFrame) -> Figure:
    """Absolute quantization error of each coefficient and of the intercept."""
    error = errors["abs_error"]
    alt = (
        f"Bar chart of the absolute quantization error of each of the {len(errors)} "
        f"parameters. The largest is {error.max():.2g} ({error.idxmax()}); the "
        f"smallest is {error.min():.2g} ({error.idxmin()})."
    )
    fig, ax = _figure(alt, (8, 4))
    ax.bar(errors.index, error, color=ERROR_COLOR)
    ax.set_xticks(range(len(errors)), errors.index, rotation=30, ha="right")
    ax.set_ylabel("|float − dequantized| (coefficient units)")
    ax.set_title("Quantization error per parameter: the smaller the bar, the closer the code")
    return fig


def prediction_scatter(predictions: pd.DataFrame, bits: int | None = None) -> DescribedFigure:
    """Predicted against true value of every row of
    :func:`calhousing.core.evaluation.prediction_frame`: the float model left, the quantized
    (`bits` wide, for its label) right."""
    label = _quantized_label(bits)
    columns = predictions[["true", "float_pred", "quantized_pred"]].to_numpy()
    true, float_pred, quantized_pred = columns.T
    largest_move = float(np.max(np.abs(float_pred - quantized_pred)))
    alt = (
        f"Two scatter plots of predicted against true median house value for the "
        f"{len(true):,} test rows, float64 left and {label} right. No prediction moved "
        f"by more than {largest_move:.3f} ($100k). Both clouds follow the diagonal "
        f"loosely (test R² {r2_score(true, float_pred):.4f} and "
        f"{r2_score(true, quantized_pred):.4f}); true values stop at {true.max():.2f}."
    )
    fig, axes = _figure(alt, (10, 4.8), 1, 2, sharex=True, sharey=True)
    # The view holds 99.8% of the predictions, so a few outliers do not squash the cloud.
    low, high = _view_range(np.concatenate([true, float_pred, quantized_pred]))
    panels = (("float64", float_pred, FLOAT_COLOR), (label, quantized_pred, QUANTIZED_COLOR))
    for ax, (name, predicted, color) in zip(axes, panels, strict=True):
        ax.scatter(true, predicted, s=4, alpha=0.3, color=color, linewidths=0, rasterized=True)
        ax.plot([low, high], [low, high], color=REFERENCE_COLOR, linewidth=1, linestyle="--")
        outside = int(np.count_nonzero((predicted < low) | (predicted > high)))
        ax.set_title(
            f"{name}: test R² {r2_score(true, predicted):.4f}, {outside} rows off the axes"
        )
        ax.set(xlabel="true median house value ($100k)", xlim=(low, high), ylim=(low, high))
        ax.set_aspect("equal")
    axes[0].set_ylabel("predicted median house value ($100k)")
    fig.suptitle(
        f"Predicted vs true (dashed line: exact). {label} moves no prediction by more "
        f"than {largest_move:.3f}"
    )
    return fig


def residual_histogram(predictions: pd.DataFrame, bits: int | None = None) -> DescribedFigure:
    """Histogram of the residuals (true − predicted) of both models, on the same bins."""
    label = _quantized_label(bits)
    float_residuals = (predictions["true"] - predictions["float_pred"]).to_numpy()
    quantized_residuals = (predictions["true"] - predictions["quantized_pred"]).to_numpy()
    # Bins over the middle 99.8%; the few residuals beyond are counted in the end bins.
    low, high = _view_range(np.concatenate([float_residuals, quantized_residuals]))
    edges = np.linspace(low, high, 61)
    alt = (
        f"Histogram of the residuals (true − predicted, $100k) of the "
        f"{len(float_residuals):,} test rows: float64 filled, {label} outlined, on the "
        f"same bins. Mean {float_residuals.mean():+.3f} vs "
        f"{quantized_residuals.mean():+.3f}, standard deviation "
        f"{float_residuals.std():.3f} vs {quantized_residuals.std():.3f}."
    )
    fig, ax = _figure(alt, (8, 4))
    float_clipped, quantized_clipped = np.clip([float_residuals, quantized_residuals], low, high)
    ax.hist(float_clipped, edges, color=FLOAT_COLOR, alpha=0.45, label="float64")
    ax.hist(
        quantized_clipped, edges, histtype="step", linewidth=1.8, color=QUANTIZED_COLOR, label=label
    )
    ax.axvline(0, color=REFERENCE_COLOR, linewidth=0.8)
    ax.set_xlabel("residual: true − predicted ($100k); the end bins hold everything beyond")
    ax.set_ylabel("test rows per bin")
    shift = float(quantized_residuals.mean() - float_residuals.mean())
    ax.set_title(f"Residuals: {label} shifts their mean by {shift:+.3f} ($100k)")
    _legend_outside(ax)
    return fig


def sweep_heatmap(table: pd.DataFrame) -> DescribedFigure:
    """Test R² lost (left) and the largest prediction change (right) of
    :func:`calhousing.core.sweep.sweep` over bits × configuration, on log colour scales."""
    keys = table[_SWEEP_KEYS].drop_duplicates().itertuples(index=False)
    configurations = [tuple(str(value) for value in row) for row in keys]
    bits = sorted(table["bits"].unique())
    grid = table.pivot(index=_SWEEP_KEYS, columns="bits").loc[configurations]
    loss = -grid["delta_test_r2"][bits].to_numpy()
    moved = grid["max_abs_pred_diff"][bits].to_numpy()
    # The fewest bits from which every configuration stays within CLOSE_R2.
    worst = table["delta_test_r2"].abs().groupby(table["bits"]).max()
    within = (worst < CLOSE_R2)[::-1].cummin()[::-1]
    close_at_8 = int(((table["bits"] == 8) & (table["delta_test_r2"].abs() < CLOSE_R2)).sum())
    count = len(configurations)
    if within.any():
        point = (
            f"all {count} configurations are within {CLOSE_R2:g} of float's R² "
            f"from {int(within.idxmax())} bits"
        )
    else:
        point = f"no bit width keeps all {count} configurations within {CLOSE_R2:g} of float's R²"
    at_8 = table.loc[table["bits"] == 8, "max_abs_pred_diff"]
    alt = (
        f"Two heatmaps over code width ({bits[0]} to {bits[-1]} bits, columns) and {count} "
        f"configurations (rows: space, scheme, rounding). Left: test R² lost against "
        f"float64, log colour scale: {point}, and {close_at_8} of {count} are at 8 bits. "
        f"Right: the largest change to any test prediction; at 8 bits it ranges from "
        f"{at_8.min():.3f} to {at_8.max():.3f} ($100k)."
    )
    fig, (loss_ax, moved_ax) = _figure(alt, (12, 5.2), 1, 2, sharey=True)
    panels = (
        (loss_ax, loss, "test R² lost against float64", "viridis_r"),
        (moved_ax, moved, "max |Δ prediction| ($100k)", "cividis_r"),
    )
    for ax, values, label, cmap in panels:
        image = ax.imshow(
            np.clip(np.abs(values), R2_LOSS_FLOOR, None),
            cmap=cmap,
            norm=LogNorm(vmin=R2_LOSS_FLOOR if ax is loss_ax else None),
            aspect="auto",
        )
        fig.colorbar(image, ax=ax, label=label, shrink=0.9)
        ax.set_xticks(range(len(bits)), bits)
        ax.set_xlabel("bits")
    light = np.abs(loss) < np.sqrt(R2_LOSS_FLOOR * np.nanmax(np.abs(loss)))
    for row, column in zip(*np.nonzero(loss < 0), strict=True):
        color = "black" if light[row, column] else "white"
        loss_ax.text(column, row, "+", ha="center", va="center", fontsize=9, color=color)
    loss_ax.set_yticks(range(len(configurations)), [" · ".join(key) for key in configurations])
    loss_ax.set_title("Test R² lost (+: gained)")
    moved_ax.set_title("Largest change to a test prediction")
    fig.suptitle(f"Accuracy against bits: {point}")
    return fig


def pareto_plot(
    table: pd.DataFrame, float_bytes: float, choice: dict[str, Any] | None = None
) -> DescribedFigure:
    """Bytes stored against |ΔR²| for every configuration of :func:`calhousing.core.sweep.sweep`,
    with its :func:`pareto_front`, float64's `float_bytes` and, when given, the budget and
    choice of ``choice.json``.

    A gain on the test rows is as far from the float model as a loss.
    """
    loss = np.clip(table["delta_test_r2"].abs().to_numpy(), R2_LOSS_FLOOR, None)
    front = pareto_front(table)
    close = table[table["delta_test_r2"].abs() < CLOSE_R2]
    if choice is not None:
        found = "the budgeted choice" if choice["met"] else "nothing meets the budget; closest"
        point = (
            f"{found} (star; budget {choice['max_r2_loss']:g} of training R², dash-dotted) is "
            f"{choice['bits']}-bit {choice['space']} {choice['scheme']} {choice['rounding']}, "
            f"{choice['payload_bytes']} bytes against float64's {float_bytes:.0f}"
        )
    elif close.empty:
        point = f"no configuration is within {CLOSE_R2:g} of float's test R²"
    else:
        smallest = close.loc[close["payload_bytes"].idxmin()]
        point = (
            f"the smallest within {CLOSE_R2:g} of float's R² is {smallest['bits']:.0f}-bit "
            f"{smallest['space']} {smallest['scheme']} {smallest['rounding']}, "
            f"{smallest['payload_bytes']:.0f} bytes against float64's {float_bytes:.0f}"
        )
    alt = (
        f"Scatter plot of the {len(table)} configurations of the sweep: parameter bytes "
        f"stored (x) against |test R² − float's| (y, log scale), with the Pareto front of "
        f"{len(front)} configurations drawn as a line; float64 stores {float_bytes:.0f} "
        f"bytes. Standardized space stores the feature means and stds too, so its "
        f"configurations sit right of float64's line. {point[0].upper()}{point[1:]}."
    )
    fig, ax = _figure(alt, (10, 5))
    payload = table["payload_bytes"].to_numpy()
    handles = [_key("Pareto front (labels: bits)", REFERENCE_COLOR, linewidth=1.2)]
    for (space, scheme), color in SWEEP_GROUP_COLORS.items():
        handles.append(_key(f"{space}, {scheme}", color, marker="o", linestyle=""))
        for rounding, marker in SWEEP_ROUNDING_MARKERS.items():
            mask = (table[_SWEEP_KEYS] == [space, scheme, rounding]).all(axis=1).to_numpy()
            ax.scatter(payload[mask], loss[mask], color=color, marker=marker, **_DOT)
    handles += [
        _key(rounding, "grey", marker=marker, linestyle="")
        for rounding, marker in SWEEP_ROUNDING_MARKERS.items()
    ]
    front_loss = np.clip(front["delta_test_r2"].abs().to_numpy(), R2_LOSS_FLOOR, None)
    ax.step(front["payload_bytes"], front_loss, where="post", color=REFERENCE_COLOR, linewidth=1.2)
    for bits, stored, y in zip(front["bits"], front["payload_bytes"], front_loss, strict=True):
        ax.annotate(
            f"{bits:.0f}", (stored, y), textcoords="offset points", xytext=(4, 4), fontsize=7
        )
    ax.axvline(float_bytes, color=REFERENCE_COLOR, linestyle="--", linewidth=0.8)
    ax.axhline(CLOSE_R2, color=REFERENCE_COLOR, linestyle=":", linewidth=0.8)
    if choice is not None:
        budget = max(choice["max_r2_loss"], R2_LOSS_FLOOR)
        ax.axhline(budget, color=ERROR_COLOR, linestyle="-.", linewidth=1)
        chosen = max(abs(choice["test_r2_loss"]), R2_LOSS_FLOOR)
        ax.scatter([choice["payload_bytes"]], [chosen], marker="*", s=260, color=ERROR_COLOR)
        handles += [
            _key("budget (training R² loss)", ERROR_COLOR, linestyle="-."),
            _key("budgeted choice", ERROR_COLOR, marker="*", linestyle=""),
        ]
    ax.set_yscale("log")
    ax.set_xlabel("parameter bytes stored (dashed: float64)")
    ax.set_ylabel(f"|test R² − float's| (log scale; dotted: {CLOSE_R2:g})")
    ax.set_title(f"Size against accuracy: {point}", fontsize=10)
    _legend_outside(ax, handles=handles)
    return fig


def pareto_front(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of `table` that no other row beats on both bytes stored and |ΔR²|.

    Sorted by ``payload_bytes``; of rows with equal bytes and |ΔR²|, the first is kept.
    """
    ordered = table.assign(_loss=table["delta_test_r2"].abs()).sort_values(
        ["payload_bytes", "_loss"], kind="stable"
    )
    best = np.minimum.accumulate(ordered["_loss"].to_numpy())
    keep = np.concatenate([[True], ordered["_loss"].to_numpy()[1:] < best[:-1]])
    return ordered[keep].drop(columns="_loss")


def slice_plot(slices: pd.DataFrame, bits: int | None = None) -> DescribedFigure:
    """How much the MAE changes (left) and how far predictions move (right) on each slice of
    :func:`calhousing.core.slices.slice_table`."""
    label = _quantized_label(bits)
    worst = slices["mae_change"].idxmax()
    alt = (
        f"Two horizontal bar charts over {len(slices)} slices of the test rows (MedInc deciles, "
        f"the capped target, rows outside the training range, regions). Left: {label} MAE minus "
        f"float64's, from {slices['mae_change'].min():+.4f} to {slices['mae_change'].max():+.4f} "
        f"($100k); it rises most on {worst}. Right: mean |Δ prediction|, largest "
        f"{slices['mean_abs_pred_diff'].max():.4f} ({slices['mean_abs_pred_diff'].idxmax()})."
    )
    fig, (change_ax, moved_ax) = _figure(alt, (11, 0.3 * len(slices) + 1.6), 1, 2, sharey=True)
    positions = np.arange(len(slices))
    change_ax.barh(positions, slices["mae_change"], color=QUANTIZED_COLOR)
    change_ax.axvline(0, color=REFERENCE_COLOR, linewidth=0.8)
    change_ax.set_yticks(positions, slices.index)
    change_ax.invert_yaxis()
    change_ax.set(xlabel=f"{label} MAE − float64's ($100k)", title="MAE change")
    moved_ax.barh(positions, slices["mean_abs_pred_diff"], color=ERROR_COLOR)
    moved_ax.set(xlabel="mean |Δ prediction| ($100k)", title="Prediction moved")
    fig.suptitle(f"Where quantization hurts: the MAE rises most on {worst}")
    return fig


def excess_mse_plot(table: pd.DataFrame) -> DescribedFigure:
    """Excess training MSE over float of each rounding, per space and scheme, log scale;
    ``optimal``, the exact minimum over the grid, is the floor of the others."""
    keyed = table.set_index(["bits", "scheme", "space"])
    by_rounding = keyed.groupby("rounding")["excess_train_mse"]
    worst_ratio = (by_rounding.get_group("nearest") / by_rounding.get_group("optimal")).max()
    alt = (
        "Four log-scale line plots, one per space and scheme, of the excess training "
        "MSE over float64 against bits, one line per rounding. The optimal line is the "
        f"floor; gptq lies on it or just above, nearest up to {worst_ratio:.0f} times higher."
    )
    fig, axes = _figure(alt, (11, 6), 2, 2, sharex=True, sharey=True)
    panels = table.groupby(["space", "scheme"], sort=False)
    for ax, ((space, scheme), rows) in zip(axes.ravel(), panels, strict=True):
        for rounding, line in rows.groupby("rounding", sort=False):
            ax.plot(
                line["bits"],
                line["excess_train_mse"].clip(lower=1e-16),
                color=SWEEP_ROUNDING_COLORS[rounding],
                marker=SWEEP_ROUNDING_MARKERS[rounding],
                markersize=4,
                linewidth=2.5 if rounding == "optimal" else 1.2,
                linestyle=":" if rounding == "optimal" else "-",
                label=rounding,
            )
        ax.set(yscale="log", title=f"{space}, {scheme}", xlabel="bits")
        ax.set_ylabel("training MSE − float's")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", frameon=False, title="rounding")
    fig.suptitle("Excess training MSE per rounding: gptq lies on the optimal floor or just above")
    return fig


def _quantized_label(bits: int | None) -> str:
    return "quantized" if bits is None else f"{bits}-bit quantized"


def _view_range(values: np.ndarray) -> tuple[float, float]:
    """From the 0.1th to the 99.9th percentile of `values`, widened by 5% on each side."""
    low, high = np.quantile(values, [0.001, 0.999])
    margin = 0.05 * (high - low)
    return float(low - margin), float(high + margin)


def _legend_outside(ax: Any, **kwargs: Any) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0, frameon=False, **kwargs)


def _key(label: str, color: str, **style: Any) -> Line2D:
    """A legend entry for what was drawn without a label (or with several)."""
    return Line2D([], [], color=color, label=label, **style)
