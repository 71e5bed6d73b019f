"""Shared fixtures: the real data (scikit-learn's cache) and one real pipeline run."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from calhousing.core import data, training
from calhousing.pipeline import run_pipeline


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs a whole pipeline run (the `pipeline_run` fixture) is `slow`."""
    for item in items:
        if "pipeline_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def housing():
    """The real California Housing frame, from SCIKIT_LEARN_DATA or scikit-learn's cache."""
    return data.load_housing()


@pytest.fixture(scope="session")
def default_split(housing):
    """The published 80/20 split with random_state=42."""
    return data.split_data(housing, test_size=0.2, random_state=42)


@pytest.fixture(scope="session")
def float_params(default_split):
    """The float parameters of LinearRegression fitted on the default split."""
    model = training.fit_linear_regression(default_split.X_train, default_split.y_train)
    return training.linear_params(model)


@pytest.fixture(scope="session")
def code_echo_model():
    """An 8-bit integer model that predicts its first input's code: where inputs round and
    saturate, seen from outside."""
    from calhousing.core.integer_inference import IntegerModel

    return IntegerModel(
        feature_names=("a", "b"),
        input_offset=np.array([0.0, 0.0]),
        input_scale=np.array([1.0, 1.0]),
        input_bits=8,
        weight_codes=np.array([1, 0], dtype=np.int8),
        bias_code=0,
        accumulator_scale=1.0,
        bits=8,
        accumulator_dtype="int32",
    )


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory, request) -> dict[str, Path]:
    """One real `calhousing run` with the defaults, into a temporary folder.

    Tests must not modify what it wrote; copy it first (see `finished_run`). Under
    pytest-xdist the workers share it: the first to take the lock runs the pipeline, the
    others wait for it and read the same folders.
    """
    import fcntl

    shared = tmp_path_factory.getbasetemp()
    if hasattr(request.config, "workerinput"):  # a pytest-xdist worker, in the run's folder
        shared = shared.parent
    root = shared / "pipeline-run"
    returned = shared / "pipeline-run.returned"  # the path run_pipeline returned
    with open(shared / "pipeline-run.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not returned.is_file():
            report = run_pipeline(root / "artifacts", root / "reports", progress_bar=False)
            returned.write_text(str(report), encoding="utf-8")
    report = Path(returned.read_text(encoding="utf-8"))
    return {
        "root": root,
        "artifacts": root / "artifacts",
        "reports": root / "reports",
        "report": report,
    }


@pytest.fixture(scope="session")
def library_run(tmp_path_factory, default_split) -> Path:
    """The artifacts scoring and the exports read (01_train's and 02_quantize's), written by
    the library calls those notebooks make: no kernel, no papermill, about a second.

    `tests/test_artifacts.py` checks they match a real run's, byte for byte.
    """
    from calhousing.core import evaluation, integer_inference, quantization
    from calhousing.run import artifacts

    folder = tmp_path_factory.mktemp("library-run") / "artifacts"
    split = default_split
    model = training.fit_linear_regression(split.X_train, split.y_train)
    float_params = training.linear_params(model)
    metrics = evaluation.split_metrics(float_params, split)
    run = artifacts.save_training(
        folder, model, float_params, metrics, split, test_size=0.2, random_state=42
    )
    quantized = quantization.quantize_model(float_params, X_train=split.X_train)
    integer_model = integer_inference.build_integer_model(float_params, split.X_train)
    run.save_quantized(quantized, integer_model)
    return folder


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m calhousing ARGS` in a child process, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "calhousing", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def tree_digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative path (empty if it does not exist)."""
    if not folder.exists():
        return {}
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def outputs_digest(root: Path) -> dict[str, dict[str, str]]:
    """`tree_digest` of the artifacts/ and reports/ folders under `root`."""
    return {name: tree_digest(root / name) for name in ("artifacts", "reports")}


# --- run state: copies of a finished run, and rewriting one of its artifacts ---


@pytest.fixture
def finished_run(pipeline_run, tmp_path) -> Path:
    """A private copy of the default run's artifacts/ and reports/ under one folder."""
    import shutil

    for name in ("artifacts", "reports"):
        shutil.copytree(pipeline_run[name], tmp_path / name)
    return tmp_path


def rewrite_artifact(folder: Path, name: str, content: bytes) -> None:
    """Replace the artifact `name` and record its new digest in the manifest, as a step would.

    The structure checks, not the hash check, then decide whether it is read.
    """
    import json

    from calhousing.run import manifest

    (folder / name).write_bytes(content)
    path = folder / manifest.MANIFEST_FILE
    recorded = json.loads(path.read_text())
    recorded["files"][name] = manifest.file_digest(folder / name)
    path.write_text(json.dumps(manifest.seal(recorded), indent=2) + "\n")
