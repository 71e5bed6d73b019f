"""Runs that fail, are interrupted or overlap lose nothing; equal runs give equal bytes."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calhousing.errors import Interrupted
from calhousing.pipeline import run_pipeline
from calhousing.run import promotion

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


STAGED_NOTEBOOK = "reports/.calhousing-new-*/executed/*.ipynb"


def _leftovers(root: Path) -> list[str]:
    """Staging, backup and journal entries in the two targets (a finished run leaves none)."""
    return sorted(
        str(path.relative_to(root))
        for name in ("artifacts", "reports")
        for path in (root / name).glob(".calhousing-*")
    )


def _wait_for_staging(
    root: Path,
    process: subprocess.Popen[str],
    pattern: str = STAGED_NOTEBOOK,
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


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("attempt", range(3))
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize(
    "moment",
    ["reports/.calhousing-new-*", "reports/.calhousing-new-*/executed/02_quantize.ipynb"],
    ids=["while-the-kernel-starts", "while-notebooks-run"],
)
def test_interrupted_run_leaves_previous_outputs_byte_for_byte(copied_run, signum, moment, attempt):
    before = outputs_digest(copied_run)
    process = _start_run(copied_run)
    _wait_for_staging(copied_run, process, moment)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == (
        "calhousing run: interrupted; previous artifacts and reports are unchanged"
    )
    assert "Traceback" not in stderr
    assert outputs_digest(copied_run) == before
    assert _leftovers(copied_run) == []


@pytest.mark.slow
def test_run_killed_mid_run_leaves_no_stale_staging_after_the_next_run(copied_run):
    process = _start_run(copied_run)
    _wait_for_staging(copied_run, process)
    process.kill()
    process.communicate(timeout=60)
    assert _leftovers(copied_run)  # SIGKILL: nothing could clean up
    result = _start_run(copied_run)
    _, stderr = result.communicate(timeout=300)
    assert result.returncode == 0, stderr
    assert _leftovers(copied_run) == []
    assert not list(copied_run.glob("reports-failed-*"))


_KILLED_WHILE_PROMOTING = """
import os, sys
from calhousing import pipeline
from calhousing.run import promotion

renames = []
original = promotion._rename


def rename(source, destination):
    if len(renames) == 5:
        os._exit(137)  # as SIGKILL, halfway through moving the outputs into place
    renames.append(source)
    original(source, destination)


promotion._rename = rename
pipeline.run_pipeline(sys.argv[1], sys.argv[2], progress_bar=False)
"""


@pytest.mark.slow
def test_run_killed_while_promoting_is_finished_by_the_next_run(copied_run):
    """The killed run's outputs were complete: the next run moves the rest in, then runs."""
    artifacts, reports = copied_run / "artifacts", copied_run / "reports"
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_WHILE_PROMOTING, str(artifacts), str(reports)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == 137, killed.stderr
    assert (artifacts / ".calhousing-promotion.json").is_file()
    result = _start_run(copied_run)
    _, stderr = result.communicate(timeout=300)
    assert result.returncode == 0, stderr
    assert _leftovers(copied_run) == []
    summary = subprocess.run(
        [
            sys.executable,
            "-m",
            "calhousing",
            "summary",
            "--artifacts-dir",
            str(artifacts),
            "--reports-dir",
            str(reports),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert summary.returncode == 0, summary.stderr


@pytest.mark.slow
def test_signal_while_promoting_waits_and_says_the_new_outputs_are_in_place(
    copied_run, monkeypatch
):
    before = outputs_digest(copied_run)
    renames = []
    original = promotion._rename

    def rename(source, destination):
        if len(renames) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        renames.append(source)
        original(source, destination)

    monkeypatch.setattr(promotion, "_rename", rename)
    with pytest.raises(Interrupted) as raised:
        run_pipeline(copied_run / "artifacts", copied_run / "reports", progress_bar=False)
    assert str(raised.value) == (
        "the new artifacts and reports were already complete and are in place"
    )
    after = outputs_digest(copied_run)
    assert after != before
    assert after["artifacts"].keys() == before["artifacts"].keys()
    assert _leftovers(copied_run) == []
    assert len(renames) > 3  # the move went on after the signal


@pytest.mark.slow
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
