"""A partitioned Parquet dataset scored on a Dask cluster, one :func:`predict_file` task per file,
so the output holds, file by file, exactly what scoring each file alone writes. The workers read
and write by path (a cluster needs a shared filesystem). Dask is imported here only."""

from __future__ import annotations

import glob
import logging
import os
import shutil
import signal
import tempfile
import threading
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any

from calhousing.errors import InputError, OutputError
from calhousing.predict.run import STDIO, Summary, is_parquet, predict_file
from calhousing.predict.scoring import Model
from calhousing.run import signals

NEEDS_OUTPUT_FOLDER = "a dataset is scored into a folder of Parquet files: give -o OUTPUT_FOLDER"


def is_dataset(input_path: str) -> bool:
    """True for a folder or a glob pattern (scored as a dataset), false for a file or ``-``."""
    glob_characters = any(char in input_path for char in "*?[")
    return input_path != STDIO and (Path(input_path).is_dir() or glob_characters)


def dataset_files(input_path: str) -> list[tuple[Path, Path]]:
    """The Parquet files of a folder (recursively) or glob, each with its path relative to the
    root; InputError if there is none, or two have the same relative path."""
    root = Path(input_path)
    if root.is_dir():
        files = [path for path in sorted(root.rglob("*")) if path.is_file() and is_parquet(path)]
        found = [(path, path.relative_to(root)) for path in files]
    else:
        files = [Path(name) for name in sorted(glob.glob(input_path, recursive=True))]
        found = [(path, Path(path.name)) for path in files if path.is_file()]
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
        # a worker the cluster restarted can still see Ctrl-C (see _ignore_ctrl_c); as a
        # BaseException it would kill the worker with a traceback: the task only fails,
        # quietly, and the command itself says it was interrupted
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
    """Score the Parquet files of a folder (recursively) or glob into the new folder
    `output_path`, each to the same relative path, on the Dask `scheduler` (``tcp://HOST:PORT``)
    or a local cluster of `workers` processes; the Summary totals the partitions.

    The folder is built under a temporary name beside it and appears only when every partition
    is done. With `skip_invalid`, rejects go to ``<output_path>.rejects/<relative
    path>.rejects.csv``. InputError at the first bad row of any partition (without
    `skip_invalid`); OutputError if `output_path` is missing, exists, or is inside the input.
    """
    files = dataset_files(input_path)
    target = _check_output_folder(input_path, output_path)
    rejects_target = target.with_name(target.name + ".rejects") if skip_invalid else None
    if rejects_target is not None and rejects_target.exists():
        raise OutputError(f"{str(rejects_target)!r} exists; remove it or choose another output")
    staging: Path | None = None
    try:
        with signals.deferred():  # a signal waits until the folder is named, for finally to remove
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        with ExitStack() as stack:
            client = _client(stack, scheduler, workers)
            futures = client.map(
                score_partition,
                [str(path) for path, _ in files],
                [str(staging / "out" / relative) for _, relative in files],
                [
                    str(staging / "rejects" / f"{relative}.rejects.csv") if skip_invalid else None
                    for _, relative in files
                ],
                model=model,
                flag=flag_out_of_range,
                pure=False,
            )
            results = client.gather(futures)
        for folder, final in ((staging / "out", target), (staging / "rejects", rejects_target)):
            if final is not None:
                folder.mkdir(exist_ok=True)
                os.replace(folder, final)
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    totals = [sum(column) for column in zip(*results, strict=True)]
    return Summary(totals[0], totals[1], target, rejects_target, totals[2], totals[3])


def _client(stack: ExitStack, scheduler: str | None, workers: int) -> Any:
    """A client of the Dask `scheduler`, or of a local cluster of `workers`, closed by `stack`."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return stack.enter_context(closing(Client(scheduler, timeout="10s")))
        except OSError as error:
            raise OutputError(f"cannot reach the Dask scheduler {scheduler}: {error}") from None
    # SIGTERM waits until the cluster is up (a half-started one cannot be closed cleanly).
    # Ctrl-C in a terminal reaches the whole process group, and workers still starting printed
    # a traceback each: SIGINT is ignored while they start (about a second), so that they
    # inherit it ignored; the next one stops the command, which closes the cluster. Only the
    # main thread can set handlers.
    with signals.deferred():
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
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
            client.run(_ignore_ctrl_c)
            return client
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)


def _ignore_ctrl_c() -> None:
    """Make a local worker deaf to Ctrl-C, which the command handles by closing the cluster.

    Importing polars installs its own SIGINT handler over the ignored one the worker inherited;
    a Ctrl-C that reached a worker in the middle of a Parquet sink then made polars panic, and
    its Rust panic message went to the terminal. Run in each worker's main thread, after the
    import, so the ignore sticks.
    """
    import polars  # noqa: F401

    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
