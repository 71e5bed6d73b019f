"""Artifacts travel as JSON/CSV, are written atomically, verified against the manifest and
checked against their declared shape on every read."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from calhousing import cli, errors
from calhousing.core import serialization
from calhousing.core.training import LinearParams
from calhousing.run import artifacts, manifest

from conftest import rewrite_artifact, tree_digest

HEADER = "MedInc,HouseAge,AveRooms,AveBedrms,Population,AveOccup,Latitude,Longitude"
GOOD_ROW = "8.3252,41,6.98,1.02,322,2.55,37.88,-122.23"


@pytest.fixture
def run_copy(finished_run) -> Path:
    return finished_run / "artifacts"


def _cli(argv: list[str]) -> int:
    try:
        return cli.main(argv)
    except SystemExit as stop:
        return int(stop.code or 0)


def test_every_artifact_is_listed_with_its_hash_and_size(pipeline_run):
    folder = pipeline_run["artifacts"]
    recorded = json.loads((folder / "manifest.json").read_text())
    assert sorted(recorded["files"]) == sorted(
        name for name in artifacts.ARTIFACT_FILES if name != "manifest.json"
    )
    for name, digest in recorded["files"].items():
        assert digest == manifest.file_digest(folder / name)


def test_manifest_records_every_step_with_its_parameters_inputs_and_outputs(pipeline_run):
    recorded = json.loads((pipeline_run["artifacts"] / "manifest.json").read_text())
    assert recorded["manifest_version"] == 2
    steps = recorded["steps"]
    assert steps["01_train"]["parameters"] == {"test_size": 0.2, "random_state": 42}
    assert steps["01_train"]["inputs"] == {}
    assert steps["01_train"]["outputs"] == [
        "model.joblib",
        "float_params.json",
        "metrics.json",
        "split.json",
        "feature_ranges.json",
    ]
    assert steps["02_quantize"]["parameters"] == {
        "bits": 8,
        "scheme": "asymmetric",
        "granularity": "per_tensor",
        "space": "raw",
        "rounding": "nearest",
    }
    assert steps["02_quantize"]["inputs"] == {
        "float_params.json": recorded["files"]["float_params.json"]["sha256"],
        "split.json": recorded["files"]["split.json"]["sha256"],
    }
    assert sorted(steps["03_compare"]["inputs"]) == [
        "float_params.json",
        "quantized_params.json",
        "split.json",
    ]
    assert steps["03_compare"]["parameters"] == {"n_samples": 10}
    assert steps["04_sweep"]["outputs"] == ["sweep.csv", "choice.json"]
    assert steps["04_sweep"]["parameters"] == {"max_r2_loss": 0.001}
    assert set(recorded["versions"]) >= {"python", "numpy", "scikit-learn", "pandas", "calhousing"}


def test_manifest_holds_every_effective_parameter_defaults_included(pipeline_run):
    assert artifacts.Run.open(pipeline_run["artifacts"]).parameters() == {
        "test_size": 0.2,
        "random_state": 42,
        "bits": 8,
        "scheme": "asymmetric",
        "granularity": "per_tensor",
        "space": "raw",
        "rounding": "nearest",
        "n_samples": 10,
        "max_r2_loss": 0.001,
    }


def test_split_is_stored_as_row_numbers_with_the_training_rows_hash(pipeline_run):
    split = json.loads((pipeline_run["artifacts"] / "split.json").read_text())
    assert (split["test_size"], split["random_state"], split["rows"]) == (0.2, 42, 20_640)
    assert (len(split["train_rows"]), len(split["test_rows"])) == (16_512, 4_128)
    assert split["train_rows"][:3] == [14196, 8267, 17445]
    assert split["test_rows"][:3] == [20046, 3024, 15663]
    assert split["training_data_sha256"] == (
        "5727a0c7f1b2db89d34ab8d1546087b5bc1b8667a82f8e364bd92a996caafb53"
    )


def test_loaded_split_is_the_one_train_test_split_made(pipeline_run, default_split):
    split = artifacts.Run.open(pipeline_run["artifacts"]).split()
    pd.testing.assert_frame_equal(split.X_train, default_split.X_train)
    pd.testing.assert_series_equal(split.y_test, default_split.y_test)


def test_split_of_other_data_is_refused_naming_the_file_and_what_to_do(run_copy):
    split = json.loads((run_copy / "split.json").read_text())
    split["training_data_sha256"] = "0" * 64
    rewrite_artifact(run_copy, "split.json", json.dumps(split).encode())
    with pytest.raises(errors.ArtifactError) as refused:
        artifacts.Run.open(run_copy).split()
    assert str(refused.value) == (
        f"{run_copy / 'split.json'}: the training rows of the data now hash to 5727a0c7f1b2…, "
        "but 01_train split data whose training rows hashed to 000000000000…: the data "
        "(SCIKIT_LEARN_DATA) changed since; re-run 01_train and the steps after it "
        "(`calhousing run`), or point SCIKIT_LEARN_DATA at the data it was trained on"
    )


def test_split_that_loses_a_row_is_refused(run_copy):
    split = json.loads((run_copy / "split.json").read_text())
    split["test_rows"] = split["test_rows"][1:]
    rewrite_artifact(run_copy, "split.json", json.dumps(split).encode())
    with pytest.raises(errors.ArtifactError, match="must number each of the data's 20,640"):
        artifacts.Run.open(run_copy).split()


def test_feature_ranges_are_the_training_min_and_max_in_feature_order(pipeline_run):
    ranges = artifacts.Run.open(pipeline_run["artifacts"]).feature_ranges()
    assert list(ranges) == [
        "MedInc",
        "HouseAge",
        "AveRooms",
        "AveBedrms",
        "Population",
        "AveOccup",
        "Latitude",
        "Longitude",
    ]
    assert ranges["MedInc"] == (0.4999, 15.0001)
    assert ranges["Population"] == (3.0, 35682.0)
    assert ranges["Longitude"] == (-124.35, -114.31)


def test_changed_file_is_refused_naming_it_and_the_hash(run_copy):
    path = run_copy / "float_params.json"
    path.write_text(path.read_text().replace("-37.", "-38."))
    with pytest.raises(errors.ManifestError, match=r"float_params\.json does not match its sha256"):
        artifacts.Run.open(run_copy).float_params()


def test_truncated_file_is_refused_naming_its_size(run_copy):
    path = run_copy / "quantized_params.json"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(errors.ManifestError, match=r"quantized_params\.json has 100 bytes"):
        artifacts.Run.open(run_copy).quantized()


def test_missing_manifest_is_refused(run_copy):
    (run_copy / "manifest.json").unlink()
    with pytest.raises(errors.ManifestError, match=r"manifest\.json is missing"):
        artifacts.Run.open(run_copy).float_params()


def test_tampered_model_is_never_unpickled(run_copy, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (marker.touch, ())

    (run_copy / "model.joblib").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(errors.ManifestError, match=r"model\.joblib"):
        artifacts.Run.open(run_copy).model()
    assert not marker.exists()


def test_untampered_model_loads_and_predicts_like_the_params(run_copy):
    model = artifacts.Run.open(run_copy).model()
    params = artifacts.Run.open(run_copy).float_params()
    np.testing.assert_allclose(model.coef_, params.coef, rtol=0, atol=0)


def test_float_params_round_trip_exactly(tmp_path):
    params = LinearParams(
        coef=np.array([0.1, -2.0000000000000004, 1e-300]),
        intercept=-37.02327770606391,
        feature_names=("a", "b", "c"),
    )
    path = tmp_path / "p.json"
    artifacts.write_json(path, serialization.params_to_dict(params))
    loaded = serialization.params_from_dict(json.loads(path.read_text()))
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


def test_an_interrupted_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    import os

    artifacts.write_json(tmp_path / "x.json", {"a": 1})

    def interrupted(source, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        artifacts.write_json(tmp_path / "x.json", {"a": 2})
    assert [path.name for path in tmp_path.iterdir()] == ["x.json"]
    assert json.loads((tmp_path / "x.json").read_text()) == {"a": 1}


# --- malformed artifacts: hash re-recorded, so the structure check is what fires ---------


def _json_edit(edit: Callable[[Any], Any]) -> Callable[[bytes], bytes]:
    def change(content: bytes) -> bytes:
        data = json.loads(content)
        return json.dumps(edit(data)).encode()

    return change


def _set(path: str, value: Any) -> Callable[[bytes], bytes]:
    def edit(data: Any) -> Any:
        *parents, last = path.split(".")
        target = data
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return data

    return _json_edit(edit)


def _drop(key: str) -> Callable[[bytes], bytes]:
    return _json_edit(lambda data: {k: v for k, v in data.items() if k != key})


def _csv_edit(edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[bytes], bytes]:
    def change(content: bytes) -> bytes:
        from io import BytesIO

        return edit(pd.read_csv(BytesIO(content))).to_csv(index=False).encode()

    return change


def _nan_in(column: str) -> Callable[[bytes], bytes]:
    return _csv_edit(lambda table: table.assign(**{column: [np.nan, *table[column].iloc[1:]]}))


REHASH = "re-run {step} (or `calhousing run`) to rewrite it"
MALFORMED_ARTIFACTS = [
    (
        "float_params.json",
        _set("coef.3", float("nan")),
        "field coef[3] must be a finite number, got nan",
        "01_train",
    ),
    ("float_params.json", _drop("intercept"), "field intercept is missing", "01_train"),
    (
        "float_params.json",
        _json_edit(lambda d: {**d, "coef": d["coef"][:7]}),
        "field coef must hold as many items as feature_names (8), got 7",
        "01_train",
    ),
    (
        "float_params.json",
        _json_edit(lambda d: []),
        "the content must be an object, got [] (list)",
        "01_train",
    ),
    (
        "quantized_params.json",
        _set("coef.scheme", "fp8"),
        "field coef.scheme must be one of 'asymmetric', 'symmetric', got 'fp8'",
        "02_quantize",
    ),
    (
        "quantized_params.json",
        _set("coef.codes.0", "x"),
        "field coef.codes[0] must be an integer, got 'x' (str)",
        "02_quantize",
    ),
    (
        "quantized_params.json",
        _set("coef.scale", [1.0, "2"]),
        "field coef.scale[1] must be a number, got '2' (str)",
        "02_quantize",
    ),
    (
        "integer_model.json",
        _set("accumulator_dtype", "int16"),
        "field accumulator_dtype must be one of 'int32', 'int64', got 'int16'",
        "02_quantize",
    ),
    (
        "integer_model.json",
        _json_edit(lambda d: {**d, "weight_codes": d["weight_codes"][:5]}),
        "field weight_codes must hold as many items as feature_names (8), got 5",
        "02_quantize",
    ),
    (
        "comparison.json",
        _set("quantized.test.r2", "high"),
        "field quantized.test.r2 must be a number, got 'high' (str)",
        "03_compare",
    ),
    (
        "comparison.json",
        _set("bits", True),
        "field bits must be an integer, got True (bool)",
        "03_compare",
    ),
    (
        "split.json",
        _set("train_rows.0", -1),
        "field train_rows[0] must be at least 0, got -1",
        "01_train",
    ),
    (
        "split.json",
        _set("training_data_sha256", "abc"),
        "field training_data_sha256 must be a sha256 (64 hex digits), got 'abc' (str)",
        "01_train",
    ),
    (
        "feature_ranges.json",
        _json_edit(lambda d: {**d, "max": d["max"][:7]}),
        "field max must hold as many items as feature_names (8), got 7",
        "01_train",
    ),
    (
        "sweep.csv",
        _nan_in("test_r2"),
        "column 'test_r2', row 1 must be a finite number, got nan",
        "04_sweep",
    ),
    (
        "sweep.csv",
        _csv_edit(lambda t: t.assign(scheme="fp8")),
        "column 'scheme', row 1 must be one of 'asymmetric', 'symmetric', got 'fp8'",
        "04_sweep",
    ),
    (
        "choice.json",
        _set("met", "yes"),
        "field met must be true or false, got 'yes' (str)",
        "04_sweep",
    ),
    (
        "choice.json",
        _json_edit(lambda d: {**d, "intervals": {**d["intervals"], "r2_loss": {"low": 0.0}}}),
        "field intervals.r2_loss.estimate is missing",
        "04_sweep",
    ),
    (
        "comparison.json",
        _json_edit(lambda d: {**d, "slices": []}),
        "field slices must hold at least 1 items, got 0",
        "03_compare",
    ),
    (
        "prediction_comparison.csv",
        _csv_edit(lambda t: t.drop(columns="quantized_pred")),
        "the header lacks the column(s) quantized_pred",
        "03_compare",
    ),
]
LOADERS = {
    "float_params.json": lambda folder: artifacts.Run.open(folder).float_params(),
    "quantized_params.json": lambda folder: artifacts.Run.open(folder).quantized(),
    "integer_model.json": lambda folder: artifacts.Run.open(folder).integer_model(),
    "comparison.json": lambda folder: artifacts.Run.open(folder).comparison(),
    "prediction_comparison.csv": lambda folder: artifacts.Run.open(folder).comparison(),
    "split.json": lambda folder: artifacts.Run.open(folder).split(),
    "feature_ranges.json": lambda folder: artifacts.Run.open(folder).feature_ranges(),
    "sweep.csv": lambda folder: artifacts.Run.open(folder).sweep(),
    "choice.json": lambda folder: artifacts.Run.open(folder).choice(),
}


@pytest.mark.parametrize(("name", "damage", "message", "step"), MALFORMED_ARTIFACTS)
def test_malformed_artifact_is_refused_naming_the_file_and_the_field(
    run_copy, name, damage, message, step
):
    rewrite_artifact(run_copy, name, damage((run_copy / name).read_bytes()))
    with pytest.raises(errors.ArtifactError) as refused:
        LOADERS[name](run_copy)
    where = f"{run_copy / name}: {message}; "
    assert str(refused.value) == where + REHASH.format(step=step)


def test_artifact_that_is_not_json_is_refused_naming_it(run_copy):
    rewrite_artifact(run_copy, "comparison.json", b'{"float": ')
    with pytest.raises(errors.ArtifactError) as refused:
        artifacts.Run.open(run_copy).comparison()
    assert str(refused.value).startswith(
        f"cannot read artifact {str(run_copy / 'comparison.json')!r}: Expecting value"
    )


@pytest.mark.parametrize(
    ("name", "damage", "message"),
    [
        (name, damage, message)
        for name, damage, message, _ in MALFORMED_ARTIFACTS
        if name in ("comparison.json", "prediction_comparison.csv")
    ],
)
def test_summary_exits_1_on_a_malformed_comparison_without_a_traceback(
    finished_run, capsys, name, damage, message
):
    folder = finished_run / "artifacts"
    rewrite_artifact(folder, name, damage((folder / name).read_bytes()))
    code = _cli(
        ["summary", "--artifacts-dir", str(folder), "--reports-dir", str(finished_run / "reports")]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert captured.err.startswith(f"calhousing summary: error: {folder / name}: {message}; ")
    assert len(captured.err.splitlines()) == 1
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("model", "name", "damage", "message"),
    [
        (
            "float",
            "float_params.json",
            _set("coef.3", float("nan")),
            "field coef[3] must be a finite",
        ),
        ("quantized", "quantized_params.json", _set("coef.scheme", "fp8"), "field coef.scheme"),
        ("integer", "integer_model.json", _set("bias_code", 1.5), "field bias_code must be an"),
    ],
)
def test_predict_exits_1_on_a_malformed_model_without_a_traceback(
    finished_run, capsys, model, name, damage, message
):
    folder = finished_run / "artifacts"
    rewrite_artifact(folder, name, damage((folder / name).read_bytes()))
    source = finished_run / "input.csv"
    source.write_text(f"{HEADER}\n{GOOD_ROW}\n", encoding="utf-8")
    output = finished_run / "scored.csv"
    code = _cli(
        [
            "predict",
            str(source),
            "-o",
            str(output),
            "--artifacts-dir",
            str(folder),
            "--model",
            model,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert f"{folder / name}: {message}" in err
    assert "Traceback" not in err
    assert not output.exists()


# --- malformed manifests: the manifest is blamed -------------------------------------------

OLD_MANIFEST = {  # the shape calhousing wrote before steps were recorded
    "parameters": {"test_size": 0.2, "random_state": 42, "bits": 8},
    "training_data_sha256": "5727a0c7f1b2db89d34ab8d1546087b5bc1b8667a82f8e364bd92a996caafb53",
    "versions": {"python": "3.11.7"},
    "git_commit": None,
    "files": {},
}
DAMAGED = (
    "(it is damaged, or was written by another version of calhousing); "
    "re-run the pipeline (`calhousing run`) to rewrite it"
)
MALFORMED_MANIFESTS = [
    (lambda m: OLD_MANIFEST, f"field manifest_version is missing {DAMAGED}"),
    (
        lambda m: {"manifest_version": 1, "files": m["files"]},
        "manifest_version is 1, this calhousing reads version 2; re-run the pipeline "
        "(`calhousing run`) to rewrite it",
    ),
    (
        lambda m: {**m, "files": {**m["files"], "comparison.json": {"sha256": "zz", "size": 1}}},
        "field files.comparison.json.sha256 must be a sha256 (64 hex digits), got 'zz' (str) "
        + DAMAGED,
    ),
    (
        lambda m: {
            **m,
            "files": {
                **m["files"],
                "comparison.json": {**m["files"]["comparison.json"], "size": "577"},
            },
        },
        f"field files.comparison.json.size must be an integer, got '577' (str) {DAMAGED}",
    ),
    (
        lambda m: {
            **m,
            "steps": {
                **m["steps"],
                "03_compare": {"parameters": {}, "outputs": ["comparison.json"]},
            },
        },
        f"field steps.03_compare.inputs is missing {DAMAGED}",
    ),
    (
        lambda m: [m],
        "the content must be an object, got [{'manifest_version': 2, 'files': {'choi… (list) "
        + DAMAGED,
    ),
]


@pytest.mark.parametrize(("damage", "message"), MALFORMED_MANIFESTS)
def test_malformed_manifest_is_blamed_by_every_reader(finished_run, capsys, damage, message):
    folder = finished_run / "artifacts"
    path = folder / "manifest.json"
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    with pytest.raises(errors.ManifestError) as refused:
        artifacts.Run.open(folder).float_params()
    assert str(refused.value) == f"{path}: {message}"
    code = _cli(
        ["summary", "--artifacts-dir", str(folder), "--reports-dir", str(finished_run / "reports")]
    )
    assert code == 1
    assert capsys.readouterr().err == f"calhousing summary: error: {path}: {message}\n"


def test_a_corrupted_manifest_byte_blames_the_manifest(finished_run, capsys):
    folder = finished_run / "artifacts"
    path = folder / "manifest.json"
    path.write_bytes(b"X" + path.read_bytes()[1:])
    source = finished_run / "input.csv"
    source.write_text(f"{HEADER}\n{GOOD_ROW}\n", encoding="utf-8")
    code = _cli(["predict", str(source), "--artifacts-dir", str(folder)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(
        f"calhousing predict: error: {path} cannot be read as JSON (Expecting value: line 1 "
        "column 1 (char 0)): it is damaged; re-run the pipeline (`calhousing run`) to rewrite it"
    )
    assert "Traceback" not in err


def test_a_changed_digit_in_the_manifest_blames_the_manifest_not_the_artifact(finished_run, capsys):
    folder = finished_run / "artifacts"
    path = folder / "manifest.json"
    digest = json.loads(path.read_text())["files"]["comparison.json"]["sha256"]
    flipped = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    path.write_text(path.read_text().replace(digest, flipped))
    code = _cli(
        ["summary", "--artifacts-dir", str(folder), "--reports-dir", str(finished_run / "reports")]
    )
    assert code == 1
    assert capsys.readouterr().err == (
        f"calhousing summary: error: {path} was changed after it was written (its content no "
        "longer matches its manifest_sha256), so it cannot vouch for any artifact; re-run the "
        "pipeline (`calhousing run`) to rewrite it\n"
    )


def test_training_again_over_a_damaged_manifest_starts_a_new_one(run_copy, default_split):
    from calhousing.core import evaluation

    model = artifacts.Run.open(run_copy).model()
    params = artifacts.Run.open(run_copy).float_params()
    (run_copy / "manifest.json").write_text("[]")
    metrics = evaluation.split_metrics(params, default_split)
    artifacts.save_training(
        run_copy, model, params, metrics, default_split, test_size=0.2, random_state=42
    )
    assert artifacts.Run.open(run_copy).float_params().intercept == params.intercept
    with pytest.raises(errors.ManifestError, match=r"quantized_params\.json is not listed"):
        artifacts.Run.open(run_copy).quantized()


def test_a_run_checks_each_file_once_while_neither_it_nor_the_manifest_changes(
    run_copy, monkeypatch
):
    from calhousing.export import onnx as onnx_export
    from calhousing.run import manifest

    checked: list[str] = []
    verify = manifest.verify_files

    def counting(recorded, folder, names):
        checked.extend(names)
        verify(recorded, folder, names)

    monkeypatch.setattr(manifest, "verify_files", counting)
    run = artifacts.Run.open(run_copy)
    for export in onnx_export.EXPORTS:
        onnx_export.load_export(run, export)
    assert sorted(checked) == [
        "feature_ranges.json",
        "float_params.json",
        "integer_model.json",
        "quantized_params.json",
    ]
    run.save_sweep(run.sweep(), run.choice())
    checked.clear()
    run.float_params()
    assert checked == ["float_params.json"]


def test_every_step_that_writes_artifacts_is_a_notebook_of_the_pipeline():
    from calhousing import params

    assert list(artifacts.STEPS) == [name for name in params.NOTEBOOKS if name != "05_summary"]


def test_the_library_alone_writes_the_artifacts_a_real_run_writes(library_run, pipeline_run):
    """The notebooks hold no logic: their library calls, without a kernel, give the same bytes."""
    written = tree_digest(library_run)
    real = tree_digest(pipeline_run["artifacts"])
    assert sorted(written) == [
        "feature_ranges.json",
        "float_params.json",
        "integer_model.json",
        "manifest.json",
        "metrics.json",
        "model.joblib",
        "quantized_params.json",
        "split.json",
    ]
    for name in set(written) - {"manifest.json"}:
        assert written[name] == real[name], name
    ours = artifacts.Run.open(library_run).manifest
    theirs = artifacts.Run.open(pipeline_run["artifacts"]).manifest
    for step in ("01_train", "02_quantize"):
        assert ours["steps"][step] == theirs["steps"][step]


def test_a_run_opened_before_another_step_ran_sees_what_that_step_changed(run_copy):
    from calhousing.core.quantization import quantize_model

    earlier = artifacts.Run.open(run_copy)
    earlier.comparison()
    other = artifacts.Run.open(run_copy)
    other.save_quantized(quantize_model(other.float_params(), 4), other.integer_model())
    with pytest.raises(errors.StaleArtifactError, match=r"comparison\.json is stale"):
        earlier.comparison()
    # a save records its step on the manifest as it is now, not as the run first read it
    choice = json.loads((run_copy / "choice.json").read_text())
    earlier.save_sweep(pd.read_csv(run_copy / "sweep.csv").head(1), choice)
    recorded = artifacts.Run.open(run_copy).manifest
    assert recorded["steps"]["02_quantize"]["parameters"]["bits"] == 4
