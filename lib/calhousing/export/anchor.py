"""Our ONNX exports beside what onnxruntime's own quantizers make of the float model.

``quantize_dynamic`` and ``quantize_static`` on a float32 export are what a user would reach
for; both give all eight input features one scale, which leaves MedInc, the strongest feature,
a code or two. An onnxruntime call that fails becomes a row that says so, not a failed run.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pandas as pd
from onnx import numpy_helper

from calhousing.core import inference, integer_inference
from calhousing.core.data import Split
from calhousing.core.integer_inference import IntegerModel
from calhousing.core.training import regression_metrics
from calhousing.export import onnx as onnx_export
from calhousing.run import artifacts

FLOAT32_EXPORT = "float32 export (the input of onnxruntime's quantizers)"
ORT_DYNAMIC = "onnxruntime quantize_dynamic (QInt8 weights, input range per batch)"
ORT_STATIC = "onnxruntime quantize_static (QDQ, QInt8, MinMax on the training data)"
COLUMNS: tuple[str, ...] = (
    "test R²",
    "max |Δ prediction| vs float model",
    "max relative difference vs calhousing",
    "file bytes",
    "result",
)


@dataclass(frozen=True)
class Anchor:
    """The run's exports by file name (for :meth:`~calhousing.run.artifacts.Run.save_onnx`),
    one table row per ONNX model, and why onnxruntime's quantizers and ours differ."""

    files: dict[str, bytes]
    table: pd.DataFrame
    why: str


def measure(run: artifacts.Run | artifacts.PathLike | None, split: Split) -> Anchor:
    """Export the run's models, quantize the float32 export with onnxruntime, and score them
    all on `split`'s test rows (its training rows calibrate ``quantize_static``)."""
    run = artifacts.Run.of(run)
    params, quantized, integer = run.float_params(), run.quantized(), run.integer_model()
    exports = [
        onnx_export.model_bytes(onnx_export.load_export(run, name)) for name in onnx_export.EXPORTS
    ]
    float32 = onnx_export.model_bytes(onnx_export.float_graph(params, dtype="float32"))
    ours = [
        inference.predict(params, split.X_test),
        inference.predict(quantized, split.X_test),
        integer_inference.predict_integer(integer, split.X_test),
    ]
    x_train = inference.feature_matrix(split.X_train, params.feature_names).astype(np.float32)
    ort_models = ort_quantized(float32, x_train)
    product = f"{integer.accumulator_dtype} MatMul"
    if onnx_export.uses_matmul_integer(integer):
        product = "MatMulInteger"
    labels = (
        "calhousing float (float64 MatMul + Add)",
        f"calhousing quantized ({quantized.coef.bits}-bit weights, DequantizeLinear + MatMul)",
        f"calhousing integer ({integer.input_bits}-bit inputs per feature, {product})",
    )
    table = anchor_table(
        dict(zip(labels, exports, strict=True)) | {FLOAT32_EXPORT: float32, **ort_models},
        split=split,
        feature_names=params.feature_names,
        float_predictions=ours[0],
        references=dict(zip(labels, ours, strict=True)) | {FLOAT32_EXPORT: ours[0]},
    )
    files = dict(zip(onnx_export.EXPORT_FILES.values(), exports, strict=True))
    return Anchor(files, table, why_they_differ(ort_models[ORT_STATIC], split, integer))


