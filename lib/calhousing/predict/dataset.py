"""A partitioned Parquet dataset scored on a Dask cluster, one task per file.

Each task runs :func:`calhousing.predict.predict_file` on one partition with the same model,
so the output holds, file by file, exactly what scoring each file alone writes. The workers
read and write by path (a cluster needs a shared filesystem). The output folder is built
under a temporary name beside it and appears only when every partition is done. Dask is
imported here only, so scoring a single file never loads it.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path

from calhousing.errors import InputError, OutputError
from calhousing.predict.model import Model
from calhousing.predict.run import Summary, predict_file
from calhousing.predict.writers import STDIO, is_parquet
from calhousing.run import signals

GLOB_CHARACTERS = "*?["
REJECTS_SUFFIX = ".rejects"
NEEDS_OUTPUT_FOLDER = "a dataset is scored into a folder of Parquet files: give -o OUTPUT_FOLDER"


def is_dataset(input_path: str) -> bool:
    """True for a folder or a glob pattern (scored as a dataset), false for a file or ``-``."""
    glob_characters = any(char in input_path for char in GLOB_CHARACTERS)
    return input_path != STDIO and (Path(input_path).is_dir() or glob_characters)


def dataset_files(input_path: str) -> list[tuple[Path, Path]]:
    """The Parquet files of a folder (recursively) or glob, each with its path relative to the root.

    Raises
    ------
    InputError
        If there is none, or two have the same relative path.
    """
    if Path(input_path).is_dir():
        root = Path(input_path)
        files = [path for path in sorted(root.rglob("*")) if path.is_file() and is_parquet(path)]
        found = [(path, path.relative_to(root)) for path in files]
    else:
        found = [
            (Path(name), Path(Path(name).name))
            for name in sorted(glob.glob(input_path, recursive=True))
            if Path(name).is_file()
        ]
    if not found:
        raise InputError(
            f"{input_path}: no Parquet files (.parquet, .pq) to score; a dataset is a folder "
            "or a glob of Parquet files"
        )
    if len({relative for _, relative in found}) != len(found):
        raise InputError(
            f"{input_path}: two files share a name; score a folder instead of a glob so "
            "their subfolders keep them apart"
        )
    return found


def score_partition(
    source: str, target: str, rejects: str | None, *, model: Model, flag: bool
) -> tuple[int, int, int, int]:
    """Score one partition (the task each worker runs): rows scored, rejected, outside, clamped."""
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    try:
        done = predict_file(
            source, target, model, skip_invalid=rejects is not None, flag_out_of_range=flag
        )
    except KeyboardInterrupt:
        # Ctrl-C in a terminal reaches the workers too, and polars turns it into this while it
        # runs; as a BaseException it would kill the worker with a traceback on the terminal.
        # The command itself stops and says so: here it only fails the task, quietly.
        raise RuntimeError(f"{source}: interrupted") from None
    if rejects is not None and done.rejects is not None:
        Path(rejects).parent.mkdir(parents=True, exist_ok=True)
        os.replace(done.rejects, rejects)
    return done.rows_scored, done.rows_rejected, done.outside, done.clamped


def predict_dataset(
    input_path: str,
    output_path: str | None,
    model: Model,
    *,
    scheduler: str | None = None,
    workers: int = 2,
    skip_invalid: bool = False,
    flag_out_of_range: bool = False,
) -> Summary:
    """Score every Parquet file of a dataset into the folder `output_path`, on Dask; the Summary
    totals the partitions.

    Parameters
    ----------
    input_path : str
        A folder (searched recursively) or a glob of Parquet files.
    output_path : str
        The output folder, which must not exist yet: each input file gives the file of the
        same relative path in it. With `skip_invalid`, rejects go to
        ``<output_path>.rejects/<relative path>.rejects.csv``.
    scheduler : str, optional
        ``tcp://HOST:PORT`` of a running ``dask scheduler``; by default a local cluster of
        `workers` processes is started and stopped.
    skip_invalid, flag_out_of_range : bool
        As for :func:`~calhousing.predict.predict_file`.

    Raises
    ------
    InputError
        At the first bad row of any partition (without `skip_invalid`), naming its file.
    OutputError
        If `output_path` is missing, exists, or lies inside the input folder.
    """
    files = dataset_files(input_path)
    target = _check_output_folder(input_path, output_path)
    rejects_target = target.with_name(target.name + REJECTS_SUFFIX) if skip_invalid else None
    if rejects_target is not None and rejects_target.exists():
        raise OutputError(f"{str(rejects_target)!r} exists; remove it or choose another output")
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        tasks = [
            (
                str(path),
                str(staging / "out" / relative),
                str(staging / "rejects" / f"{relative}.rejects.csv") if skip_invalid else None,
            )
            for path, relative in files
        ]
        results = _run_tasks(tasks, model, flag_out_of_range, scheduler, workers)
        (staging / "out").mkdir(exist_ok=True)
        os.replace(staging / "out", target)
        if rejects_target is not None:
            (staging / "rejects").mkdir(exist_ok=True)
            os.replace(staging / "rejects", rejects_target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    totals = [sum(column) for column in zip(*results, strict=True)]
    return Summary(totals[0], totals[1], target, rejects_target, totals[2], totals[3])


def _run_tasks(
    tasks: list[tuple[str, str, str | None]],
    model: Model,
    flag: bool,
    scheduler: str | None,
    workers: int,
) -> list[tuple[int, int, int, int]]:
    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        if scheduler is None:
            # SIGTERM waits until the cluster is up (a half-started one cannot be closed
            # cleanly); SIGINT is ignored meanwhile, so that the workers inherit it ignored
            with signals.deferred(), _sigint_ignored_by_workers():
                cluster = LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",  # any free port: never collides with another cluster
                    silence_logs=logging.CRITICAL,  # a failed task is reported here, in one line
                )
                stack.callback(cluster.close)
                client = stack.enter_context(closing(Client(cluster)))
        else:
            try:
                client = stack.enter_context(closing(Client(scheduler, timeout="10s")))
            except OSError as error:
                raise OutputError(f"cannot reach the Dask scheduler {scheduler}: {error}") from None
        sources, outputs, rejects = zip(*tasks, strict=True)
        futures = client.map(
            score_partition, sources, outputs, rejects, model=model, flag=flag, pure=False
        )
        return client.gather(futures)


@contextmanager
def _sigint_ignored_by_workers() -> Iterator[None]:
    """SIGINT ignored while the worker processes start, so that they inherit it ignored.

    Ctrl-C in a terminal signals the whole process group: workers that had not finished
    starting printed a KeyboardInterrupt traceback each. A Ctrl-C while the cluster starts
    (about a second) is ignored; the next one stops the command, which closes the cluster.
    """
    if threading.current_thread() is not threading.main_thread():  # no handlers there
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _check_output_folder(input_path: str, output_path: str | None) -> Path:
    if output_path is None or output_path in ("", STDIO):
        raise OutputError(NEEDS_OUTPUT_FOLDER)
    target = Path(output_path).absolute()
    if target.exists():
        raise OutputError(
            f"output {output_path!r} exists; give a new folder name (the dataset is written "
            "whole or not at all)"
        )
    if not target.parent.is_dir():
        raise OutputError(f"output {output_path!r}: folder {str(target.parent)!r} does not exist")
    if Path(input_path).is_dir() and target.is_relative_to(Path(input_path).absolute()):
        raise OutputError(f"output {output_path!r} is inside the input folder; write it elsewhere")
    return target
