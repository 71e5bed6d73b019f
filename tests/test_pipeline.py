"""The pipeline end to end: real notebooks, real data, real report."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest

from calhousing import errors, pipeline
from calhousing.errors import UsageError

from conftest import outputs_digest

NOTEBOOKS = pipeline.notebooks_dir()


@pytest.fixture
def copied_run(pipeline_run, tmp_path):
    """A private copy of the session's run, to try failing runs against."""
    for name in ("artifacts", "reports"):
        shutil.copytree(pipeline_run[name], tmp_path / name)
    return tmp_path


def test_run_writes_the_report_and_the_executed_notebooks(pipeline_run):
    executed = pipeline_run["reports"] / "executed"
    assert pipeline_run["report"] == pipeline_run["reports"] / "report.html"
    assert pipeline_run["report"].is_file()
    for name in pipeline.NOTEBOOK_NAMES:
        assert (executed / name).is_file()


def test_executed_training_notebook_shows_the_published_test_r2(pipeline_run):
    notebook = nbformat.read(pipeline_run["reports"] / "executed" / "01_train.ipynb", 4)
    shown = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    assert "0.5758" in shown


def test_comparison_json_has_exactly_the_documented_shape(pipeline_run):
    summary = json.loads((pipeline_run["artifacts"] / "comparison.json").read_text())
    assert set(summary) == {
        "float",
        "quantized",
        "max_abs_prediction_diff",
        "bits",
        "intervals",
        "slices",
    }
    for model in ("float", "quantized"):
        assert set(summary[model]) == {"train", "test"}
        for split in ("train", "test"):
            assert set(summary[model][split]) == {"r2", "mse", "mae"}
            assert all(isinstance(v, float) for v in summary[model][split].values())
    assert isinstance(summary["max_abs_prediction_diff"], float)
    assert summary["bits"] == 8


def test_default_report_headlines_the_smallest_choice_within_0_001(pipeline_run):
    choice = json.loads((pipeline_run["artifacts"] / "choice.json").read_text())
    assert (choice["bits"], choice["scheme"], choice["space"], choice["rounding"]) == (
        8,
        "asymmetric",
        "raw",
        "gptq",
    )
    assert (choice["met"], choice["payload_bytes"], choice["float_payload_bytes"]) == (True, 27, 72)
    html = pipeline_run["report"].read_text(encoding="utf-8")
    assert "smallest within budget: 8-bit · asymmetric · raw · gptq" in html
    assert "-0.0007 [-0.0018, -0.0002]" in html  # its test R² lost with the 95% interval
    assert "so the budget is met with 95% confidence" in html
    assert "best 4-bit" not in html
    assert "Of the slices, <strong>MedInc decile 7</strong> (427 test rows) loses most" in html


def test_comparison_json_holds_the_run_models_intervals_and_slices(pipeline_run):
    summary = json.loads((pipeline_run["artifacts"] / "comparison.json").read_text())
    r2 = summary["intervals"]["r2_loss"]
    assert (r2["estimate"], r2["low"], r2["high"]) == pytest.approx(
        (0.000840, -0.000899, 0.002620), abs=1e-6
    )
    names = [row["slice"] for row in summary["slices"]]
    assert names[:2] == ["MedInc decile 1", "MedInc decile 2"]
    assert {row["slice"]: row["rows"] for row in summary["slices"][10:12]} == {
        "target capped at 5.00001": 179,
        "outside the training range": 3,
    }


@pytest.mark.slow
def test_a_zero_budget_names_the_closest_miss_in_the_report(tmp_path):
    report = pipeline.run_pipeline(
        tmp_path / "a", tmp_path / "r", parameters={"max_r2_loss": 0}, progress_bar=False
    )
    choice = json.loads((tmp_path / "a" / "choice.json").read_text())
    assert (choice["met"], choice["bits"], choice["space"], choice["rounding"]) == (
        False,
        16,
        "standardized",
        "optimal",
    )
    html = report.read_text(encoding="utf-8")
    assert "No configuration the sweep measured (per tensor) keeps its training R²" in html
    assert "closest to budget: 16-bit · asymmetric · standardized · optimal" in html


def test_a_loose_budget_stores_no_more_bytes_than_the_default(float_params, default_split):
    from calhousing.core import budget, sweep

    table = sweep.sweep(float_params, default_split)
    loose = budget.budgeted_choice(float_params, default_split, table, 0.05)
    default = budget.budgeted_choice(float_params, default_split, table, 0.001)
    assert (loose["bits"], loose["scheme"], loose["rounding"], loose["payload_bytes"]) == (
        8,
        "symmetric",
        "gptq",
        25,
    )
    assert loose["payload_bytes"] <= default["payload_bytes"] == 27


def test_default_8_bit_model_keeps_test_r2_within_0_002(pipeline_run):
    summary = json.loads((pipeline_run["artifacts"] / "comparison.json").read_text())
    assert round(summary["float"]["test"]["r2"], 4) == 0.5758
    assert summary["quantized"]["test"]["r2"] >= 0.5738
    assert abs(summary["quantized"]["test"]["r2"] - summary["float"]["test"]["r2"]) <= 0.002


