"""Artifacts travel as JSON/CSV, are written atomically and verified against the manifest."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest

from calhousing import artifacts, manifest
from calhousing.training import LinearParams


@pytest.fixture
def run_copy(pipeline_run, tmp_path):
    folder = tmp_path / "artifacts"
    shutil.copytree(pipeline_run["artifacts"], folder)
    return folder


def test_every_artifact_is_listed_with_its_hash_and_size(pipeline_run):
    folder = pipeline_run["artifacts"]
    recorded = json.loads((folder / "manifest.json").read_text())
    for name in artifacts.ARTIFACT_FILES:
        if name == artifacts.MANIFEST_FILE:
            continue
        assert recorded["files"][name] == manifest.file_digest(folder / name)


def test_manifest_records_parameters_versions_and_data_lineage(pipeline_run):
    recorded = json.loads((pipeline_run["artifacts"] / "manifest.json").read_text())
    expected = {"test_size": 0.2, "random_state": 42, "bits": 8}
    assert expected.items() <= recorded["parameters"].items()
    assert set(recorded["versions"]) >= {"python", "numpy", "scikit-learn", "pandas", "calhousing"}
    assert len(recorded["training_data_sha256"]) == 64


def test_training_data_digest_changes_with_the_split(housing):
    from calhousing import data

    first = data.training_data_digest(data.split_data(housing, 0.2, 42))
    again = data.training_data_digest(data.split_data(housing, 0.2, 42))
    other = data.training_data_digest(data.split_data(housing, 0.2, 43))
    assert first == again != other


def test_changed_file_is_refused_naming_it_and_the_hash(run_copy):
    path = run_copy / "float_params.json"
    path.write_text(path.read_text().replace("-37.", "-38."))
    with pytest.raises(
        manifest.ManifestError, match=r"float_params\.json does not match its sha256"
    ):
        artifacts.load_float_params(run_copy)


def test_truncated_file_is_refused_naming_its_size(run_copy):
    path = run_copy / "quantized_params.json"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(manifest.ManifestError, match=r"quantized_params\.json has 100 bytes"):
        artifacts.load_quantized(run_copy)


def test_missing_manifest_is_refused(run_copy):
    (run_copy / "manifest.json").unlink()
    with pytest.raises(manifest.ManifestError, match=r"manifest\.json is missing"):
        artifacts.load_float_params(run_copy)


def test_tampered_model_is_never_unpickled(run_copy, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (marker.touch, ())

    (run_copy / "model.joblib").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(manifest.ManifestError, match=r"model\.joblib"):
        artifacts.load_model(run_copy)
    assert not marker.exists()


def test_untampered_model_loads_and_predicts_like_the_params(run_copy, default_split):
    model = artifacts.load_model(run_copy)
    params = artifacts.load_float_params(run_copy)
    np.testing.assert_allclose(model.coef_, params.coef, rtol=0, atol=0)


def test_stale_file_from_an_earlier_training_is_refused(run_copy):
    params = artifacts.load_float_params(run_copy)
    model = artifacts.load_model(run_copy)
    artifacts.save_training(
        run_copy, model, params, {}, {"test_size": 0.2, "random_state": 1}, "0" * 64
    )
    with pytest.raises(manifest.ManifestError, match=r"quantized_params\.json is not listed"):
        artifacts.load_quantized(run_copy)


def test_float_params_round_trip_exactly(tmp_path):
    params = LinearParams(
        coef=np.array([0.1, -2.0000000000000004, 1e-300]),
        intercept=-37.02327770606391,
        feature_names=("a", "b", "c"),
    )
    path = tmp_path / "p.json"
    artifacts.write_json(path, artifacts.params_to_dict(params))
    loaded = artifacts.params_from_dict(artifacts.read_json(path))
    assert loaded.coef.tolist() == params.coef.tolist()
    assert loaded.intercept == params.intercept


def test_json_refuses_nan_rather_than_writing_invalid_json(tmp_path):
    with pytest.raises(ValueError):
        artifacts.write_json(tmp_path / "x.json", {"r2": float("nan")})
    assert not (tmp_path / "x.json").exists()
    assert list(tmp_path.iterdir()) == []


def test_empty_artifacts_dir_defaults_to_the_environment_override(tmp_path, monkeypatch):
    monkeypatch.setenv("CALHOUSING_ARTIFACTS_DIR", str(tmp_path / "elsewhere"))
    assert artifacts.resolve_dir("", "artifacts") == tmp_path / "elsewhere"
    monkeypatch.delenv("CALHOUSING_ARTIFACTS_DIR")
    assert artifacts.resolve_dir(None, "artifacts") == artifacts.project_root() / "artifacts"


def test_artifacts_get_the_usual_file_mode_not_mkstemps_private_one(tmp_path):
    import os

    artifacts.write_json(tmp_path / "x.json", {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "x.json").stat().st_mode & 0o777 == 0o666 & ~mask
