"""Running the notebooks in order with papermill, then rendering the report.

A run writes into fresh folders beside the targets and moves its outputs into
``artifacts/`` and ``reports/`` only when every notebook and the report have
succeeded, so a failed run leaves the previous results as they were. The
executed notebooks of a failed run are kept in ``reports-failed-<time>/``.

Only one run at a time may write to an artifacts or reports folder: a second run
stops at once with :class:`RunLockedError` rather than wait (a lock held by a
run that died is released by the operating system with its process).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import papermill
from papermill.exceptions import PapermillExecutionError

from calhousing import params
from calhousing.artifacts import PathLike, project_root, resolve_dir
from calhousing.kernel import shared_kernel
from calhousing.report import write_report

# In the order they run: params.NOTEBOOKS declares it.
NOTEBOOK_NAMES: tuple[str, ...] = tuple(f"{name}.ipynb" for name in params.NOTEBOOKS)
REPORT_FILE = "report.html"
EXECUTED_DIR = "executed"


class PipelineError(RuntimeError):
    """A notebook of the pipeline failed; the message names it and the failing cell.

    ``failed_run_dir`` is where the run's executed notebooks were kept, if any.
    """

    failed_run_dir: Path | None = None


class RunLockedError(RuntimeError):
    """Another run is writing to the same artifacts or reports folder."""


def notebooks_dir() -> Path:
    """The folder holding the pipeline's notebooks (``CALHOUSING_NOTEBOOKS`` overrides)."""
    return Path(os.environ.get("CALHOUSING_NOTEBOOKS", project_root() / "notebooks")).resolve()


def check_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Validate user parameters by name and value before anything runs (:mod:`calhousing.params`).

    Raises
    ------
    ValueError
        For an unknown name (listing the known ones) or a value out of range.
    """
    return params.check_parameters(parameters)


def run_pipeline(
    artifacts_dir: PathLike | None = None,
    reports_dir: PathLike | None = None,
    parameters: Mapping[str, Any] | None = None,
    progress_bar: bool = True,
) -> Path:
    """Execute the notebooks in order and render the report.

    Parameters
    ----------
    artifacts_dir, reports_dir : path-like, optional
        Where the model files and the report go; default ``artifacts/`` and
        ``reports/`` in the project.
    parameters : mapping, optional
        Notebook parameters (``test_size``, ``random_state``, ``bits``,
        ``n_samples``); each notebook gets those it declares.
    progress_bar : bool, default=True
        Show papermill's progress bar.

    Returns
    -------
    pathlib.Path
        The report's path.
    """
    checked = check_parameters(parameters or {})
    artifacts = resolve_dir(artifacts_dir, "artifacts")
    reports = resolve_dir(reports_dir, "reports")
    for parent in (artifacts.parent, reports.parent):
        parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as locks:
        for target in dict.fromkeys((artifacts, reports)):
            locks.enter_context(_exclusive_lock(target))
        return _run_locked(artifacts, reports, checked, progress_bar)


def _run_locked(
    artifacts: Path, reports: Path, parameters: dict[str, Any], progress_bar: bool
) -> Path:
    source = notebooks_dir()
    staged_artifacts = Path(
        tempfile.mkdtemp(prefix=f".{artifacts.name}.run-", dir=artifacts.parent)
    )
    staged_reports = Path(tempfile.mkdtemp(prefix=f".{reports.name}.run-", dir=reports.parent))
    try:
        executed = _execute_all(source, staged_artifacts, staged_reports, parameters, progress_bar)
        effective = {**params.effective_parameters(parameters), "artifacts_dir": str(artifacts)}
        write_report(executed, staged_reports / REPORT_FILE, effective)
    except BaseException as error:
        kept = _keep_failed_run(staged_reports, reports)
        shutil.rmtree(staged_artifacts, ignore_errors=True)
        if isinstance(error, PipelineError):
            error.failed_run_dir = kept
        raise
    _promote(staged_artifacts, artifacts)
    _promote(staged_reports, reports)
    return reports / REPORT_FILE


@contextmanager
def _exclusive_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on `target` (a file beside it) or raise RunLockedError."""
    lock_path = target.parent / f".{target.name}.lock"
    with lock_path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RunLockedError(
                f"another calhousing run (process {holder}) is writing to {target}; "
                "wait for it to finish, or pass another --artifacts-dir / --reports-dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _execute_all(
    source: Path,
    artifacts: Path,
    reports: Path,
    parameters: Mapping[str, Any],
    progress_bar: bool,
) -> list[Path]:
    executed_dir = reports / EXECUTED_DIR
    executed_dir.mkdir()
    executed = []
    with shared_kernel() as engine:
        for name in NOTEBOOK_NAMES:
            notebook = source / name
            declared = papermill.inspect_notebook(str(notebook))
            values = {k: v for k, v in parameters.items() if k in declared}
            output = executed_dir / name
            try:
                papermill.execute_notebook(
                    str(notebook),
                    str(output),
                    parameters={**values, "artifacts_dir": str(artifacts)},
                    engine_name=engine,
                    progress_bar=progress_bar,
                    cwd=str(source),
                )
            except PapermillExecutionError as error:
                raise PipelineError(_failure_message(name, error)) from error
            executed.append(output)
    return executed


def _failure_message(name: str, error: PapermillExecutionError) -> str:
    first_line = (error.source or "").strip().splitlines()[:1]
    return (
        f"notebook {name} failed in cell {error.cell_index + 1} "
        f"({first_line[0] if first_line else 'empty cell'!r}): {error.ename}: {error.evalue}"
    )


def _keep_failed_run(staged_reports: Path, reports: Path) -> Path | None:
    """Move a failed run's executed notebooks to ``<reports>-failed-<time>/``."""
    executed = staged_reports / EXECUTED_DIR
    kept = None
    if executed.is_dir() and any(executed.iterdir()):
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        kept = reports.parent / f"{reports.name}-failed-{stamp}"
        shutil.move(str(executed), kept)
    shutil.rmtree(staged_reports, ignore_errors=True)
    return kept


def _promote(staged: Path, target: Path) -> None:
    """Move every entry of `staged` into `target`, replacing entries of the same name.

    ``shutil.move`` renames where it can and copies where `target` is on another
    file system (a Docker volume, a bind mount), where a rename would fail.
    """
    target.mkdir(parents=True, exist_ok=True)
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target))
    try:
        for entry in sorted(staged.iterdir()):
            destination = target / entry.name
            if destination.exists():
                os.replace(destination, backup / entry.name)
            shutil.move(entry, destination)
    finally:
        shutil.rmtree(backup, ignore_errors=True)
        shutil.rmtree(staged, ignore_errors=True)
