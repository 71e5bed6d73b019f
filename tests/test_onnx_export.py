"""`calhousing export`: ONNX graphs that onnxruntime scores as `calhousing predict` does."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import nbformat
import numpy as np
import onnx
import pandas as pd
import papermill
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calhousing import errors, pipeline
from calhousing.core import data, inference, integer_inference, quantization
from calhousing.core.integer_inference import IntegerModel
from calhousing.export import anchor as onnx_anchor
from calhousing.export import onnx as onnx_export
from calhousing.predict import PREDICTION_COLUMN
from calhousing.run import artifacts

from conftest import run_cli

FEATURES = data.FEATURE_NAMES
FLOAT64_TOLERANCE = 1e-6  # relative, for the float64 and integer exports
FLOAT32_TOLERANCE = 1e-5
# Training min and max of each feature in the default split, as integer_model.json records them.
TRAINING_RANGES = {
    "MedInc": [0.4999, 15.0001],
    "HouseAge": [1.0, 52.0],
    "AveRooms": [0.8888888888888888, 141.9090909090909],
    "AveBedrms": [0.3333333333333333, 25.636363636363637],
    "Population": [3.0, 35682.0],
    "AveOccup": [0.6923076923076923, 1243.3333333333333],
    "Latitude": [32.55, 41.95],
    "Longitude": [-124.35, -114.31],
}


@pytest.fixture(scope="module")
def artifacts_dir(library_run) -> Path:
    return library_run


@pytest.fixture(scope="module")
def models(artifacts_dir):
    """The run's float, quantized and integer models, as the library loads them."""
    return {
        "float": artifacts.Run.open(artifacts_dir).float_params(),
        "quantized": artifacts.Run.open(artifacts_dir).quantized(),
        "integer": artifacts.Run.open(artifacts_dir).integer_model(),
    }


@pytest.fixture(scope="module")
def exports(artifacts_dir) -> dict[str, bytes]:
    return {
        name: onnx_export.model_bytes(onnx_export.load_export(artifacts_dir, name))
        for name in onnx_export.EXPORTS
    }


@pytest.fixture(scope="module")
def odd_rows() -> pd.DataFrame:
    """Rows outside the training ranges, on both sides, and on their edges."""
    low = [value for value, _ in TRAINING_RANGES.values()]
    high = [value for _, value in TRAINING_RANGES.values()]
    rows = [
        low,
        high,
        [value - 1000 for value in low],
        [value * 50 + 7 for value in high],
        [0.0] * 8,
        [-1e9, 1e9, -5e6, 5e6, 1e12, -1e12, 90.0, 180.0],
    ]
    return pd.DataFrame(rows, columns=list(FEATURES))


def library_predictions(name: str, model, X) -> np.ndarray:
    if name == "integer":
        return integer_inference.predict_integer(model, X)
    return inference.predict(model, X)


def relative_difference(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.max(np.abs(actual - expected) / np.abs(expected)))


# --- the graphs --------------------------------------------------------------------------


@pytest.mark.parametrize("name", onnx_export.EXPORTS)
def test_export_is_a_standard_onnx_model_in_the_default_domain(exports, name):
    model = onnx.load_from_string(exports[name])
    onnx.checker.check_model(model, full_check=True)
    assert [(opset.domain, opset.version) for opset in model.opset_import] == [("", 21)]
    assert {node.domain for node in model.graph.node} == {""}
    (graph_input,) = model.graph.input
    assert graph_input.name == "features"
    assert graph_input.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    dims = graph_input.type.tensor_type.shape.dim
    assert [dims[0].dim_param, dims[1].dim_value] == ["N", 8]
    assert [output.name for output in model.graph.output] == ["prediction"]


@pytest.mark.parametrize(
    ("name", "operators"),
    [
        ("float", ["MatMul", "Add"]),
        ("quantized", ["DequantizeLinear", "Cast", "Mul"] * 2 + ["MatMul", "Add"]),
        (
            "integer",
            ["Sub", "Div", "Round", "Clip", "Cast", "MatMulInteger", "Add", "Cast", "Mul"],
        ),
    ],
)
def test_each_export_computes_with_the_operators_its_model_names(exports, name, operators):
    graph = onnx.load_from_string(exports[name]).graph
    assert [node.op_type for node in graph.node] == operators


