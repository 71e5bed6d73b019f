"""ONNX graphs of the float, quantized and integer-only models, for onnxruntime.

Each graph takes one tensor ``features`` of shape ``[N, 8]`` (the columns in
the order of the ``feature_names`` metadata) and returns ``prediction`` of
shape ``[N]``, in the default ONNX domain at opset :data:`OPSET`. The graphs
compute what the library computes, to float64 rounding:

* ``float``: ``MatMul`` + ``Add`` in float64 (:func:`float_graph`; float32 on
  request, the input onnxruntime's own quantizers take);
* ``quantized``: the weight and intercept codes stored in their own integer
  type with their zero points; ``DequantizeLinear`` subtracts the zero point,
  then the float64 scale multiplies, and ``MatMul`` + ``Add`` follow
  (:func:`quantized_graph`), after ``Sub`` + ``Div`` by the training means and
  stds for a standardized model;
* ``integer``: the input codes ``clip(round_half_even((x - offset) / scale), 0,
  2**input_bits - 1)`` per feature, an integer product with the integer weights
  (``MatMulInteger`` into int32 for 8-bit codes and an int32 accumulator, else
  ``MatMul`` in the model's accumulator type), the integer bias, and one float
  rescale (:func:`integer_graph`).

Two departures from the textbook QDQ pattern keep onnxruntime's predictions
equal to ours: ``QuantizeLinear`` and ``DequantizeLinear`` compute in float32 at
best, so the input codes are computed in float64 with ``Sub``, ``Div``,
``Round`` (half to even, as ``QuantizeLinear`` and :func:`numpy.rint` round) and
``Clip``, and the scales multiply in float64 after ``DequantizeLinear``. With
float32 ``QuantizeLinear`` 16 of the 4,128 test rows get another Latitude or
Longitude code (whose exact value lies on a rounding tie), and a float32 scale
moves predictions near zero by up to 5e-5 relative (docs/deploy.md).

Everything here is pure except :func:`load_export` (reads the artifacts) and
:func:`score` (runs onnxruntime, imported only there).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import metadata as package_metadata
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from calhousing.core.inference import feature_matrix
from calhousing.core.integer_inference import IntegerModel
from calhousing.core.linear import LinearParams
from calhousing.core.quantization import QuantizedModel, code_dtype
from calhousing.params import MODELS, check_choice
from calhousing.run import artifacts, manifest

OPSET = 21  # DequantizeLinear of int16/uint16 codes (bits 9..16) needs opset 21
INPUT_NAME = "features"
OUTPUT_NAME = "prediction"
EXPORTS: tuple[str, ...] = MODELS  # every model of a run exports
FLOAT_DTYPES: tuple[str, ...] = ("float64", "float32")
EXPORT_FILES: dict[str, str] = artifacts.ONNX_FILES
# The artifact each export is built from (its sha256 goes into the metadata).
_SOURCES: dict[str, str] = {
    "float": artifacts.FLOAT_PARAMS_FILE,
    "quantized": artifacts.QUANTIZED_PARAMS_FILE,
    "integer": artifacts.INTEGER_MODEL_FILE,
}
_TENSOR_TYPES: dict[str, int] = {
    "float32": TensorProto.FLOAT,
    "float64": TensorProto.DOUBLE,
}


def float_graph(
    params: LinearParams,
    *,
    dtype: str = "float64",
    metadata: Mapping[str, str] | None = None,
) -> onnx.ModelProto:
    """``features @ coef + intercept`` as ``MatMul`` + ``Add``.

    Parameters
    ----------
    params : LinearParams
        The float model.
    dtype : {"float64", "float32"}, default="float64"
        Type of the input, the parameters and the arithmetic. float64 gives
        :func:`calhousing.core.inference.predict`'s predictions to float64 rounding.
    metadata : mapping of str to str, optional
        Stored as the model's ``metadata_props``.

    Returns
    -------
    onnx.ModelProto
    """
    check_choice("dtype", dtype, FLOAT_DTYPES)
    coef = np.asarray(params.coef, dtype=dtype)
    initializers = [
        numpy_helper.from_array(coef, "coef"),
        numpy_helper.from_array(np.asarray([params.intercept], dtype=dtype), "intercept"),
    ]
    nodes = [
        helper.make_node("MatMul", [INPUT_NAME, "coef"], ["weighted_sum"]),
        helper.make_node("Add", ["weighted_sum", "intercept"], [OUTPUT_NAME]),
    ]
    doc = f"calhousing float model: MatMul + Add in {dtype}"
    return _model(nodes, initializers, len(coef), _TENSOR_TYPES[dtype], metadata, doc)


def quantized_graph(
    model: QuantizedModel, *, metadata: Mapping[str, str] | None = None
) -> onnx.ModelProto:
    """The quantized model with its codes stored as integers and dequantized in the graph.

    The codes keep their own integer type (uint8/int8 up to 8 bits, 16-bit
    above); ``DequantizeLinear`` subtracts the zero point(s) (per tensor or,
    with ``axis=0``, per channel), giving ``codes - zero_point`` exactly, and
    ``Mul`` by the float64 scale(s) gives the weights
    :meth:`calhousing.core.quantization.QuantizedTensor.dequantize` computes. A
    ``standardized`` model first computes ``(features - mean) / std``.

    Parameters
    ----------
    model : QuantizedModel
    metadata : mapping of str to str, optional

    Returns
    -------
    onnx.ModelProto
    """
    nodes, initializers = [], []
    features = INPUT_NAME
    if model.space == "standardized":
        initializers += [
            numpy_helper.from_array(np.asarray(model.feature_mean, np.float64), "feature_mean"),
            numpy_helper.from_array(np.asarray(model.feature_std, np.float64), "feature_std"),
        ]
        nodes += [
            helper.make_node("Sub", [INPUT_NAME, "feature_mean"], ["centered"]),
            helper.make_node("Div", ["centered", "feature_std"], ["standardized"]),
        ]
        features = "standardized"
    for name, tensor in (("coef", model.coef), ("intercept", model.intercept)):
        dequantize, constants = _dequantize(name, tensor.codes, tensor.zero_point, tensor.scale)
        nodes += dequantize
        initializers += constants
    nodes += [
        helper.make_node("MatMul", [features, "coef"], ["weighted_sum"]),
        helper.make_node("Add", ["weighted_sum", "intercept"], [OUTPUT_NAME]),
    ]
    doc = (
        f"calhousing {model.coef.bits}-bit quantized model ({model.coef.scheme}, "
        f"{model.coef.granularity}, {model.space} space, {model.rounding} rounding): "
        "DequantizeLinear, float64 scale, MatMul + Add"
    )
    n_features = len(model.feature_names)
    return _model(nodes, initializers, n_features, TensorProto.DOUBLE, metadata, doc)


def integer_graph(
    model: IntegerModel, *, metadata: Mapping[str, str] | None = None
) -> onnx.ModelProto:
    """Integer-only inference as :func:`calhousing.core.integer_inference.predict_integer` does it.

    The input codes are ``clip(round((features - input_offset) / input_scale),
    0, 2**input_bits - 1)``, computed in float64 (``Round`` rounds half to
    even, as :func:`numpy.rint` does) and cast to uint8 (uint16 above 8 input
    bits). The integer product is ``MatMulInteger`` (int32) for 8-bit weight and
    input codes with an int32 accumulator, else ``MatMul`` in the model's
    accumulator type; then ``Add`` of the integer bias, ``Cast`` to float64 and
    ``Mul`` by the accumulator scale.

    Parameters
    ----------
    model : IntegerModel
    metadata : mapping of str to str, optional

    Returns
    -------
    onnx.ModelProto
    """
    accumulator = np.dtype(model.accumulator_dtype)
    input_dtype = code_dtype(model.input_bits, "asymmetric")
    initializers = [
        numpy_helper.from_array(np.asarray(model.input_offset, np.float64), "input_offset"),
        numpy_helper.from_array(np.asarray(model.input_scale, np.float64), "input_scale"),
        numpy_helper.from_array(np.asarray(0.0), "code_min"),
        numpy_helper.from_array(np.asarray(float(model.input_qmax)), "code_max"),
        numpy_helper.from_array(model.weight_codes, "weight_codes"),
        numpy_helper.from_array(np.asarray([model.bias_code], accumulator), "bias_code"),
        numpy_helper.from_array(np.asarray([model.accumulator_scale], np.float64), "scale"),
    ]
    nodes = [
        helper.make_node("Sub", [INPUT_NAME, "input_offset"], ["shifted"]),
        helper.make_node("Div", ["shifted", "input_scale"], ["steps"]),
        helper.make_node("Round", ["steps"], ["rounded_steps"]),
        helper.make_node("Clip", ["rounded_steps", "code_min", "code_max"], ["clipped_steps"]),
        helper.make_node("Cast", ["clipped_steps"], ["input_codes"], to=_onnx_type(input_dtype)),
    ]
    if uses_matmul_integer(model):
        nodes.append(
            helper.make_node("MatMulInteger", ["input_codes", "weight_codes"], ["products"])
        )
    else:
        wide = _onnx_type(accumulator)
        nodes += [
            helper.make_node("Cast", ["input_codes"], ["wide_input_codes"], to=wide),
            helper.make_node("Cast", ["weight_codes"], ["wide_weight_codes"], to=wide),
            helper.make_node("MatMul", ["wide_input_codes", "wide_weight_codes"], ["products"]),
        ]
    nodes += [
        helper.make_node("Add", ["products", "bias_code"], ["accumulator"]),
        helper.make_node("Cast", ["accumulator"], ["accumulator_float"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["accumulator_float", "scale"], [OUTPUT_NAME]),
    ]
    doc = (
        f"calhousing integer-only model: {model.input_bits}-bit input codes per feature, "
        f"{model.bits}-bit weights, {model.accumulator_dtype} accumulator, one float rescale"
    )
    n_features = len(model.feature_names)
    return _model(nodes, initializers, n_features, TensorProto.DOUBLE, metadata, doc)


def uses_matmul_integer(model: IntegerModel) -> bool:
    """Whether :func:`integer_graph` multiplies with ``MatMulInteger``: 8-bit weight and
    input codes and an int32 accumulator (its only output type)."""
    return (
        model.weight_codes.dtype == np.int8
        and code_dtype(model.input_bits, "asymmetric") == np.uint8
        and model.accumulator_dtype == "int32"
    )


def quantization_settings(
    export: str, quantized: QuantizedModel, integer: IntegerModel
) -> dict[str, Any]:
    """What the export's codes are: the quantized model's grid, or the integer model's widths."""
    check_choice("model", export, EXPORTS)
    if export == "integer":
        return {
            "weight_bits": integer.bits,
            "weight_scheme": "symmetric",
            "weight_granularity": "per_tensor",
            "input_bits": integer.input_bits,
            "input_granularity": "per_feature",
            "accumulator_dtype": integer.accumulator_dtype,
            "accumulator_scale": integer.accumulator_scale,
        }
    settings = {
        "bits": quantized.coef.bits,
        "scheme": quantized.coef.scheme,
        "granularity": quantized.coef.granularity,
        "space": quantized.space,
        "rounding": quantized.rounding,
    }
    return settings if export == "quantized" else {"quantized": False, "run": settings}