def ort_quantized(float32_model: bytes, x_train: np.ndarray) -> dict[str, bytes | str]:
    """onnxruntime's ``quantize_dynamic`` and ``quantize_static`` (QDQ, its default QInt8, MinMax
    on `x_train` as one batch) of `float32_model`, or the error of a call that failed."""
    try:
        from onnxruntime import quantization as ortq
    except ImportError as error:
        return dict.fromkeys((ORT_DYNAMIC, ORT_STATIC), _message(error))
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # hides the quantizers' advice to pre-process, logged as warnings
    try:
        with tempfile.TemporaryDirectory(prefix="calhousing-ort-") as folder:
            source = Path(folder) / "float32.onnx"
            source.write_bytes(float32_model)
            batches = iter([{onnx_export.INPUT_NAME: x_train}])
            reader = SimpleNamespace(get_next=lambda: next(batches, None))  # what ortq calls
            results: dict[str, bytes | str] = {}
            for name, call, options in (
                (ORT_DYNAMIC, ortq.quantize_dynamic, {}),
                (
                    ORT_STATIC,
                    ortq.quantize_static,
                    {
                        "calibration_data_reader": reader,
                        "quant_format": ortq.QuantFormat.QDQ,
                        "calibrate_method": ortq.CalibrationMethod.MinMax,
                    },
                ),
            ):
                output = Path(folder) / f"{len(results)}.onnx"
                try:
                    call(source, output, **options)
                    results[name] = output.read_bytes()
                except Exception as error:  # onnxruntime's quantizers raise many kinds
                    results[name] = _message(error)
            return results
    finally:
        root.setLevel(level)


def anchor_table(
    candidates: Mapping[str, bytes | str],
    *,
    split: Split,
    feature_names: tuple[str, ...],
    float_predictions: np.ndarray,
    references: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """Score each candidate (model bytes, or the error that stopped it) on the test split;
    ``max relative difference vs calhousing`` is ``max |Δ| / |y|`` against `references`."""
    rows = {}
    for name, model in candidates.items():
        if isinstance(model, str):
            rows[name] = [np.nan] * 4 + [f"failed: {model}"]
            continue
        try:
            predicted = onnx_export.score(model, split.X_test, feature_names)
        except Exception as error:  # onnxruntime's own errors have no common base class
            rows[name] = [np.nan] * 3 + [len(model), f"failed: {_message(error)}"]
            continue
        reference = references.get(name, np.nan)  # NaN: no relative difference
        rows[name] = [
            regression_metrics(split.y_test, predicted)["r2"],
            float(np.max(np.abs(predicted - float_predictions))),
            float(np.max(np.abs(predicted - reference) / np.abs(reference))),
            len(model),
            "scored in onnxruntime",
        ]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))
    return table.rename_axis("ONNX model")


def why_they_differ(static_model: bytes | str, split: Split, integer: IntegerModel) -> str:
    """One sentence, with the run's numbers, on why onnxruntime's quantizers lose the model."""
    x = inference.feature_matrix(split.X_train, integer.feature_names)
    own = float(integer.input_scale[0])
    first = integer.feature_names[0]
    quantize = None
    if isinstance(static_model, str):
        reason = f"quantize_static failed here ({static_model})"
    else:
        reason = "quantize_static put no QuantizeLinear on the input"
        graph = onnx.load_from_string(static_model).graph
        constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
        on_input = ("QuantizeLinear", graph.input[0].name)
        quantize = next((n for n in graph.node if (n.op_type, n.input[0]) == on_input), None)
    if quantize is None:
        return (
            f"onnxruntime's input scale cannot be shown: {reason}; calhousing's integer model "
            f"gives each feature its own input scale ({first}: {own:.3g} per code)."
        )
    scale, zero_point = float(constants[quantize.input[1]]), int(constants[quantize.input[2]])
    theirs = np.unique(np.rint(x[:, 0] / scale) + zero_point).size
    mine = np.unique(integer_inference.quantize_inputs(integer, x)[:, 0]).size
    low, high = x.min(axis=0), x.max(axis=0)
    lowest, highest = (integer.feature_names[int(i)] for i in (low.argmin(), high.argmax()))
    return (
        f"onnxruntime quantizes all {x.shape[1]} input features with one scale, "
        f"{scale:.4g} per code, set by the whole training range ({lowest}'s {low.min():,.2f} "
        f"to {highest}'s {high.max():,.0f}; quantize_dynamic takes such a range from each "
        f"batch), so {first}'s training values from {low[0]:.2f} to {high[0]:.2f} fall on "
        f"{_codes(theirs)}, while calhousing's integer model gives each feature its own "
        f"scale ({first}: {own:.3g} per code, {_codes(mine)})."
    )


def _codes(count: int) -> str:
    return f"{count} code" if count == 1 else f"{count} codes"


def _message(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
