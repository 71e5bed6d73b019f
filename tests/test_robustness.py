"""Runs that fail, are interrupted or overlap lose nothing; equal runs give equal bytes."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calhousing.pipeline import run_pipeline

from conftest import outputs_digest, tree_digest

DETERMINISTIC_FILES = (
    "float_params.json",
    "metrics.json",
    "split.json",
    "quantized_params.json",
    "comparison.json",
    "prediction_comparison.csv",
    "manifest.json",
    "model.joblib",
)


@pytest.fixture
def copied_run(pipeline_run, tmp_path):
    for name in ("artifacts", "reports"):
        shutil.copytree(pipeline_run[name], tmp_path / name)
    return tmp_path


def _start_run(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "calhousing",
            "run",
            "--no-progress",
            "--artifacts-dir",
            str(root / "artifacts"),
            "--reports-dir",
            str(root / "reports"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_staging(
    root: Path,
    process: subprocess.Popen[str],
    pattern: str = ".reports.run-*/executed/*.ipynb",
    timeout: float = 60,
) -> None:
    """Wait until the run has staged something matching `pattern` (default: a notebook)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(root.glob(pattern)):
            return
        if process.poll() is not None:
            pytest.fail(f"run ended before it staged anything: {process.communicate()}")
        time.sleep(0.02)
    process.kill()
    pytest.fail("run never started staging")


def test_two_equal_runs_write_byte_identical_artifacts_and_tables(pipeline_run, tmp_path):
    run_pipeline(tmp_path / "artifacts", tmp_path / "reports", progress_bar=False)
    first, second = tree_digest(pipeline_run["artifacts"]), tree_digest(tmp_path / "artifacts")
    for name in DETERMINISTIC_FILES:
        assert first[name] == second[name], f"{name} differs between two equal runs"
    tables = [
        re.findall(r'<table[^>]*class="dataframe".*?</table>', path.read_text("utf-8"), flags=re.S)
        for path in (pipeline_run["report"], tmp_path / "reports" / "report.html")
    ]
    assert tables[0] and tables[0] == tables[1]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize(
    "moment",
    [".reports.run-*", ".reports.run-*/executed/02_quantize.ipynb"],
    ids=["while-the-kernel-starts", "while-notebooks-run"],
)
def test_interrupted_run_leaves_previous_outputs_byte_for_byte(copied_run, signum, moment):
    before = outputs_digest(copied_run)
    process = _start_run(copied_run)
    _wait_for_staging(copied_run, process, moment)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    if moment == ".reports.run-*":
        # Known limit: a signal that lands while jupyter_client is still starting the
        # kernel can end the process by SIGINT after the clean-up, instead of exit 130.
        assert process.returncode in (130, -signal.SIGINT), stderr
    else:
        assert process.returncode == 130, stderr
    assert "interrupted; previous artifacts and reports are unchanged" in stderr
    assert "Traceback" not in stderr
    assert outputs_digest(copied_run) == before
    assert not list(copied_run.glob(".*.run-*"))


def test_second_concurrent_run_stops_with_a_clear_message(copied_run):
    before = outputs_digest(copied_run)
    first = _start_run(copied_run)
    _wait_for_staging(copied_run, first)
    second = _start_run(copied_run)
    _, second_err = second.communicate(timeout=60)
    first_out, first_err = first.communicate(timeout=300)
    assert second.returncode == 1
    assert f"process {first.pid}" in second_err
    assert "is writing to" in second_err
    assert first.returncode == 0, first_err
    assert "Report written" in first_out
    after = outputs_digest(copied_run)
    assert after["artifacts"].keys() == before["artifacts"].keys()
