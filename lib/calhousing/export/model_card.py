"""The model card ``calhousing export`` writes beside its ONNX file or C files, made from the run's
artifacts only: YAML front matter in Hugging Face's model-card form, then the text."""

from __future__ import annotations

from typing import Any

import yaml

from calhousing.core.bootstrap import paired_bootstrap
from calhousing.core.inference import predict
from calhousing.core.integer_inference import predict_integer
from calhousing.core.slices import CAPPED_TARGET, slice_masks, slice_table
from calhousing.core.training import regression_metrics
from calhousing.report.headline import choice_sentence, small_change
from calhousing.run.artifacts import CHOICE_FILE, SPLIT_FILE, Run

CARD_FILE = "MODEL_CARD.md"
DATASET = "California Housing (scikit-learn)"
_LABELS = {"r2": "R²", "mae": "MAE ($100k)", "mse": "MSE ($100k)²"}
_LOSSES = {
    "r2_loss": "test R² lost",
    "mae_increase": "test MAE added",
    "mse_increase": "test MSE added",
}


def model_card(run: Run, model: str, file_name: str, *, library: str = "onnx") -> str:
    """The card of the run's `model` (``float``, ``quantized`` or ``integer``), exported as
    `file_name` for `library` (``onnx``, or ``c`` for the C99 header)."""
    split, params, parameters = run.split(), run.float_params(), run.parameters()
    float_pred = predict(params, split.X_test)
    pred = {
        "float": lambda: float_pred,
        "quantized": lambda: predict(run.quantized(), split.X_test),
        "integer": lambda: predict_integer(run.integer_model(), split.X_test),
    }[model]()
    metrics = regression_metrics(split.y_test, pred)
    intervals = None if model == "float" else paired_bootstrap(split.y_test, float_pred, pred)
    slices = slice_table(slice_masks(split), split.y_test, float_pred, pred)
    recorded = run.record(SPLIT_FILE)
    choice = run.choice() if (run.folder / CHOICE_FILE).is_file() else None
    name, quantized = f"calhousing-{model}", model != "float"
    entries = [
        {"type": key, "value": round(value, 6), "name": f"test {key.upper()}"}
        for key, value in metrics.items()
    ]
    for key, label in _LOSSES.items():
        if intervals is not None:
            low, high = intervals[key]["low"], intervals[key]["high"]
            entries.append(
                {
                    "type": key,
                    "value": round(intervals[key]["estimate"], 6),
                    "name": f"{label} against float64, 95% interval {low:.6f} to {high:.6f}",
                }
            )
    front = {
        "library_name": library,
        "pipeline_tag": "tabular-regression",
        "tags": ["tabular-regression", "linear-regression", library, *quantized * ["quantized"]],
        "datasets": ["california_housing"],
        **(
            {"base_model": "calhousing-float", "base_model_relation": "quantized"}
            if quantized
            else {}
        ),
        "model-index": [
            {
                "name": name,
                "results": [
                    {
                        "task": {"type": "tabular-regression"},
                        "dataset": {"name": DATASET, "type": "california_housing", "split": "test"},
                        "metrics": entries,
                    }
                ],
            }
        ],
        "calhousing": {"parameters": parameters, "intervals": intervals, "budget": choice},
    }
    ranges = run.feature_ranges()
    capped = slices["quantized_mae"].get(f"target capped at {CAPPED_TARGET}", float("nan"))
    lines = [
        "---",
        yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=100).rstrip(),
        "---",
        "",
        f"# {name}: {file_name}",
        "",
        f"A least-squares linear regression of the median house value of a California block "
        f"group on 8 features, exported from a `calhousing run` ({_settings(parameters, model)}).",
        "",
        "## Data",
        "",
        f"scikit-learn's California Housing ({recorded['rows']:,} rows), split with "
        f"test_size={parameters['test_size']} and random_state={parameters['random_state']}: "
        f"{len(split.y_train):,} training rows (sha256 {recorded['training_data_sha256'][:12]}…) "
        f"and {len(split.y_test):,} test rows. Prices are in $100,000.",
        "",
        "## Metrics on the test rows",
        "",
        "| measure | float64 | this model | 95% interval of the loss (paired bootstrap) |",
        "|---|---:|---:|---|",
        *_metric_rows(regression_metrics(split.y_test, float_pred), metrics, intervals),
        "",
        "## The accuracy budget",
        "",
        _budget(choice),
        "",
        "## Slices of the test rows",
        "",
        "| slice | rows | float64 MAE | this model's MAE | mean abs. prediction change |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {s} | {r.rows:,} | {r.float_mae:.4f} | {r.quantized_mae:.4f} "
            f"| {r.mean_abs_pred_diff:.4f} |"
            for s, r in zip(slices.index, slices.itertuples(), strict=True)
        ),
        "",
        "## Known limits",
        "",
        f"- A linear model of 8 features (test R² {metrics['r2']:.4f}); its errors are "
        f"largest where the target is capped at {CAPPED_TARGET} (the data's top code): "
        f"MAE {capped:.4f} there.",
        "- Outside the training range the float and quantized models extrapolate linearly; the "
        "integer model clamps each feature to it before it scores a row ("
        + ", ".join(f"{f} {lo:g}..{hi:g}" for f, (lo, hi) in ranges.items())
        + "), so such a row gets the prediction of the nearest point inside.",
        "- Intervals resample the test rows of one split; they do not cover another split or "
        "other data. The sweep measured per-tensor configurations only.",
        "",
    ]
    return "\n".join(lines)


def _budget(choice: dict[str, Any] | None) -> str:
    """The budgeted choice of ``choice.json`` in one paragraph, as the report says it."""
    if choice is None:
        return "This run has no budgeted choice: 04_sweep has not run on its artifacts."
    return (
        f"{choice_sentence(choice)} This file exports the run's own model, which need not be "
        "that configuration."
    )


def _settings(parameters: dict[str, Any], model: str) -> str:
    if model == "float":
        return "float64 coefficients, not quantized"
    keys = ("bits", "scheme", "granularity", "space", "rounding")
    return ", ".join(f"{k}={parameters[k]}" for k in keys) + f"; the {model} model"


def _metric_rows(
    float_metrics: dict[str, float], metrics: dict[str, float], intervals: dict[str, Any] | None
) -> list[str]:
    rows = []
    for key, loss in (("r2", "r2_loss"), ("mae", "mae_increase"), ("mse", "mse_increase")):
        shown = "—"
        if intervals is not None:
            low, high = (small_change(intervals[loss][end]) for end in ("low", "high"))
            shown = (
                f"{_LOSSES[loss]}: {small_change(intervals[loss]['estimate'])} ({low} to {high})"
            )
        rows.append(
            f"| test {_LABELS[key]} | {float_metrics[key]:.4f} | {metrics[key]:.4f} | {shown} |"
        )
    return rows