def export_metadata(
    *,
    feature_names: tuple[str, ...],
    ranges: Mapping[str, tuple[float, float]],
    settings: Mapping[str, Any],
    manifest_sha256: str,
    source: str,
    source_sha256: str,
    version: str,
) -> dict[str, str]:
    """The ``metadata_props`` of an export, every value a string (JSON where structured)."""
    return {
        "feature_names": json.dumps(list(feature_names)),
        "training_ranges": json.dumps(dict(ranges)),
        "quantization": json.dumps(dict(settings)),
        "calhousing_version": version,
        "manifest_sha256": manifest_sha256,
        "source_artifact": source,
        "source_sha256": source_sha256,
        "input": f"{INPUT_NAME}: [N, {len(feature_names)}], columns in feature_names order",
        "output": f"{OUTPUT_NAME}: [N], median house value in units of $100,000",
    }


def model_bytes(model: onnx.ModelProto) -> bytes:
    """`model` serialized, after ``onnx.checker``'s full check (with shape inference).

    Raises
    ------
    onnx.checker.ValidationError
        If the graph is not a valid ONNX model.
    """
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def load_export(run: artifacts.Run | artifacts.PathLike | None, export: str) -> onnx.ModelProto:
    """Build the `export` graph from the run's artifacts, each checked against the manifest.

    Every export reads ``feature_ranges.json`` for the training ranges and
    ``quantized_params.json`` and ``integer_model.json`` for the quantization
    settings in its metadata.

    Raises
    ------
    ValueError
        If `export` is not one of :data:`EXPORTS`.
    calhousing.errors.ArtifactError, calhousing.errors.ManifestError
        If an artifact is missing or differs from the manifest.
    """
    check_choice("model", export, EXPORTS)
    run = artifacts.Run.of(run)
    quantized, integer = run.quantized(), run.integer_model()
    manifest_sha256 = manifest.file_digest(run.folder / artifacts.MANIFEST_FILE)["sha256"]
    info = export_metadata(
        feature_names=integer.feature_names,
        ranges=run.feature_ranges(),
        settings=quantization_settings(export, quantized, integer),
        manifest_sha256=manifest_sha256,
        source=_SOURCES[export],
        source_sha256=run.sha256(_SOURCES[export]),
        version=package_metadata.version("calhousing"),
    )
    if export == "float":
        return float_graph(run.float_params(), metadata=info)
    if export == "quantized":
        return quantized_graph(quantized, metadata=info)
    return integer_graph(integer, metadata=info)


