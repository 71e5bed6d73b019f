"""Our ONNX exports beside what onnxruntime's own quantizers make of the float model.

``quantize_dynamic`` and ``quantize_static`` on a float32 export are what a user would reach
for; both give all eight input features one scale, which leaves MedInc, the strongest feature,
a code or two. An onnxruntime call that fails becomes a row that says so, not a failed run.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import onnx
import pandas as pd
from onnx import numpy_helper

from calhousing.core import inference, integer_inference
from calhousing.core.data import Split
from calhousing.core.integer_inference import IntegerModel
from calhousing.core.quantization import QuantizedModel
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
    one table row per ONNX model, and one sentence on why onnxruntime's quantizers and ours
    differ, with the run's numbers."""

    files: dict[str, bytes]
    table: pd.DataFrame
    why: str


def measure(run: artifacts.Run | artifacts.PathLike | None, split: Split) -> Anchor:
    """Export the run's models, quantize the float32 export with onnxruntime, and score them
    all on `split`'s test rows (its training rows calibrate ``quantize_static``)."""
    run = artifacts.Run.of(run)
    params, quantized, integer = run.float_params(), run.quantized(), run.integer_model()
    exports = {
        name: onnx_export.model_bytes(onnx_export.load_export(run, name))
        for name in onnx_export.EXPORTS
    }
    float32 = onnx_export.model_bytes(onnx_export.float_graph(params, dtype="float32"))
    ours = {
        "float": inference.predict(params, split.X_test),
        "quantized": inference.predict(quantized, split.X_test),
        "integer": integer_inference.predict_integer(integer, split.X_test),
    }
    x_train = inference.feature_matrix(split.X_train, params.feature_names).astype(np.float32)
    ort_models = ort_quantized(float32, x_train)
    labels = {name: label(name, quantized, integer) for name in onnx_export.EXPORTS}
    candidates = {labels[name]: exports[name] for name in labels}
    candidates |= {FLOAT32_EXPORT: float32, **ort_models}
    references = {labels[name]: ours[name] for name in labels} | {FLOAT32_EXPORT: ours["float"]}
    table = anchor_table(
        candidates,
        split=split,
        feature_names=params.feature_names,
        float_predictions=ours["float"],
        references=references,
    )
    files = {onnx_export.EXPORT_FILES[name]: exports[name] for name in onnx_export.EXPORTS}
    return Anchor(files, table, why_they_differ(ort_models[ORT_STATIC], split, integer))


def label(export: str, quantized: QuantizedModel, integer: IntegerModel) -> str:
    """The table's row label for one of our exports, naming its arithmetic."""
    if export == "float":
        return "calhousing float (float64 MatMul + Add)"
    if export == "quantized":
        return (
            f"calhousing quantized ({quantized.coef.bits}-bit weights, DequantizeLinear + MatMul)"
        )
    product = f"{integer.accumulator_dtype} MatMul"
    if onnx_export.uses_matmul_integer(integer):
        product = "MatMulInteger"
    return f"calhousing integer ({integer.input_bits}-bit inputs per feature, {product})"


def ort_quantized(float32_model: bytes, x_train: np.ndarray) -> dict[str, bytes | str]:
    """onnxruntime's ``quantize_dynamic`` and ``quantize_static`` of `float32_model`, or the
    error message of a call that failed (importing the quantizers included).

    Static quantization is QDQ with onnxruntime's defaults (QInt8, per tensor) and MinMax
    calibration on `x_train` as one batch.
    """
    try:
        from onnxruntime import quantization as ortq
    except ImportError as error:
        return dict.fromkeys((ORT_DYNAMIC, ORT_STATIC), _message(error))
    with tempfile.TemporaryDirectory(prefix="calhousing-ort-") as folder, _quiet_root_logger():
        source = Path(folder) / "float32.onnx"
        source.write_bytes(float32_model)
        batches = iter([{onnx_export.INPUT_NAME: x_train}])
        reader = SimpleNamespace(get_next=lambda: next(batches, None))  # what ortq calls
        calls = {
            ORT_DYNAMIC: lambda out: ortq.quantize_dynamic(source, out),
            ORT_STATIC: lambda out: ortq.quantize_static(
                source,
                out,
                reader,
                quant_format=ortq.QuantFormat.QDQ,
                calibrate_method=ortq.CalibrationMethod.MinMax,
            ),
        }
        return {
            name: _attempt(call, Path(folder) / f"{index}.onnx")
            for index, (name, call) in enumerate(calls.items())
        }


def anchor_table(
    candidates: Mapping[str, bytes | str],
    *,
    split: Split,
    feature_names: tuple[str, ...],
    float_predictions: np.ndarray,
    references: Mapping[str, np.ndarray],
) -> pd.DataFrame:
    """Score each candidate (model bytes, or the error that stopped it) on the test split.

    ``max relative difference vs calhousing`` is ``max |Δ| / |y|`` against the
    library's prediction ``y`` of the same model, for the rows in `references`.
    """
    rows = {
        name: _row(model, split, feature_names, float_predictions, references.get(name))
        for name, model in candidates.items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index", columns=list(COLUMNS))
    return table.rename_axis("ONNX model")


def why_they_differ(static_model: bytes | str, split: Split, integer: IntegerModel) -> str:
    """One sentence, with the run's numbers, on why onnxruntime's quantizers lose the model."""
    x = inference.feature_matrix(split.X_train, integer.feature_names)
    own = float(integer.input_scale[0])
    first = integer.feature_names[0]
    try:
        if isinstance(static_model, str):
            raise ValueError(f"quantize_static failed here ({static_model})")
        scale, zero_point = input_quantization(static_model)
    except ValueError as error:
        return (
            f"onnxruntime's input scale cannot be shown: {error}; calhousing's integer model "
            f"gives each feature its own input scale ({first}: {own:.3g} per code)."
        )
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


def input_quantization(model: bytes) -> tuple[float, int]:
    """Scale and zero point of the ``QuantizeLinear`` on the graph input, or ``ValueError``."""
    graph = onnx.load_from_string(model).graph
    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    for node in graph.node:
        if node.op_type == "QuantizeLinear" and node.input[0] == graph.input[0].name:
            return float(constants[node.input[1]]), int(constants[node.input[2]])
    raise ValueError("quantize_static put no QuantizeLinear on the input")


def _row(
    model: bytes | str,
    split: Split,
    feature_names: tuple[str, ...],
    float_predictions: np.ndarray,
    reference: np.ndarray | None,
) -> list[Any]:
    if isinstance(model, str):
        return [np.nan, np.nan, np.nan, np.nan, f"failed: {model}"]
    try:
        predicted = onnx_export.score(model, split.X_test, feature_names)
    except Exception as error:  # onnxruntime's own errors have no common base class
        return [np.nan, np.nan, np.nan, len(model), f"failed: {_message(error)}"]
    relative = np.nan
    if reference is not None:
        relative = float(np.max(np.abs(predicted - reference) / np.abs(reference)))
    return [
        regression_metrics(split.y_test, predicted)["r2"],
        float(np.max(np.abs(predicted - float_predictions))),
        relative,
        len(model),
        "scored in onnxruntime",
    ]


def _attempt(call: Any, output: Path) -> bytes | str:
    try:
        call(output)
        return output.read_bytes()
    except Exception as error:  # onnxruntime's quantizers raise many kinds
        return _message(error)


def _message(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """Hide the quantizers' advice to pre-process (logged as warnings on the root logger)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
