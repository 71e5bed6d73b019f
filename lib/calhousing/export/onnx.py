"""ONNX graphs of the float, quantized and integer-only models, for onnxruntime.

Each graph maps ``features`` ``[N, 8]`` (in ``feature_names`` order) to ``prediction`` ``[N]``
in the default domain at opset :data:`OPSET`, computing what the library computes to float64
rounding. Unlike textbook QDQ, the input codes are computed in float64 and the scales multiply
in float64 after ``DequantizeLinear``: ``QuantizeLinear`` and ``DequantizeLinear`` compute in
float32 at best, which moves 16 of the 4,128 test rows to another input code and predictions
near zero by up to 5e-5 (docs/deploy.md).
"""

from __future__ import annotations

import json
from importlib import metadata as package_metadata
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from calhousing.core.inference import feature_matrix
from calhousing.core.integer_inference import WEIGHT_SCHEME, IntegerModel
from calhousing.core.linear import LinearParams
from calhousing.core.quantization import QuantizedModel, code_dtype
from calhousing.params import MODELS, check_choice
from calhousing.run import artifacts, manifest

OPSET = 21  # DequantizeLinear of int16/uint16 codes (bits 9..16) needs opset 21
INPUT_NAME = "features"
OUTPUT_NAME = "prediction"
EXPORTS: tuple[str, ...] = MODELS  # every model of a run exports
EXPORT_FILES: dict[str, str] = artifacts.ONNX_FILES


def float_graph(params: LinearParams, *, dtype: str = "float64") -> onnx.ModelProto:
    """``features @ coef + intercept`` in `dtype`: float64 as
    :func:`calhousing.core.inference.predict` computes it, float32 for onnxruntime's quantizers."""
    check_choice("dtype", dtype, ("float64", "float32"))
    constants = {
        "coef": np.asarray(params.coef, dtype),
        "intercept": np.asarray([params.intercept], dtype),
    }
    doc = f"calhousing float model: MatMul + Add in {dtype}"
    return _model(_linear(INPUT_NAME), constants, params, doc, dtype=dtype)


def quantized_graph(model: QuantizedModel) -> onnx.ModelProto:
    """The quantized model, its codes stored in their own integer type: ``DequantizeLinear`` with
    a unit scale gives ``codes - zero_point`` exactly, then a float64 ``Mul`` applies the scale,
    as :meth:`calhousing.core.quantization.QuantizedTensor.dequantize` does."""
    nodes, constants, features = [], {}, INPUT_NAME
    if model.space == "standardized":
        constants = {
            "feature_mean": np.asarray(model.feature_mean, np.float64),
            "feature_std": np.asarray(model.feature_std, np.float64),
        }
        nodes = [
            helper.make_node("Sub", [INPUT_NAME, "feature_mean"], ["centered"]),
            helper.make_node("Div", ["centered", "feature_std"], ["standardized"]),
        ]
        features = "standardized"
    for name, tensor in (("coef", model.coef), ("intercept", model.intercept)):
        per_channel = np.ndim(tensor.scale) > 0
        shape = np.shape(tensor.codes) if per_channel else ()
        constants |= {
            f"{name}_codes": np.asarray(tensor.codes),
            f"{name}_unit": np.ones(shape, np.float32),
            f"{name}_zero_point": np.asarray(tensor.zero_point).reshape(shape),
            f"{name}_scale": np.asarray(tensor.scale, np.float64),
        }
        nodes += [
            helper.make_node(
                "DequantizeLinear",
                [f"{name}_codes", f"{name}_unit", f"{name}_zero_point"],
                [f"{name}_offsets"],
                **({"axis": 0} if per_channel else {}),
            ),
            helper.make_node("Cast", [f"{name}_offsets"], [f"{name}_steps"], to=TensorProto.DOUBLE),
            helper.make_node("Mul", [f"{name}_steps", f"{name}_scale"], [name]),
        ]
    doc = (
        f"calhousing {model.coef.bits}-bit quantized model ({model.coef.scheme}, "
        f"{model.coef.granularity}, {model.space} space, {model.rounding} rounding): "
        "DequantizeLinear, float64 scale, MatMul + Add"
    )
    return _model(nodes + _linear(features), constants, model, doc)


