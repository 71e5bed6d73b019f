"""A partitioned Parquet dataset scored on a real Dask cluster equals single-process scoring."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from calhousing import cli
from calhousing.core import data
from calhousing.errors import InputError
from calhousing.predict import PREDICTION_COLUMN, load_model, predict_file
from calhousing.predict.dataset import predict_dataset

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def parts(housing, tmp_path_factory) -> Path:
    """4 Parquet files of 2,000 real rows each, one in a subfolder."""
    root = tmp_path_factory.mktemp("dataset") / "parts"
    frame = pl.from_pandas(housing[list(data.FEATURE_NAMES)].head(8000)).with_row_index("id")
    for index in range(4):
        folder = root / ("late" if index == 3 else "")
        folder.mkdir(parents=True, exist_ok=True)
        frame.slice(index * 2000, 2000).write_parquet(folder / f"part-{index}.parquet")
    return root


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=":0",
    ) as running:
        yield running


@pytest.mark.parametrize("model_name", ["float", "integer"])
def test_a_dataset_on_two_workers_equals_each_file_scored_alone(
    tmp_path, parts, cluster, library_run, model_name
):
    model = load_model(library_run, model_name)
    summary = predict_dataset(
        str(parts), str(tmp_path / "scored"), model, scheduler=cluster.scheduler_address
    )
    assert (summary.rows_scored, summary.rows_rejected) == (8000, 0)
    written = sorted(
        p.relative_to(tmp_path / "scored") for p in (tmp_path / "scored").rglob("*.parquet")
    )
    assert [str(p) for p in written] == [
        "late/part-3.parquet",
        "part-0.parquet",
        "part-1.parquet",
        "part-2.parquet",
    ]
    for relative in written:
        alone = tmp_path / "alone.parquet"
        predict_file(parts / relative, alone, model)
        expected = pl.read_parquet(alone)
        got = pl.read_parquet(tmp_path / "scored" / relative)
        assert got[PREDICTION_COLUMN].to_list() == expected[PREDICTION_COLUMN].to_list()
        assert got["id"].to_list() == expected["id"].to_list()


def test_a_bad_row_in_one_partition_names_its_file_and_writes_nothing(
    tmp_path, parts, cluster, library_run
):
    bad = tmp_path / "bad"
    bad.mkdir()
    for path in sorted(parts.glob("part-*.parquet")):
        pl.read_parquet(path).write_parquet(bad / path.name)
    frame = pl.read_parquet(bad / "part-1.parquet")
    frame.with_columns(
        pl.when(pl.col("id") == 2005).then(None).otherwise(pl.col("MedInc")).alias("MedInc")
    ).write_parquet(bad / "part-1.parquet")
    model = load_model(library_run, "float")
    with pytest.raises(InputError, match=r"part-1\.parquet, row 6, column 'MedInc'"):
        predict_dataset(
            str(bad), str(tmp_path / "scored"), model, scheduler=cluster.scheduler_address
        )
    assert not (tmp_path / "scored").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]


def test_a_local_cluster_can_be_started_from_a_thread(tmp_path, parts, library_run):
    # signal handlers can only be set in the main thread: there is nothing to ignore here
    model = load_model(library_run, "float")
    found: list[object] = []

    def score() -> None:
        try:
            found.append(predict_dataset(str(parts), str(tmp_path / "out"), model, workers=1))
        except Exception as error:  # reported below, in the test's thread
            found.append(error)

    worker = threading.Thread(target=score)
    worker.start()
    worker.join(timeout=120)
    assert [summary.rows_scored for summary in found] == [8000]


def test_the_cli_scores_a_glob_on_a_local_cluster(tmp_path, parts, library_run, capsys):
    argv = ["predict", str(parts / "part-*.parquet"), "-o", str(tmp_path / "out"), "--workers", "1"]
    assert cli.main([*argv, "--artifacts-dir", str(library_run)]) == 0
    assert "Scored 6,000 rows" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "part-0.parquet",
        "part-1.parquet",
        "part-2.parquet",
    ]


def _predict_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "calhousing", "predict", *args]


def test_a_bad_partition_on_a_local_cluster_is_one_line_on_stderr(tmp_path, parts, library_run):
    bad = tmp_path / "bad"
    bad.mkdir()
    frame = pl.read_parquet(parts / "part-0.parquet")
    frame.with_columns(pl.lit(None, pl.Float64).alias("AveRooms")).write_parquet(bad / "p.parquet")
    artifacts = str(library_run)
    command = _predict_command(str(bad), "-o", str(tmp_path / "out"), "--artifacts-dir", artifacts)
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    # the workers' own log of the failed task ("distributed.worker - ERROR ...") is silenced
    assert done.stderr.count("\n") == 1, done.stderr
    assert "p.parquet, row 1, column 'AveRooms': missing value (null)" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad"]


@pytest.fixture(scope="module")
def big_parts(housing, tmp_path_factory) -> Path:
    """4 Parquet files of 250,000 rows each: tasks long enough to be interrupted."""
    root = tmp_path_factory.mktemp("dataset") / "big"
    root.mkdir()
    frame = pl.from_pandas(housing[list(data.FEATURE_NAMES)])
    for index in range(4):
        frame.sample(250_000, with_replacement=True, seed=index).write_parquet(
            root / f"part-{index}.parquet"
        )
    return root


def _wait_for(folder: Path, pattern: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not list(folder.glob(pattern)) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.005)


@pytest.mark.parametrize("moment", ["starting", "scoring"])
def test_ctrl_c_in_a_terminal_is_one_line_and_no_output(tmp_path, big_parts, library_run, moment):
    # Ctrl-C signals the whole process group: the command, and the workers that printed a
    # traceback each (while they started, and from inside polars while they scored); a
    # SIGINT while the cluster started also left a half-built cluster that Dask's exit hook
    # failed to close, and one while the tasks ran an asyncio task that logged at exit
    output, artifacts = tmp_path / "out", str(library_run)
    command = _predict_command(str(big_parts), "-o", str(output), "--artifacts-dir", artifacts)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    staged = ".out.*" if moment == "starting" else ".out.*/out/part-*.parquet"
    _wait_for(tmp_path, staged, process)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    if moment == "starting" and process.returncode == 0:  # ignored while the workers start
        assert stderr.startswith("Scored 1,000,000 rows")
        assert output.is_dir()
        return
    assert (process.returncode, stderr) == (
        130,
        "calhousing predict: interrupted; no output was written.\n",
    )
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_ctrl_c_that_reaches_only_the_workers_leaves_the_scoring_alone(
    tmp_path, big_parts, library_run
):
    # The workers inherit SIGINT ignored, but importing polars installs its own handler: a
    # Ctrl-C then made polars abort the worker's task, with a Rust panic message on stderr
    # at times. The command decides how to stop; its workers never hear Ctrl-C.
    import psutil

    output, artifacts = tmp_path / "out", str(library_run)
    command = _predict_command(str(big_parts), "-o", str(output), "--artifacts-dir", artifacts)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    _wait_for(tmp_path, ".out.*/out/part-*.parquet", process)
    for child in psutil.Process(process.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # a helper process that just ended
            child.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert stderr.startswith("Scored 1,000,000 rows with the float model into ")
    assert stderr.count("\n") == 1, stderr
    assert pl.scan_parquet(output / "*.parquet").select(pl.len()).collect().item() == 1_000_000


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ([], "a dataset is scored into a folder of Parquet files: give -o OUTPUT_FOLDER"),
        (["-o", "-"], "a dataset is scored into a folder of Parquet files: give -o OUTPUT_FOLDER"),
        (
            ["-o", "x.csv"],
            "a dataset is scored into a folder of Parquet files, but -o 'x.csv' names a CSV "
            "file: give a folder name",
        ),
    ],
)
def test_a_dataset_without_an_output_folder_is_bad_usage(
    tmp_path, parts, library_run, capsys, output, message
):
    argv = ["predict", str(parts), *output, "--artifacts-dir", str(library_run)]
    assert cli.main(argv) == 2
    assert capsys.readouterr().err == f"calhousing predict: error: {message}\n"
    assert not (tmp_path / "x.csv").exists() and not Path("x.csv").exists()
