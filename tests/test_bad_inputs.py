"""The bad-input matrix: every entry point refuses bad input clearly and changes nothing.

Each row drives a real entry point (``calhousing run -p``, papermill on a notebook,
``calhousing predict``, a library function) with one bad input and asserts: the
documented failure (exit code or exception), a message naming the problem, and
byte-identical artifacts and reports afterwards.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import papermill
import pytest

from calhousing import cli, errors, pipeline
from calhousing.core import data, quantization
from calhousing.run import artifacts

from conftest import outputs_digest

NOTEBOOKS = pipeline.notebooks_dir()
HEADER = "MedInc,HouseAge,AveRooms,AveBedrms,Population,AveOccup,Latitude,Longitude"
GOOD_ROW = "8.3252,41,6.98,1.02,322,2.55,37.88,-122.23"


@pytest.fixture
def run_copy(pipeline_run, tmp_path) -> Path:
    for name in ("artifacts", "reports"):
        shutil.copytree(pipeline_run[name], tmp_path / name)
    return tmp_path


# --- calhousing run -p NAME VALUE: refused before anything runs, exit code 2 ----------

RUN_PARAMETER_CASES = [
    ("bits", "1", "bits must be an integer from 2 to 16, got 1"),
    ("bits", "17", "bits must be an integer from 2 to 16, got 17"),
    ("bits", "8.5", "bits must be an integer from 2 to 16, got 8.5"),
    ("bits", "eight", "bits must be an integer from 2 to 16, got 'eight'"),
    ("bits", "inf", "bits must be an integer from 2 to 16, got inf"),
    ("test_size", "0", "test_size must be a number strictly between 0 and 1"),
    ("test_size", "1", "test_size must be a number strictly between 0 and 1"),
    ("test_size", "-0.2", "got -0.2"),
    ("test_size", "nan", "got nan"),
    ("test_size", "1e308", "got 1e+308"),
    ("random_state", "4.5", "random_state must be an integer from 0 to 4294967295"),
    ("random_state", "-1", "random_state must be an integer"),
    ("random_state", "abc", "got 'abc'"),
    ("n_samples", "0", "n_samples must be an integer of at least 1"),
    ("test_size", "1e-9", "test_size=1e-09 leaves 1 test and 20639 training rows of the 20,640"),
    ("scheme", "asymetric", "scheme must be one of 'asymmetric', 'symmetric'"),
    ("rounding", "best", "rounding must be one of"),
    ("bitz", "8", "unknown parameter(s) bitz; known parameters: test_size"),
    ("artifacts_dir", "/tmp/x", "set it with --artifacts-dir"),
]


@pytest.mark.parametrize(("name", "value", "message"), RUN_PARAMETER_CASES)
def test_run_refuses_a_bad_parameter(run_copy, capsys, name, value, message):
    before = outputs_digest(run_copy)
    code = cli.main(
        [
            "run",
            "--no-progress",
            "--artifacts-dir",
            str(run_copy / "artifacts"),
            "--reports-dir",
            str(run_copy / "reports"),
            "-p",
            name,
            value,
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err
    assert outputs_digest(run_copy) == before


# --- papermill on one notebook: the first cell refuses, nothing is written ---------------


def _corrupt(file_name: str) -> Callable[[Path], None]:
    def corrupt(artifacts_dir: Path) -> None:
        path = artifacts_dir / file_name
        path.write_bytes(path.read_bytes().replace(b"1", b"2", 1))

    return corrupt


NOTEBOOK_CASES = [
    ("01_train.ipynb", {"test_size": 1.5}, None, "test_size must be a number strictly between"),
    ("01_train.ipynb", {"random_state": "x"}, None, "random_state must be an integer"),
    ("02_quantize.ipynb", {"bits": 0}, None, "bits must be an integer from 2 to 16, got 0"),
    ("02_quantize.ipynb", {"scheme": "fp8"}, None, "scheme must be one of"),
    ("02_quantize.ipynb", {"artifacts_dir": "missing"}, None, "does not exist"),
    ("02_quantize.ipynb", {}, _corrupt("float_params.json"), "does not match its sha256"),
    ("03_compare.ipynb", {"n_samples": -1}, None, "n_samples must be an integer of at least 1"),
    ("02_quantize.ipynb", {"colour": "red"}, None, r"unknown parameter\(s\) colour; known"),
    ("02_quantize.ipynb", {"bits": 99}, None, "bits must be an integer from 2 to 16, got 99"),
    ("01_train.ipynb", {"test_size": 1e-9}, None, "leaves 1 test and 20639 training rows"),
    ("05_summary.ipynb", {"bits": 4}, None, r"unknown parameter\(s\) bits; known parameters"),
    ("03_compare.ipynb", {}, _corrupt("quantized_params.json"), "does not match its sha256"),
    ("03_compare.ipynb", {"artifacts_dir": "empty"}, None, "lacks float_params.json"),
]


@pytest.mark.parametrize(("notebook", "parameters", "damage", "message"), NOTEBOOK_CASES)
def test_notebook_refuses_bad_input(run_copy, notebook, parameters, damage, message):
    artifacts_dir = run_copy / "artifacts"
    (run_copy / "empty").mkdir()
    if damage:
        damage(artifacts_dir)
    named = {k: str(run_copy / v) if k == "artifacts_dir" else v for k, v in parameters.items()}
    before = outputs_digest(run_copy)
    with pytest.raises(papermill.PapermillExecutionError, match=message):
        papermill.execute_notebook(
            str(NOTEBOOKS / notebook),
            str(run_copy / "executed.ipynb"),
            parameters={"artifacts_dir": str(artifacts_dir), **named},
            progress_bar=False,
        )
    assert outputs_digest(run_copy) == before


# --- calhousing predict: exit 1, message naming line and column, no output file ---------

PREDICT_CASES = [
    ("missing column", f"{HEADER.replace(',Longitude', '')}\n1,2,3,4,5,6,7\n", "Longitude"),
    ("non-numeric", f"{HEADER}\n{GOOD_ROW.replace('41', 'forty')}\n", "line 2"),
    ("nan", f"{HEADER}\n{GOOD_ROW.replace('41', 'nan')}\n", "HouseAge"),
    ("inf", f"{HEADER}\n{GOOD_ROW.replace('322', 'inf')}\n", "Population"),
    ("overflow", f"{HEADER}\n1e308,41,6.9,1e308,322,2.5,-1e308,-1e308\n", "overflows"),
    ("empty file", "", "empty"),
    (
        "wrong delimiter",
        f"{HEADER.replace(',', ';')}\n{GOOD_ROW.replace(',', ';')}\n",
        "separate fields with commas",
    ),
]


@pytest.mark.parametrize(
    ("case", "content", "message"), PREDICT_CASES, ids=[c[0] for c in PREDICT_CASES]
)
def test_predict_refuses_bad_input(run_copy, capsys, case, content, message):
    source = run_copy / "input.csv"
    source.write_text(content, encoding="utf-8")
    output = run_copy / "scored.csv"
    before = outputs_digest(run_copy)
    code = cli.main(
        ["predict", str(source), "-o", str(output), "--artifacts-dir", str(run_copy / "artifacts")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1  # one line
    assert not output.exists()
    assert outputs_digest(run_copy) == before


def test_predict_refuses_bytes_that_are_not_utf8(run_copy, capsys):
    source = run_copy / "input.csv"
    source.write_bytes(f"{HEADER}\n".encode() + b"\xff\xfe,1,2,3,4,5,6,7\n")
    code = cli.main(["predict", str(source), "--artifacts-dir", str(run_copy / "artifacts")])
    assert code == 1
    assert "UTF-8" in capsys.readouterr().err


def test_predict_refuses_a_manifest_that_does_not_match(run_copy, capsys):
    _corrupt("float_params.json")(run_copy / "artifacts")
    source = run_copy / "input.csv"
    source.write_text(f"{HEADER}\n{GOOD_ROW}\n", encoding="utf-8")
    code = cli.main(["predict", str(source), "--artifacts-dir", str(run_copy / "artifacts")])
    assert code == 1
    assert "float_params.json does not match its sha256" in capsys.readouterr().err


# --- library functions: the documented exception, naming the bad value ------------------

LIBRARY_CASES = [
    (lambda: quantization.quantize([0.5, np.nan]), ValueError, "NaN or inf"),
    (lambda: quantization.quantize([np.inf]), ValueError, "NaN or inf"),
    (lambda: quantization.quantize([1e308, -1e308]), ValueError, "too wide"),
    (lambda: quantization.quantize([]), ValueError, "at least one value"),
    (lambda: quantization.quantize([1.0], bits=1), ValueError, "bits must be an integer"),
    (lambda: quantization.quantize([1.0], scheme="fp8"), ValueError, "scheme must be one of"),
    (lambda: quantization.quantize([1.0], granularity="row"), ValueError, "granularity must be"),
]


@pytest.mark.parametrize(("call", "error", "message"), LIBRARY_CASES)
def test_library_refuses_bad_values(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_loader_with_an_empty_data_home_names_the_cache(tmp_path):
    with pytest.raises(errors.DataUnavailableError, match=r"cal_housing_py3\.pkz"):
        data.load_housing(tmp_path)


def test_loader_refuses_a_missing_manifest(run_copy):
    (run_copy / "artifacts" / "manifest.json").unlink()
    with pytest.raises(errors.ManifestError, match="is missing"):
        artifacts.Run.open(run_copy / "artifacts").quantized()