def test_quantized_export_stores_the_codes_as_uint8_with_their_zero_point(exports, models):
    constants = {
        tensor.name: onnx.numpy_helper.to_array(tensor)
        for tensor in onnx.load_from_string(exports["quantized"]).graph.initializer
    }
    assert constants["coef_codes"].dtype == np.uint8
    assert constants["coef_codes"].tolist() == [185, 93, 65, 255, 91, 90, 3, 0]
    assert constants["coef_zero_point"].tolist() == 91
    assert constants["coef_scale"].tolist() == pytest.approx(0.004771972438262595, rel=1e-15)


def test_integer_export_stores_int8_weights_and_an_int32_bias(exports):
    constants = {
        tensor.name: onnx.numpy_helper.to_array(tensor)
        for tensor in onnx.load_from_string(exports["integer"]).graph.initializer
    }
    assert constants["weight_codes"].dtype == np.int8
    assert constants["weight_codes"].tolist() == [42, 3, -111, 127, 0, -28, -25, -28]
    assert constants["bias_code"].dtype == np.int32
    assert constants["bias_code"].tolist() == [5909]


@pytest.mark.parametrize("name", onnx_export.EXPORTS)
def test_metadata_names_the_features_ranges_settings_version_and_manifest(
    exports, artifacts_dir, name
):
    props = {prop.key: prop.value for prop in onnx.load_from_string(exports[name]).metadata_props}
    assert json.loads(props["feature_names"]) == list(FEATURES)
    ranges = json.loads(props["training_ranges"])
    assert list(ranges) == list(TRAINING_RANGES)
    np.testing.assert_allclose(list(ranges.values()), list(TRAINING_RANGES.values()), rtol=1e-12)
    assert props["calhousing_version"] == metadata.version("calhousing")
    manifest_file = artifacts_dir / artifacts.MANIFEST_FILE
    assert props["manifest_sha256"] == hashlib.sha256(manifest_file.read_bytes()).hexdigest()
    settings_ = json.loads(props["quantization"])
    expected = {
        "float": {"quantized": False},
        "quantized": {"bits": 8, "scheme": "asymmetric", "granularity": "per_tensor"},
        "integer": {"weight_bits": 8, "input_bits": 8, "accumulator_dtype": "int32"},
    }[name]
    assert expected.items() <= settings_.items()


# --- onnxruntime against calhousing predict ----------------------------------------------


@pytest.mark.parametrize("name", onnx_export.EXPORTS)
def test_cli_export_scores_as_calhousing_predict_on_test_and_odd_rows(
    artifacts_dir, default_split, odd_rows, tmp_path, name
):
    frame = pd.concat([default_split.X_test[list(FEATURES)], odd_rows], ignore_index=True)
    frame.to_csv(tmp_path / "rows.csv", index=False, float_format="%.17g")
    scored = run_cli(
        "predict",
        str(tmp_path / "rows.csv"),
        "-o",
        str(tmp_path / "scored.csv"),
        "--model",
        name,
        "--artifacts-dir",
        str(artifacts_dir),
        "--quiet",
    )
    assert scored.returncode == 0, scored.stderr
    exported = run_cli(
        "export",
        "--model",
        name,
        "-o",
        str(tmp_path / "model.onnx"),
        "--artifacts-dir",
        str(artifacts_dir),
    )
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout.startswith(f"Wrote the {name} model to ")
    expected = pd.read_csv(tmp_path / "scored.csv")[PREDICTION_COLUMN].to_numpy()
    actual = onnx_export.score((tmp_path / "model.onnx").read_bytes(), frame, FEATURES)
    assert len(actual) == 4128 + 6
    assert relative_difference(actual, expected) <= FLOAT64_TOLERANCE


