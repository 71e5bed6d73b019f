"""What each quantization choice costs: a sweep over bits × scheme × space × rounding.

Every configuration comes from the same float model and is measured on the same split, so
differences are the quantization's alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.metrics import mean_squared_error, r2_score

from calhousing.core import serialization
from calhousing.core.data import Split
from calhousing.core.inference import predict
from calhousing.core.integer_inference import IntegerModel, build_integer_model, predict_integer
from calhousing.core.quantization import QuantizedModel, quantize_model
from calhousing.core.training import LinearParams
from calhousing.params import GRANULARITIES, MAX_BITS, MIN_BITS, ROUNDINGS, SCHEMES, SPACES

SWEEP_BITS: tuple[int, ...] = tuple(range(MIN_BITS, MAX_BITS + 1))
CONFIG_COLUMNS: list[str] = ["bits", "scheme", "space", "rounding"]
GRANULARITY = "per_tensor"  # the only granularity the sweep measures


def sweep(
    params: LinearParams,
    split: Split,
    bits: Iterable[int] = SWEEP_BITS,
    roundings: Iterable[str] = ROUNDINGS,
) -> pd.DataFrame:
    """One row per configuration of `params`, measured on `split`: ``delta_*`` and ``excess_*``
    are quantized − float, ``*_in_range`` on the test rows inside the training range;
    ``delta_train_r2`` is what the budgeted choice reads, ``excess_train_mse`` what the
    roundings minimize."""
    in_range = inside_training_range(split)
    float_pred, reference = _measures(params, split, in_range)
    rows = []
    for config in itertools.product(bits, SCHEMES, SPACES, roundings):
        b, scheme, space, rounding = config
        model = quantize_model(params, b, scheme, GRANULARITY, space, rounding, split.X_train)
        pred, measures = _measures(model, split, in_range)
        diff = np.abs(pred - float_pred)
        delta = {name: measures[name] - reference[name] for name in reference}
        rows.append(
            {
                **dict(zip(CONFIG_COLUMNS, config, strict=True)),
                "test_r2": measures["test_r2"],
                "delta_test_r2": delta["test_r2"],
                "max_abs_pred_diff": float(np.max(diff)),
                "delta_test_r2_in_range": delta["test_r2_in_range"],
                "max_abs_pred_diff_in_range": float(np.max(diff[in_range])),
                "delta_train_r2": delta["train_r2"],
                "train_mse": measures["train_mse"],
                "excess_train_mse": delta["train_mse"],
                "payload_bytes": model.payload_bytes,
            }
        )
    return pd.DataFrame(rows)


def _measures(
    model: LinearParams | QuantizedModel, split: Split, in_range: np.ndarray
) -> tuple[np.ndarray, dict[str, float]]:
    pred, train_pred = predict(model, split.X_test), predict(model, split.X_train)
    y = np.asarray(split.y_test)
    return pred, {
        "test_r2": r2_score(split.y_test, pred),
        "test_r2_in_range": r2_score(y[in_range], pred[in_range]),
        "train_r2": r2_score(split.y_train, train_pred),
        "train_mse": mean_squared_error(split.y_train, train_pred),
    }


def float_reference(params: LinearParams, split: Split) -> dict[str, float]:
    """The float model's test R², training MSE and parameter bytes: the sweep's references."""
    measures = _measures(params, split, inside_training_range(split))[1]
    references = {name: measures[name] for name in ("test_r2", "train_mse")}
    return {**references, "payload_bytes": float(params.payload_bytes)}


def metric_table(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """`metric` of :func:`sweep` with one row per bit width, one column per configuration."""
    return table.pivot_table(
        index="bits", columns=["space", "scheme", "rounding"], values=metric, sort=False
    )


def excess_ratio_table(table: pd.DataFrame) -> pd.DataFrame:
    """Each rounding's excess training MSE divided by ``optimal``'s (1 = the floor)."""
    excess = metric_table(table, "excess_train_mse")
    floor = excess.xs("optimal", axis=1, level="rounding")
    ratios = {key: excess[key] / floor[key[:2]] for key in excess.columns if key[2] != "optimal"}
    return pd.DataFrame(ratios).rename_axis(columns=excess.columns.names)


def size_table(params: LinearParams, split: Split, bits: int = 8) -> pd.DataFrame:
    """Payload (the exact bytes inference needs) and on-disk (JSON artifact, with names and
    dequantized values) bytes of the float model and each `bits`-bit configuration; rounding
    changes no size."""
    rows = {
        "float64": {
            "payload_bytes": params.payload_bytes,
            "on_disk_bytes": serialization.json_bytes(serialization.params_to_dict(params)),
        }
    }
    for scheme, granularity, space in itertools.product(SCHEMES, GRANULARITIES, SPACES):
        model = quantize_model(params, bits, scheme, granularity, space, "nearest", split.X_train)
        coef, intercept = model.coef, model.intercept
        rows[f"{bits}-bit {scheme} {granularity} {space}"] = {
            "codes": coef.codes.nbytes,
            "scales": coef.scale.nbytes,
            "zero_points": coef.payload_bytes - coef.codes.nbytes - coef.scale.nbytes,
            "intercept": intercept.payload_bytes,
            "statistics": model.statistics_bytes,
            "payload_bytes": model.payload_bytes,
            "on_disk_bytes": serialization.json_bytes(serialization.quantized_to_dict(model)),
        }
    integer = build_integer_model(params, split.X_train, bits=bits)
    rows[f"{bits}-bit integer-only"] = {
        "payload_bytes": integer.payload_bytes,
        "on_disk_bytes": serialization.json_bytes(serialization.integer_model_to_dict(integer)),
    }
    table = pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
    float_bytes = rows["float64"]["payload_bytes"]
    return table.assign(payload_vs_float=table["payload_bytes"] / float_bytes)


def integer_comparison(
    params: LinearParams, split: Split, quantized: QuantizedModel, integer_model: IntegerModel
) -> pd.DataFrame:
    """Test R² of the float model and of the run's quantized and integer-only models, also
    on the test rows inside the training range (the others saturate in integer inference)."""
    X, y = split.X_test, np.asarray(split.y_test, dtype=np.float64)
    float_pred = predict(params, X)
    predictions = {
        "float64": float_pred,
        f"this run's {quantized.coef.bits}-bit model, dequantized weights": predict(quantized, X),
        f"this run's {integer_model.bits}-bit integer-only": predict_integer(integer_model, X),
    }
    in_range = inside_training_range(split)
    float_r2, float_r2_in = r2_score(y, float_pred), r2_score(y[in_range], float_pred[in_range])
    rows = {}
    for name, pred in predictions.items():
        r2 = r2_score(y, pred)
        rows[name] = {
            "test_r2": r2,
            "delta_test_r2": r2 - float_r2,
            "max_abs_pred_diff": float(np.max(np.abs(pred - float_pred))),
            "in_range_delta_test_r2": r2_score(y[in_range], pred[in_range]) - float_r2_in,
            "rows_out_of_range": int(np.sum(~in_range)),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def target_checks(table: pd.DataFrame, integer: pd.DataFrame) -> pd.DataFrame:
    """The project's accuracy targets, each measured, with its target and PASS/FAIL, from
    :func:`sweep` (bits 3, 4 and 8 and every choice) and :func:`integer_comparison`."""
    rows = []

    def check(name: str, config: str, target: float, measured: float, in_range: float) -> None:
        result = "PASS" if measured <= target else "FAIL"
        rows.append((name, config, measured, f"≤ {target:g}", result, in_range))

    def check_row(
        name: str, target: float, config: tuple, measure: str = "delta_test_r2", note: str = ""
    ) -> None:
        mask = (table[CONFIG_COLUMNS] == list(config)).all(axis=1)
        if mask.sum() != 1:
            raise ValueError(
                f"the sweep table holds {int(mask.sum())} rows for {config[0]}-bit "
                f"{' '.join(config[1:])}; run sweep() with that configuration"
            )
        row, text = table[mask].iloc[0], f"{config[0]}-bit {' '.join(config[1:])}{note}"
        check(name, text, target, abs(row[measure]), abs(row[f"{measure}_in_range"]))

    for scheme, rounding in itertools.product(SCHEMES, ROUNDINGS):
        config = (8, scheme, "standardized", rounding)
        check_row("|ΔR²| at 8 bits, standardized", 0.001, config)
        check_row("max |Δ prediction| at 8 bits, standardized", 0.05, config, "max_abs_pred_diff")
    check_row("|ΔR²| at 8 bits, default", 0.002, (8, "asymmetric", "raw", "nearest"))
    for scheme in SCHEMES:
        check_row("|ΔR²| at 4 bits, standardized gptq", 0.002, (4, scheme, "standardized", "gptq"))
    three = table[table["bits"] == 3]  # its best is chosen without the test split
    best = tuple(three.loc[three["excess_train_mse"].idxmin(), CONFIG_COLUMNS])
    check_row("|ΔR²| at 3 bits, best configuration", 0.01, best, note=" (lowest training MSE)")
    ratios = excess_ratio_table(table).loc[4:8]
    for scheme in SCHEMES:
        worst = ratios[("standardized", scheme, "gptq")]
        described = f"{scheme} standardized, worst of 4..8 bits ({int(worst.idxmax())} bits)"
        check("gptq excess training MSE / optimal's", described, 1.10, float(worst.max()), np.nan)
    name = integer.index[integer.index.str.endswith("integer-only")][0]
    measured = integer.loc[name, "delta_test_r2"], integer.loc[name, "in_range_delta_test_r2"]
    check("|ΔR²| of integer-only inference", name, 0.002, abs(measured[0]), abs(measured[1]))
    columns = ["number", "configuration", "measured", "target", "result"]
    return pd.DataFrame(rows, columns=[*columns, "measured_on_in_range_rows"])


def out_of_range_rows(params: LinearParams, split: Split) -> pd.DataFrame:
    """The test rows with a feature outside its training min..max: saturated in integer
    inference, with the largest z-scores, they drive max |Δ prediction|. The last column is
    the R² a change to that one prediction can move: its float residual's share of the SST."""
    beyond = (split.X_test < split.X_train.min()) | (split.X_test > split.X_train.max())
    outside = beyond.any(axis=1).to_numpy()
    y = np.asarray(split.y_test, dtype=np.float64)
    float_pred = predict(params, split.X_test)
    return split.X_test[outside].assign(
        outside_training_range=beyond[outside].apply(lambda row: ", ".join(row.index[row]), axis=1),
        true=y[outside],
        float_pred=float_pred[outside],
        residual_share_of_test_sst=(y - float_pred)[outside] ** 2 / np.sum((y - y.mean()) ** 2),
    )


def inside_training_range(split: Split) -> np.ndarray:
    train = np.asarray(split.X_train, dtype=np.float64)
    test = np.asarray(split.X_test, dtype=np.float64)
    return np.all((test >= train.min(axis=0)) & (test <= train.max(axis=0)), axis=1)