def integer_graph(model: IntegerModel) -> onnx.ModelProto:
    """Integer-only inference as :func:`calhousing.core.integer_inference.predict_integer` does it:
    input codes rounded half to even in float64, an integer product and bias (``MatMul`` in the
    accumulator type where ``MatMulInteger`` cannot give it), one float64 rescale."""
    accumulator = np.dtype(model.accumulator_dtype)
    constants = {
        "input_offset": np.asarray(model.input_offset, np.float64),
        "input_scale": np.asarray(model.input_scale, np.float64),
        "code_min": np.asarray(0.0),
        "code_max": np.asarray(float(model.input_qmax)),
        "weight_codes": model.weight_codes,
        "bias_code": np.asarray([model.bias_code], accumulator),
        "scale": np.asarray([model.accumulator_scale], np.float64),
    }
    input_type = helper.np_dtype_to_tensor_dtype(code_dtype(model.input_bits))
    nodes = [
        helper.make_node("Sub", [INPUT_NAME, "input_offset"], ["shifted"]),
        helper.make_node("Div", ["shifted", "input_scale"], ["steps"]),
        helper.make_node("Round", ["steps"], ["rounded_steps"]),
        helper.make_node("Clip", ["rounded_steps", "code_min", "code_max"], ["clipped_steps"]),
        helper.make_node("Cast", ["clipped_steps"], ["input_codes"], to=input_type),
    ]
    if uses_matmul_integer(model):
        nodes += [helper.make_node("MatMulInteger", ["input_codes", "weight_codes"], ["products"])]
    else:
        wide = helper.np_dtype_to_tensor_dtype(accumulator)
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
    return _model(nodes, constants, model, doc)


def uses_matmul_integer(model: IntegerModel) -> bool:
    """Whether the codes are 8-bit and the accumulator int32, ``MatMulInteger``'s only output."""
    codes = (model.weight_codes.dtype, code_dtype(model.input_bits))
    return codes == (np.int8, np.uint8) and model.accumulator_dtype == "int32"


def model_bytes(model: onnx.ModelProto) -> bytes:
    """`model` serialized, after ``onnx.checker``'s full check (``ValidationError`` if invalid)."""
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def load_export(run: artifacts.Run | artifacts.PathLike | None, export: str) -> onnx.ModelProto:
    """The `export` graph of the run's artifacts, each checked against the manifest, with what
    it was built from (features, ranges, settings, version, sha256s) as metadata."""
    check_choice("model", export, EXPORTS)
    run = artifacts.Run.of(run)
    quantized, integer = run.quantized(), run.integer_model()
    settings = {key: getattr(quantized.coef, key) for key in ("bits", "scheme", "granularity")}
    settings |= {"space": quantized.space, "rounding": quantized.rounding}
    if export == "float":
        model, settings = float_graph(run.float_params()), {"quantized": False, "run": settings}
    elif export == "quantized":
        model = quantized_graph(quantized)
    else:
        model = integer_graph(integer)
        settings = {
            "weight_bits": integer.bits,
            "weight_scheme": WEIGHT_SCHEME,
            "weight_granularity": "per_tensor",
            "input_bits": integer.input_bits,
            "input_granularity": "per_feature",
            "accumulator_dtype": integer.accumulator_dtype,
            "accumulator_scale": integer.accumulator_scale,
        }
    names, source = integer.feature_names, artifacts.MODEL_FILES[export]
    info = {
        "feature_names": json.dumps(list(names)),
        "training_ranges": json.dumps(dict(run.feature_ranges())),
        "quantization": json.dumps(settings),
        "calhousing_version": package_metadata.version("calhousing"),
        "manifest_sha256": manifest.file_digest(run.folder / artifacts.MANIFEST_FILE)["sha256"],
        "source_artifact": source,
        "source_sha256": run.sha256(source),
        "input": f"{INPUT_NAME}: [N, {len(names)}], columns in feature_names order",
        "output": f"{OUTPUT_NAME}: [N], median house value in units of $100,000",
    }
    helper.set_model_props(model, info)
    return model


def score(model: bytes, X: Any, feature_names: tuple[str, ...]) -> np.ndarray:
    """Predictions of the serialized `model` in onnxruntime (CPU) for `X`'s rows, as float64."""
    import onnxruntime  # only here: building a graph needs onnx alone

    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    dtype = np.float64 if graph_input.type == "tensor(double)" else np.float32
    features = feature_matrix(X, feature_names).astype(dtype)
    (prediction,) = session.run(None, {graph_input.name: features})
    return np.asarray(prediction, dtype=np.float64).reshape(-1)


def _linear(features: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node("MatMul", [features, "coef"], ["weighted_sum"]),
        helper.make_node("Add", ["weighted_sum", "intercept"], [OUTPUT_NAME]),
    ]


def _model(
    nodes: list[onnx.NodeProto],
    constants: dict[str, np.ndarray],
    model: LinearParams | QuantizedModel | IntegerModel,
    doc: str,
    *,
    dtype: str = "float64",
) -> onnx.ModelProto:
    """The graph of `nodes` from ``features`` ``[N, len(model.feature_names)]`` in `dtype`."""
    io_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    graph = helper.make_graph(
        nodes,
        "calhousing",
        [helper.make_tensor_value_info(INPUT_NAME, io_type, ["N", len(model.feature_names)])],
        [helper.make_tensor_value_info(OUTPUT_NAME, io_type, ["N"])],
        [numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    opsets = [helper.make_opsetid("", OPSET)]
    return helper.make_model(
        graph,
        opset_imports=opsets,
        ir_version=helper.find_min_ir_version_for(opsets),
        producer_name="calhousing",
        doc_string=doc,
    )