_ROWS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _rows(spread: float):
    """Rows of eight features within `spread` training spans of each feature's range."""
    low = np.array([value for value, _ in TRAINING_RANGES.values()])
    high = np.array([value for _, value in TRAINING_RANGES.values()])
    fractions = hnp.arrays(
        np.float64,
        st.tuples(st.integers(1, 40), st.just(8)),
        elements=st.floats(-spread, 1 + spread, allow_nan=False),
    )
    return fractions.map(lambda f: low + f * (high - low))


@pytest.mark.parametrize("name", ["float", "quantized"])
@pytest.mark.parametrize("spread", [0.0, 20.0], ids=["in_range", "out_of_range"])
@_ROWS
@given(sample=st.data())
def test_float64_exports_agree_with_the_library_on_random_rows(
    exports, models, name, spread, sample
):
    rows = sample.draw(_rows(spread))
    actual = onnx_export.score(exports[name], rows, FEATURES)
    expected = library_predictions(name, models[name], rows)
    assert relative_difference(actual, expected) <= FLOAT64_TOLERANCE


@pytest.mark.parametrize("spread", [0.0, 20.0], ids=["in_range", "out_of_range"])
@_ROWS
@given(sample=st.data())
def test_integer_export_equals_the_library_bit_for_bit_on_random_rows(
    exports, models, spread, sample
):
    rows = sample.draw(_rows(spread))
    actual = onnx_export.score(exports["integer"], rows, FEATURES)
    expected = integer_inference.predict_integer(models["integer"], rows)
    np.testing.assert_array_equal(actual, expected)


def test_float32_graph_agrees_within_float32_tolerance(models, default_split):
    graph = onnx_export.model_bytes(onnx_export.float_graph(models["float"], dtype="float32"))
    actual = onnx_export.score(graph, default_split.X_test, FEATURES)
    expected = inference.predict(models["float"], default_split.X_test)
    # Relative to max(|y|, 1): a prediction of $800 (0.008) cannot keep 1e-5 of itself in
    # float32 sums whose terms reach 50 ($5M); docs/deploy.md gives the measured figures.
    scale = np.maximum(np.abs(expected), 1.0)
    assert float(np.max(np.abs(actual - expected) / scale)) <= FLOAT32_TOLERANCE


def test_input_codes_round_half_to_even_and_saturate_like_ours(code_echo_model):
    model = code_echo_model
    x = np.array([0.5, 1.5, 2.5, 254.5, 255.5, -3.0, 1e300, -0.5])
    rows = np.column_stack([x, np.zeros_like(x)])
    expected = [0, 2, 2, 254, 255, 0, 255, 0]
    graph = onnx_export.model_bytes(onnx_export.integer_graph(model))
    assert onnx_export.score(graph, rows, ("a", "b")).tolist() == expected
    assert integer_inference.predict_integer(model, rows).tolist() == expected


def test_int64_accumulator_is_kept_in_the_graph():
    model = IntegerModel(
        feature_names=("a", "b"),
        input_offset=np.array([0.0, 0.0]),
        input_scale=np.array([1.0, 1.0]),
        input_bits=8,
        weight_codes=np.array([127, -127], dtype=np.int8),
        bias_code=2**40,
        accumulator_scale=0.5,
        bits=8,
        accumulator_dtype="int64",
    )
    rows = np.array([[255.0, 0.0], [0.0, 255.0], [3.0, 1.0]])
    graph = onnx_export.integer_graph(model)
    assert "MatMulInteger" not in [node.op_type for node in graph.graph.node]
    actual = onnx_export.score(onnx_export.model_bytes(graph), rows, ("a", "b"))
    assert actual.tolist() == [549755830080.5, 549755797695.5, 549755814015.0]


