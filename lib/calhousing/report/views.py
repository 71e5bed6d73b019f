"""The tables the notebooks show, built from the core's results, with the code names that
:func:`calhousing.report.tables.readable` turns into headers and digits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from calhousing.core.bootstrap import LOSSES
from calhousing.core.evaluation import SPLITS
from calhousing.core.integer_inference import INT32_MAX
from calhousing.core.training import METRIC_NAMES
from calhousing.report.tables import LOSS_LABELS

if TYPE_CHECKING:
    from calhousing.core.data import Split
    from calhousing.core.integer_inference import IntegerModel
    from calhousing.core.linear import LinearParams
    from calhousing.core.quantization import QuantizedModel


def split_summary(split: Split) -> pd.DataFrame:
    """Rows per part, the number of features and the target's mean, in $100k."""
    return pd.DataFrame(
        {
            "rows": [len(split.y_train), len(split.y_test)],
            "features": [split.X_train.shape[1], split.X_test.shape[1]],
            "mean MedHouseVal ($100k)": [split.y_train.mean(), split.y_test.mean()],
        },
        index=pd.Index(["train", "test"], name="part"),
    )


def metrics_table(
    float_metrics: dict[str, dict[str, float]], quantized_metrics: dict[str, dict[str, float]]
) -> pd.DataFrame:
    """One row per (split, metric): float, quantized and quantized − float."""
    index = pd.MultiIndex.from_product([SPLITS, METRIC_NAMES], names=["split", "metric"])
    table = pd.DataFrame(
        {
            "float": [float_metrics[s][m] for s, m in index],
            "quantized": [quantized_metrics[s][m] for s, m in index],
        },
        index=index,
    )
    return table.assign(difference=table["quantized"] - table["float"])


def interval_table(intervals: dict[str, Any]) -> pd.DataFrame:
    """The losses of :func:`calhousing.core.bootstrap.paired_bootstrap`, one row each."""
    return pd.DataFrame(
        {name: intervals[name] for name in LOSSES}, index=["estimate", "low", "high"]
    ).T.rename(index=LOSS_LABELS)


def choice_table(choice: dict[str, Any]) -> pd.DataFrame:
    """The budgeted choice of ``choice.json`` in one row."""
    columns = "max_r2_loss met bits scheme granularity space rounding payload_bytes "
    columns += "float_payload_bytes train_r2_loss test_r2_loss max_abs_pred_diff"
    row = {name: choice[name] for name in columns.split()}
    return pd.DataFrame([{**row, "met": "yes" if row["met"] else "no"}])


def prediction_statistics(predictions: pd.DataFrame) -> pd.DataFrame:
    """Mean, std, min and max of the true values and of both predictions."""
    columns = ["true", "float_pred", "quantized_pred", "abs_pred_diff"]
    return predictions[columns].agg(["mean", "std", "min", "max"]).T


def payload_table(params: LinearParams, quantized: QuantizedModel) -> pd.DataFrame:
    """Bytes each model needs for its parameters (float64 for the float model)."""
    float_bytes = params.payload_bytes
    return pd.DataFrame(
        {
            "payload_bytes": [float_bytes, quantized.payload_bytes],
            "of_which_codes": [0, quantized.coef.codes.nbytes + quantized.intercept.codes.nbytes],
        },
        index=pd.Index(
            ["float64", f"{quantized.coef.bits}-bit {quantized.coef.scheme}"], name="model"
        ),
    ).assign(ratio_to_float=lambda t: t["payload_bytes"] / float_bytes)


def parameters_table(quantized: QuantizedModel) -> pd.DataFrame:
    """Scale, zero point, code range and payload of each quantized tensor (and, in
    standardized space, of the stored feature statistics)."""
    tensors = {"coefficients": quantized.coef, "intercept": quantized.intercept}
    rows = {
        name: {
            "space": quantized.space,
            "rounding": quantized.rounding,
            "scheme": t.scheme,
            "granularity": t.granularity,
            "bits": t.bits,
            "code dtype": t.codes.dtype.name,
            "code range": f"{t.qmin}..{t.qmax}",
            "scale": _compact(t.scale),
            "zero_point": _compact(t.zero_point),
            "payload bytes": t.payload_bytes,
        }
        for name, t in tensors.items()
    }
    if quantized.statistics_bytes:
        rows["feature mean and std"] = {
            "space": quantized.space,
            "rounding": quantized.rounding,
            "payload bytes": quantized.statistics_bytes,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("tensor")


def error_table(params: LinearParams, quantized: QuantizedModel) -> pd.DataFrame:
    """Per parameter, in the space it was quantized in: float value, code, dequantized value
    and absolute error (at most half a scale step with ``nearest`` rounding; ``gptq`` and
    ``optimal`` trade larger single errors for a lower training MSE)."""
    coef, intercept = quantized.in_own_space(params)
    names = [*params.feature_names, "intercept"]
    return pd.DataFrame(
        {
            "float": [*coef, intercept],
            "code": [*quantized.coef.codes.tolist(), *quantized.intercept.codes.tolist()],
            "dequantized": [*quantized.coef.dequantize(), *quantized.intercept.dequantize()],
        },
        index=pd.Index(names, name="parameter"),
    ).assign(abs_error=lambda t: (t["float"] - t["dequantized"]).abs())


def accumulator_table(model: IntegerModel) -> pd.DataFrame:
    """Code widths, the bias, the accumulator's bound and the dtype it chose, the bytes."""
    row = {
        "weight bits": model.bits,
        "input bits": model.input_bits,
        "bias code": model.bias_code,
        "accumulator scale": model.accumulator_scale,
        "accumulator bound": model.accumulator_bound,
        "int32 max": int(INT32_MAX),
        "accumulator dtype": model.accumulator_dtype,
        "payload bytes": model.payload_bytes,
    }
    return pd.DataFrame([row], index=pd.Index(["integer-only"], name="model"))


def feature_table(model: IntegerModel) -> pd.DataFrame:
    """Per feature: input range and scale, weight code, and the raw coefficient
    the integer weight stands for (``S × q_j / input_scale_j``)."""
    return pd.DataFrame(
        {
            "input_min": model.input_offset,
            "input_max": model.input_offset + model.input_scale * model.input_qmax,
            "input_scale": model.input_scale,
            "weight_code": model.weight_codes,
            "raw_coef_equivalent": model.accumulator_scale
            * model.weight_codes.astype(np.float64)
            / model.input_scale,
        },
        index=pd.Index(model.feature_names, name="feature"),
    )


def _compact(values: np.ndarray) -> object:
    return values.item() if values.size == 1 else values.tolist()