def score(model: bytes | onnx.ModelProto, X: Any, feature_names: tuple[str, ...]) -> np.ndarray:
    """Predictions of `model` in onnxruntime (CPU) for the rows of `X`, as float64.

    `X` is taken as :func:`calhousing.core.inference.feature_matrix` takes it and
    cast to the graph's input type.
    """
    import onnxruntime  # only here: building a graph needs onnx alone

    serialized = model if isinstance(model, bytes) else model.SerializeToString()
    session = onnxruntime.InferenceSession(serialized, providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    dtype = np.float64 if graph_input.type == "tensor(double)" else np.float32
    features = feature_matrix(X, feature_names).astype(dtype)
    (prediction,) = session.run(None, {graph_input.name: features})
    return np.asarray(prediction, dtype=np.float64).reshape(-1)


def _dequantize(
    name: str, codes: np.ndarray, zero_point: np.ndarray, scale: np.ndarray
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes giving ``(codes - zero_point) * scale`` in float64 under `name`."""
    per_channel = np.ndim(scale) > 0
    shape = np.shape(codes) if per_channel else ()
    initializers = [
        numpy_helper.from_array(np.asarray(codes), f"{name}_codes"),
        numpy_helper.from_array(np.ones(shape, np.float32), f"{name}_unit"),
        numpy_helper.from_array(np.asarray(zero_point).reshape(shape), f"{name}_zero_point"),
        numpy_helper.from_array(np.asarray(scale, np.float64), f"{name}_scale"),
    ]
    options = {"axis": 0} if per_channel else {}
    nodes = [
        helper.make_node(
            "DequantizeLinear",
            [f"{name}_codes", f"{name}_unit", f"{name}_zero_point"],
            [f"{name}_offsets"],
            **options,
        ),
        helper.make_node("Cast", [f"{name}_offsets"], [f"{name}_steps"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", [f"{name}_steps", f"{name}_scale"], [name]),
    ]
    return nodes, initializers


def _model(
    nodes: list[onnx.NodeProto],
    initializers: list[onnx.TensorProto],
    n_features: int,
    input_type: int,
    metadata: Mapping[str, str] | None,
    doc: str,
) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "calhousing",
        [helper.make_tensor_value_info(INPUT_NAME, input_type, ["N", n_features])],
        [helper.make_tensor_value_info(OUTPUT_NAME, input_type, ["N"])],
        initializers,
    )
    opsets = [helper.make_opsetid("", OPSET)]
    model = helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="calhousing",
        doc_string=doc,
    )
    helper.set_model_props(model, dict(metadata or {}))
    return model


def _onnx_type(dtype: np.dtype | type) -> int:
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