@pytest.mark.parametrize(
    "choices",
    [
        {"bits": 4, "scheme": "symmetric", "granularity": "per_channel"},
        {"bits": 12, "scheme": "asymmetric", "granularity": "per_tensor"},
        {"bits": 8, "space": "standardized", "rounding": "gptq"},
        {"bits": 3, "scheme": "asymmetric", "granularity": "per_channel", "space": "standardized"},
    ],
    ids=["4bit-symmetric-per-channel", "12bit-uint16", "standardized-gptq", "3bit-std-channel"],
)
def test_quantized_export_of_other_settings_agrees_with_the_library(
    float_params, default_split, choices
):
    model = quantization.quantize_model(float_params, X_train=default_split.X_train, **choices)
    graph = onnx_export.model_bytes(onnx_export.quantized_graph(model))
    actual = onnx_export.score(graph, default_split.X_test, FEATURES)
    expected = inference.predict(model, default_split.X_test)
    assert relative_difference(actual, expected) <= FLOAT64_TOLERANCE


@pytest.mark.parametrize("bits", [4, 16])
def test_integer_export_of_other_widths_equals_the_library(float_params, default_split, bits):
    model = integer_inference.build_integer_model(float_params, default_split.X_train, bits=bits)
    proto = onnx_export.integer_graph(model)
    operators = [node.op_type for node in proto.graph.node]
    assert ("MatMulInteger" in operators) == (bits == 4)  # 16-bit weights: int16, int32 MatMul
    graph = onnx_export.model_bytes(proto)
    actual = onnx_export.score(graph, default_split.X_test, FEATURES)
    expected = integer_inference.predict_integer(model, default_split.X_test)
    np.testing.assert_array_equal(actual, expected)


# --- bad usage ---------------------------------------------------------------------------


def test_unknown_model_is_bad_usage(tmp_path):
    result = run_cli("export", "--model", "int8", "-o", str(tmp_path / "m.onnx"))
    assert result.returncode == 2
    assert "invalid choice: 'int8'" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


def test_an_empty_output_name_is_bad_usage(tmp_path):
    result = run_cli("export", "--model", "float", "-o", "")
    assert result.returncode == 2
    assert result.stderr == (
        "calhousing export: error: -o is empty: give the name of the .onnx file to write\n"
    )


