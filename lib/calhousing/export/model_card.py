"""The model card ``calhousing export`` writes beside its ONNX file or C files, made from the run's
artifacts only: YAML front matter in Hugging Face's model-card form, then the text."""

from __future__ import annotations

import yaml

from calhousing.core.bootstrap import paired_bootstrap
from calhousing.core.inference import predict
from calhousing.core.integer_inference import predict_integer
from calhousing.core.slices import CAPPED_SLICE, CAPPED_TARGET, slice_masks, slice_table
from calhousing.core.training import METRIC_LABELS, regression_metrics
from calhousing.report.headline import choice_sentence, small_change
from calhousing.report.tables import LOSS_LABELS, MISSING, markdown_table
from calhousing.run.artifacts import CHOICE_FILE, SPLIT_FILE, Run

CARD_FILE = "MODEL_CARD.md"
DATASET = "California Housing (scikit-learn)"
_QUANTIZED_BASE = {"base_model": "calhousing-float", "base_model_relation": "quantized"}
_LOSSES = {"r2": "r2_loss", "mae": "mae_increase", "mse": "mse_increase"}  # metric: its loss
_METRIC_HEADER = ["measure", "float64", "this model", "95% interval of the loss (paired bootstrap)"]
_SLICE_HEADER = ["slice", "rows", "float64 MAE", "this model's MAE", "mean abs. prediction change"]


def model_card(run: Run, model: str, file_name: str, *, library: str = "onnx") -> str:
    """The card of the run's `model` (``float``, ``quantized`` or ``integer``), exported as
    `file_name` for `library` (``onnx``, or ``c`` for the C99 header)."""
    split, parameters = run.split(), run.parameters()
    float_pred = predict(run.float_params(), split.X_test)
    pred = {
        "float": lambda: float_pred,
        "quantized": lambda: predict(run.quantized(), split.X_test),
        "integer": lambda: predict_integer(run.integer_model(), split.X_test),
    }[model]()
    float_metrics, metrics = (regression_metrics(split.y_test, p) for p in (float_pred, pred))
    name, quantized = f"calhousing-{model}", model != "float"
    intervals = paired_bootstrap(split.y_test, float_pred, pred) if quantized else None
    slices = slice_table(slice_masks(split), split.y_test, float_pred, pred)
    recorded = run.record(SPLIT_FILE)
    choice = run.choice() if (run.folder / CHOICE_FILE).is_file() else None
    budget = "This run has no budgeted choice: 04_sweep has not run on its artifacts."
    if choice is not None:
        budget = (
            f"{choice_sentence(choice)} This file exports the run's own model, which need not be "
            "that configuration."
        )
    settings = "float64 coefficients, not quantized"
    if quantized:
        keys = ("bits", "scheme", "granularity", "space", "rounding")
        settings = ", ".join(f"{k}={parameters[k]}" for k in keys) + f"; the {model} model"
    entries = [
        {"type": key, "value": round(value, 6), "name": f"test {key.upper()}"}
        for key, value in metrics.items()
    ]
    rows = []
    for key, loss in _LOSSES.items():
        shown = MISSING
        if intervals is not None:
            estimate, low, high = (intervals[loss][end] for end in ("estimate", "low", "high"))
            loss_name = f"test {LOSS_LABELS[loss]}"
            entries.append(
                {
                    "type": loss,
                    "value": round(estimate, 6),
                    "name": f"{loss_name} against float64, 95% interval {low:.6f} to {high:.6f}",
                }
            )
            shown = (
                f"{loss_name}: {small_change(estimate)} "
                f"({small_change(low)} to {small_change(high)})"
            )
        values = (f"{m[key]:.4f}" for m in (float_metrics, metrics))
        rows.append([f"test {METRIC_LABELS[key]}", *values, shown])
    front = {
        "library_name": library,
        "pipeline_tag": "tabular-regression",
        "tags": ["tabular-regression", "linear-regression", library, *quantized * ["quantized"]],
        "datasets": ["california_housing"],
        **(_QUANTIZED_BASE if quantized else {}),
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
    capped = slices["quantized_mae"].get(CAPPED_SLICE, float("nan"))
    slice_rows = (
        [r.Index, f"{r.rows:,}", *(f"{value:.4f}" for value in r[2:])]
        for r in slices[["rows", "float_mae", "quantized_mae", "mean_abs_pred_diff"]].itertuples()
    )
    blocks = [  # Markdown blocks, a blank line between each two
        "---\n" + yaml.safe_dump(front, allow_unicode=True, sort_keys=False, width=100) + "---",
        f"# {name}: {file_name}",
        f"A least-squares linear regression of the median house value of a California block "
        f"group on 8 features, exported from a `calhousing run` ({settings}).",
        "## Data",
        f"scikit-learn's California Housing ({recorded['rows']:,} rows), split with "
        f"test_size={parameters['test_size']} and random_state={parameters['random_state']}: "
        f"{len(split.y_train):,} training rows (sha256 {recorded['training_data_sha256'][:12]}…) "
        f"and {len(split.y_test):,} test rows. Prices are in $100,000.",
        "## Metrics on the test rows",
        markdown_table(_METRIC_HEADER, rows, rule="|---|---:|---:|---|"),
        "## The accuracy budget",
        budget,
        "## Slices of the test rows",
        markdown_table(_SLICE_HEADER, slice_rows, rule="|---|---:|---:|---:|---:|"),
        "## Known limits",
        f"- A linear model of 8 features (test R² {metrics['r2']:.4f}); its errors are "
        f"largest where the target is capped at {CAPPED_TARGET} (the data's top code): "
        f"MAE {capped:.4f} there.\n"
        "- Outside the training range the float and quantized models extrapolate linearly; the "
        "integer model clamps each feature to it before it scores a row ("
        + ", ".join(f"{f} {lo:g}..{hi:g}" for f, (lo, hi) in ranges.items())
        + "), so such a row gets the prediction of the nearest point inside.\n"
        "- Intervals resample the test rows of one split; they do not cover another split or "
        "other data. The sweep measured per-tensor configurations only.\n",
    ]
    return "\n\n".join(blocks)