def test_prediction_comparison_holds_every_test_row(pipeline_run):
    predictions = pd.read_csv(pipeline_run["artifacts"] / "prediction_comparison.csv")
    assert len(predictions) == 4128
    assert {"true", "float_pred", "quantized_pred"} <= set(predictions.columns)


def test_report_embeds_tables_and_images_and_fetches_nothing(pipeline_run):
    html = pipeline_run["report"].read_text(encoding="utf-8")
    assert html.count("<table") >= 6
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', html)) >= 2
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html)
    assert not re.search(r"<script[^>]+src=", html)
    assert "<pre" not in html or "Traceback" not in html
    for heading in ("Run parameters", "Library versions", "Error table", "Coefficients"):
        assert heading in html


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"bits": 17}, "bits"),
        ({"bits": 1}, "bits"),
        ({"test_size": 1.5}, "test_size"),
        ({"test_size": 0}, "test_size"),
        ({"random_state": 4.5}, "random_state"),
        ({"random_state": "abc"}, "random_state"),
        ({"n_samples": 0}, "n_samples"),
        ({"bitz": 8}, "bitz"),
        ({"artifacts_dir": "/tmp/x"}, "--artifacts-dir"),
    ],
)
def test_bad_parameters_are_refused_before_anything_is_written(copied_run, parameters, named):
    before = outputs_digest(copied_run)
    with pytest.raises(ValueError, match=re.escape(named)):
        pipeline.run_pipeline(copied_run / "artifacts", copied_run / "reports", parameters)
    assert outputs_digest(copied_run) == before


def test_failing_notebook_names_itself_keeps_its_copy_and_changes_nothing(
    copied_run, tmp_path_factory, monkeypatch
):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path_factory.mktemp("empty_data_home")))
    before = outputs_digest(copied_run)
    with pytest.raises(errors.PipelineError, match=r"01_train\.ipynb failed in cell \d+") as raised:
        pipeline.run_pipeline(copied_run / "artifacts", copied_run / "reports", progress_bar=False)
    assert "SCIKIT_LEARN_DATA" in str(raised.value)
    assert outputs_digest(copied_run) == before
    kept = raised.value.failed_run_dir
    assert kept is not None and (kept / "01_train.ipynb").is_file()
    assert not list(copied_run.glob("*/.calhousing-*"))


def test_each_notebook_runs_alone_with_papermill(pipeline_run, tmp_path):
    artifacts = tmp_path / "artifacts"
    shutil.copytree(pipeline_run["artifacts"], artifacts)
    output = tmp_path / "02.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "02_quantize.ipynb"),
        str(output),
        parameters={"bits": 8, "artifacts_dir": str(artifacts)},
        progress_bar=False,
    )
    assert json.loads((artifacts / "quantized_params.json").read_text())["coef"]["bits"] == 8