def test_missing_artifacts_fail_in_one_line(tmp_path):
    result = run_cli(
        "export", "--model", "float", "-o", str(tmp_path / "m.onnx"), "--artifacts-dir",
        str(tmp_path / "none"),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "does not exist" in result.stderr and "nothing was written" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", onnx_export.EXPORTS)
def test_tampered_artifact_is_refused_in_one_line(artifacts_dir, tmp_path, name):
    copy = tmp_path / "artifacts"
    shutil.copytree(artifacts_dir, copy)
    with (copy / artifacts.INTEGER_MODEL_FILE).open("a") as stream:
        stream.write(" ")
    result = run_cli(
        "export", "--model", name, "-o", str(tmp_path / "m.onnx"), "--artifacts-dir", str(copy)
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "integer_model.json has" in result.stderr
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.parametrize(
    ("target", "reason"),
    [(".", "it is a folder"), ("missing/m.onnx", "No such file"), ("file/m.onnx", "Not a dir")],
)
def test_unwritable_output_fails_in_one_line_and_leaves_nothing(
    artifacts_dir, tmp_path, target, reason
):
    (tmp_path / "file").write_text("x")
    before = sorted(tmp_path.iterdir())
    result = run_cli(
        "export", "--model", "integer", "-o", str(tmp_path / target), "--artifacts-dir",
        str(artifacts_dir),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert reason in result.stderr
    assert sorted(tmp_path.iterdir()) == before


def test_existing_output_is_replaced_whole(artifacts_dir, tmp_path, exports):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old" * 10_000)
    result = run_cli(
        "export", "--model", "integer", "-o", str(target), "--artifacts-dir", str(artifacts_dir)
    )
    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == exports["integer"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["MODEL_CARD.md", "m.onnx"]


def test_predict_imports_neither_onnx_nor_onnxruntime(artifacts_dir, tmp_path):
    pd.DataFrame([[8.3, 41, 7.0, 1.0, 322, 2.6, 37.88, -122.23]], columns=list(FEATURES)).to_csv(
        tmp_path / "in.csv", index=False
    )
    script = (
        "import sys\n"
        "from calhousing import cli\n"
        f"code = cli.main(['predict', {str(tmp_path / 'in.csv')!r}, '-o', "
        f"{str(tmp_path / 'out.csv')!r}, '--model', 'integer', '--artifacts-dir', "
        f"{str(artifacts_dir)!r}, '--quiet'])\n"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "0 []"


# --- the artifacts and the anchor --------------------------------------------------------


def test_saved_exports_are_recorded_and_verified_like_every_artifact(
    artifacts_dir, exports, tmp_path
):
    copy = tmp_path / "artifacts"
    shutil.copytree(artifacts_dir, copy)
    files = {onnx_export.EXPORT_FILES[name]: exports[name] for name in onnx_export.EXPORTS}
    artifacts.Run.open(copy).save_onnx(files)
    artifacts.Run.open(copy).require(*files)  # listed with their sha256
    assert (copy / "model-integer.onnx").read_bytes() == exports["integer"]
    with (copy / "model-integer.onnx").open("ab") as stream:
        stream.write(b"\0")
    with pytest.raises(errors.ManifestError, match=r"model-integer\.onnx has"):
        artifacts.Run.open(copy).require("model-integer.onnx")


@pytest.fixture(scope="module")
def anchor(artifacts_dir, default_split) -> onnx_anchor.Anchor:
    return onnx_anchor.measure(artifacts_dir, default_split)


def test_anchor_puts_our_exports_beside_onnxruntimes_quantizers(anchor):
    table = anchor.table
    assert list(table.columns) == list(onnx_anchor.COLUMNS)
    assert list(table.index) == [
        "calhousing float (float64 MatMul + Add)",
        "calhousing quantized (8-bit weights, DequantizeLinear + MatMul)",
        "calhousing integer (8-bit inputs per feature, MatMulInteger)",
        onnx_anchor.FLOAT32_EXPORT,
        onnx_anchor.ORT_DYNAMIC,
        onnx_anchor.ORT_STATIC,
    ]
    assert (table["result"] == "scored in onnxruntime").all()
    r2 = table["test R²"].round(4).tolist()
    # float, quantized (comparison.json), integer (README), float32, then onnxruntime 1.32's
    # quantize_dynamic and quantize_static as measured on skl2onnx's export.
    assert r2 == [0.5758, 0.5749, 0.5915, 0.5758, -83.6309, -20.7185]
    assert (table["max relative difference vs calhousing"].iloc[:3] <= FLOAT64_TOLERANCE).all()
    assert table["max |Δ prediction| vs float model"].iloc[1] == pytest.approx(0.0802365, abs=1e-7)


def test_anchor_explains_the_shared_input_scale_with_the_runs_numbers(anchor):
    assert anchor.why.startswith("onnxruntime quantizes all 8 input features with one scale, 140.4")
    assert "Longitude's -124.35 to Population's 35,682" in anchor.why
    assert "MedInc's training values from 0.50 to 15.00 fall on 1 code," in anchor.why
    assert "(MedInc: 0.0569 per code, 230 codes)" in anchor.why


def test_a_failing_onnxruntime_call_becomes_a_row_that_says_so(default_split, models):
    results = onnx_anchor.ort_quantized(b"not an onnx model", np.zeros((2, 8), np.float32))
    assert set(results) == {onnx_anchor.ORT_DYNAMIC, onnx_anchor.ORT_STATIC}
    assert all(isinstance(message, str) and message for message in results.values())
    candidates = {"broken model": b"\x08\x01garbage", **results}
    table = onnx_anchor.anchor_table(
        candidates,
        split=default_split,
        feature_names=FEATURES,
        float_predictions=inference.predict(models["float"], default_split.X_test),
        references={},
    )
    assert table["result"].str.startswith("failed: ").all()
    assert table["test R²"].isna().all()
    why = onnx_anchor.why_they_differ(
        results[onnx_anchor.ORT_STATIC], default_split, models["integer"]
    )
    assert why.startswith(
        "onnxruntime's input scale cannot be shown: quantize_static failed here ("
    )
    float32 = onnx_export.model_bytes(onnx_export.float_graph(models["float"], dtype="float32"))
    why = onnx_anchor.why_they_differ(float32, default_split, models["integer"])
    assert "cannot be shown: quantize_static put no QuantizeLinear on the input;" in why


def test_deploy_notebook_saves_the_exports_and_shows_the_table(pipeline_run, tmp_path):
    copy = tmp_path / "artifacts"
    shutil.copytree(pipeline_run["artifacts"], copy)
    notebooks = pipeline.notebooks_dir()
    papermill.execute_notebook(
        str(notebooks / "06_deploy.ipynb"),
        str(tmp_path / "06.ipynb"),
        parameters={"artifacts_dir": str(copy)},
        progress_bar=False,
        cwd=str(notebooks),
    )
    artifacts.Run.open(copy).require(*onnx_export.EXPORT_FILES.values())
    executed = nbformat.read(tmp_path / "06.ipynb", as_version=4)
    html = "".join(
        output.get("data", {}).get("text/html", "")
        for cell in executed.cells
        for output in cell.get("outputs", [])
    )
    assert "onnxruntime quantize_static (QDQ, QInt8, MinMax on the training data)" in html


# --- why the graphs depart from textbook QDQ ---------------------------------------------


def _graph(nodes, constants, input_type, output_type, output_shape):
    from onnx import helper

    graph = helper.make_graph(
        nodes,
        "textbook",
        [helper.make_tensor_value_info("features", input_type, ["N", 8])],
        [helper.make_tensor_value_info("out", output_type, output_shape)],
        [onnx.numpy_helper.from_array(value, name) for name, value in constants.items()],
    )
    opsets = [helper.make_opsetid("", 21)]
    model = helper.make_model(
        graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets)
    )
    return onnx_export.model_bytes(model)


def _run(model: bytes, features: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"features": features})[0]


def test_float32_quantize_linear_would_move_the_codes_of_16_test_rows(models, default_split):
    from onnx import TensorProto, helper

    integer = models["integer"]
    x = inference.feature_matrix(default_split.X_test, FEATURES)
    graph = _graph(
        [
            helper.make_node("Sub", ["features", "offset"], ["shifted"]),
            helper.make_node("Cast", ["shifted"], ["shifted32"], to=TensorProto.FLOAT),
            helper.make_node("QuantizeLinear", ["shifted32", "scale", "zero"], ["out"], axis=1),
        ],
        {
            "offset": integer.input_offset,
            "scale": integer.input_scale.astype(np.float32),
            "zero": np.zeros(8, np.uint8),
        },
        TensorProto.DOUBLE,
        TensorProto.UINT8,
        ["N", 8],
    )
    moved = _run(graph, x) != integer_inference.quantize_inputs(integer, x)
    # Latitude and Longitude: multiples of 0.01 whose exact code lies on a rounding tie
    assert moved.any(axis=1).sum() == 16
    assert moved.sum(axis=0).tolist() == [0, 0, 0, 0, 0, 0, 13, 3]


def test_a_float32_scale_in_dequantize_linear_would_move_small_predictions(models, default_split):
    from onnx import TensorProto, helper

    quantized = models["quantized"]
    x = inference.feature_matrix(default_split.X_test, FEATURES)
    graph = _graph(
        [
            helper.make_node("DequantizeLinear", ["codes", "scale", "zero"], ["coef32"]),
            helper.make_node("Cast", ["coef32"], ["coef"], to=TensorProto.DOUBLE),
            helper.make_node("MatMul", ["features", "coef"], ["sum"]),
            helper.make_node("Add", ["sum", "intercept"], ["out"]),
        ],
        {
            "codes": quantized.coef.codes,
            "scale": quantized.coef.scale.astype(np.float32),
            "zero": quantized.coef.zero_point,
            "intercept": np.array([quantized.intercept.dequantize()[0]]),
        },
        TensorProto.DOUBLE,
        TensorProto.DOUBLE,
        ["N"],
    )
    expected = inference.predict(quantized, x)
    assert relative_difference(_run(graph, x), expected) > FLOAT32_TOLERANCE