def test_quantize_notebook_alone_refuses_a_missing_artifacts_dir(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError, match="does not exist"):
        papermill.execute_notebook(
            str(NOTEBOOKS / "02_quantize.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"artifacts_dir": str(tmp_path / "missing")},
            progress_bar=False,
        )


def test_compare_notebook_refuses_an_empty_artifacts_dir(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(papermill.PapermillExecutionError, match=r"lacks float_params\.json"):
        papermill.execute_notebook(
            str(NOTEBOOKS / "03_compare.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"artifacts_dir": str(tmp_path / "empty")},
            progress_bar=False,
        )


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "calhousing", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_refuses_an_out_of_range_parameter_with_exit_code_2(copied_run):
    before = outputs_digest(copied_run)
    result = _cli(
        "run",
        "--artifacts-dir",
        str(copied_run / "artifacts"),
        "--reports-dir",
        str(copied_run / "reports"),
        "-p",
        "bits",
        "17",
    )
    assert result.returncode == 2
    assert "bits must be an integer from 2 to 16, got 17" in result.stderr
    assert outputs_digest(copied_run) == before


def test_cli_without_data_fails_fast_with_one_clear_message(copied_run, tmp_path_factory):
    empty = tmp_path_factory.mktemp("no_data")
    env = {**os.environ, "SCIKIT_LEARN_DATA": str(empty)}
    started = time.monotonic()
    result = _cli(
        "run",
        "--no-progress",
        "--artifacts-dir",
        str(copied_run / "artifacts"),
        "--reports-dir",
        str(copied_run / "reports"),
        env=env,
    )
    assert result.returncode == 1
    assert "SCIKIT_LEARN_DATA" in result.stderr
    assert "cal_housing_py3.pkz" in result.stderr
    assert result.stderr.count("cal_housing_py3.pkz does not exist") == 1
    assert "Traceback" not in result.stderr.split("calhousing run: error:")[-1]
    assert time.monotonic() - started < 60


def _run_cli(root: Path, *args: str, env: dict[str, str] | None = None):
    return _cli(
        "run",
        "--artifacts-dir",
        str(root / "artifacts"),
        "--reports-dir",
        str(root / "reports"),
        *args,
        env=env,
    )


def test_progress_bar_names_the_running_notebook_and_the_kernel_says_nothing(tmp_path):
    """Without data the run stops in 01_train: its bar is there, named, and no kernel warning."""
    env = {**os.environ, "SCIKIT_LEARN_DATA": str(tmp_path / "no_data")}
    (tmp_path / "no_data").mkdir()
    result = _run_cli(tmp_path, env=env)
    assert result.returncode == 1
    bars = [line for line in re.split(r"[\r\n]+", result.stderr) if re.search(r"\d+/12 \[", line)]
    assert bars and all(line.startswith("01_train: ") for line in bars)
    assert "TCP" not in result.stderr
    assert "WARNING" not in result.stderr


@pytest.fixture
def mount(tmp_path):
    """Mount a tmpfs (``mount(folder, "ro")``); needs root, as in the project's container and CI."""
    mounted: list[Path] = []

    def mount_tmpfs(folder: Path, mode: str = "rw") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        command = ["mount", "-t", "tmpfs", "-o", f"{mode},size=64m", "tmpfs", str(folder)]
        if os.geteuid() != 0 or subprocess.run(command, capture_output=True).returncode != 0:
            pytest.skip("mounting a tmpfs needs root (and a mount command)")
        mounted.append(folder)
        return folder

    yield mount_tmpfs
    for folder in reversed(mounted):
        subprocess.run(["umount", str(folder)], check=True)


def _everything_under(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (
            lambda root: (root / "artifacts").write_text("not a folder"),
            r"the artifacts folder '.*/artifacts' is a file, not a folder: "
            r"pass another --artifacts-dir$",
        ),
        (
            lambda root: (root / "reports").write_text("not a folder"),
            r"the reports folder '.*/reports' is a file, not a folder: pass another --reports-dir$",
        ),
    ],
    ids=["artifacts-is-a-file", "reports-is-a-file"],
)
def test_a_target_that_is_a_file_is_refused_at_once_with_exit_2(tmp_path, make, expected):
    make(tmp_path)
    before = _everything_under(tmp_path)
    started = time.monotonic()
    result = _run_cli(tmp_path)
    assert time.monotonic() - started < 10  # about a second, on a loaded machine
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert re.fullmatch(r"calhousing run: error: " + expected, line), line
    assert _everything_under(tmp_path) == before


def test_a_target_inside_a_file_is_refused_with_exit_2(tmp_path):
    (tmp_path / "file").write_text("x")
    result = _cli("run", "--artifacts-dir", str(tmp_path / "file" / "artifacts"))
    assert result.returncode == 2
    assert result.stderr.strip().endswith(
        f"is inside {str(tmp_path / 'file')!r}, a file, not a folder: pass another --artifacts-dir"
    )
    assert _everything_under(tmp_path) == ["file"]


@pytest.mark.parametrize("inside", [False, True], ids=["target-on-it", "target-below-it"])
def test_a_target_on_a_read_only_mount_is_refused_at_once_with_exit_2(tmp_path, mount, inside):
    read_only = mount(tmp_path / "ro", "ro")
    reports = read_only / "reports" if inside else read_only
    started = time.monotonic()
    result = _cli(
        "run", "--artifacts-dir", str(tmp_path / "artifacts"), "--reports-dir", str(reports)
    )
    assert time.monotonic() - started < 10
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"calhousing run: error: the reports folder {str(reports)!r} ")
    assert "(Read-only file system)" in line
    assert line.endswith(": pass another --reports-dir, or make it writable")
    assert _everything_under(tmp_path) == ["ro"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in any folder, whatever its mode")
def test_a_target_without_write_permission_is_refused_with_exit_2(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = _cli("run", "--artifacts-dir", str(locked / "artifacts"))
    assert result.returncode == 2
    assert "(Permission denied)" in result.stderr
    assert _everything_under(tmp_path) == ["locked"]


def test_the_writability_probe_sees_a_read_only_mount_and_leaves_nothing(tmp_path, mount):
    pipeline.check_target(tmp_path / "fine" / "new", "artifacts")
    assert _everything_under(tmp_path) == []
    read_only = mount(tmp_path / "ro", "ro")
    with pytest.raises(UsageError, match=r"Read-only file system"):
        pipeline.check_target(read_only, "artifacts")


@pytest.mark.slow
def test_run_into_mounted_targets_moves_outputs_by_renaming(pipeline_run, tmp_path, mount):
    """Targets that are mount points (Docker volumes): staging on the same mount, no copies."""
    for name in ("artifacts", "reports"):
        shutil.copytree(pipeline_run[name], mount(tmp_path / name), dirs_exist_ok=True)
    before = outputs_digest(tmp_path)
    started = time.time()
    report = pipeline.run_pipeline(tmp_path / "artifacts", tmp_path / "reports", progress_bar=False)
    assert report == tmp_path / "reports" / "report.html"
    assert report.stat().st_mtime >= started - 1
    after = outputs_digest(tmp_path)
    assert after["artifacts"].keys() == before["artifacts"].keys()
    assert after["reports"].keys() == before["reports"].keys()
    assert not list(tmp_path.glob("*/.calhousing-*"))
