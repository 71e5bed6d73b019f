"""Running the notebooks in order with papermill, then rendering the report.

The parameters and both target folders are checked before any work. A run writes into
staging folders and moves its outputs into ``artifacts/`` and ``reports/`` only once every
notebook and the report have succeeded (:mod:`calhousing.run.promotion`); a failed run's
executed notebooks are kept in ``reports-failed-<time>/``. A second run on the same folders
stops at once with :class:`RunLockedError` (the OS releases a dead run's lock).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from calhousing import params
from calhousing.errors import (
    PENDING,
    REPLACED,
    UNCHANGED,
    Interrupted,
    PipelineError,
    PromotionError,
    RunLockedError,
    UsageError,
)
from calhousing.run import promotion, signals
from calhousing.run.artifacts import PathLike, Run, project_root, resolve_dir
from calhousing.run.kernel import clear_namespace, shared_kernel, stop_if_asked

if TYPE_CHECKING:
    from papermill.exceptions import PapermillExecutionError

# papermill and nbconvert are imported while the kernel starts, which takes about as long:
# a refused parameter or folder waits for neither.
NOTEBOOK_NAMES: tuple[str, ...] = tuple(f"{name}.ipynb" for name in params.NOTEBOOKS)
REPORT_FILE = "report.html"
EXECUTED_DIR = "executed"


def notebooks_dir() -> Path:
    """The folder holding the pipeline's notebooks (``CALHOUSING_NOTEBOOKS`` overrides)."""
    return Path(os.environ.get("CALHOUSING_NOTEBOOKS", project_root() / "notebooks")).resolve()


def run_pipeline(
    artifacts_dir: PathLike | None = None,
    reports_dir: PathLike | None = None,
    parameters: Mapping[str, Any] | None = None,
    progress_bar: bool = True,
) -> Path:
    """Execute the notebooks in order and render the report; return the report's path.

    Parameters
    ----------
    artifacts_dir, reports_dir : path-like, optional
        Default ``artifacts/`` and ``reports/`` in the project (:func:`resolve_dir`).
    parameters : mapping, optional
        Notebook parameters; each notebook gets those it declares.

    Raises
    ------
    calhousing.errors.UsageError
        For a bad parameter or target folder, before anything is written.
    PipelineError, RunLockedError, PromotionError
        When a notebook failed, another run holds a folder, or moving the outputs into
        place failed (the message says what state that left).
    calhousing.errors.Interrupted
        When a signal stopped the run; the message says what state it left.
    """
    try:
        checked = params.check_parameters(parameters or {})
    except ValueError as error:
        raise UsageError(str(error)) from None
    artifacts = resolve_dir(artifacts_dir, "artifacts")
    reports = resolve_dir(reports_dir, "reports")
    check_target(artifacts, "artifacts")
    check_target(reports, "reports")
    with signals.handled(), ExitStack() as locks:
        for target in _targets_to_lock(artifacts, reports):
            locks.enter_context(_exclusive_lock(target))
        with signals.deferred():  # a signal waits until an interrupted run's move is finished
            for target in (artifacts, reports):
                promotion.recover(target)
        return _run_locked(artifacts, reports, checked, progress_bar)


def check_target(folder: Path, name: str) -> None:
    """Refuse a target the run could not write, before any work and leaving nothing behind.

    A file is created and removed in the folder (or the nearest existing one above it) and in
    the folder holding it (where the lock goes), so a read-only mount is found whatever the
    permissions say.

    Raises
    ------
    calhousing.errors.UsageError
        Naming the folder, what is wrong and the option that chooses another.
    """
    label = f"the {name} folder {str(folder)!r}"
    hint = f"pass another --{name}-dir"
    existing = folder
    while not os.path.lexists(existing):
        existing = existing.parent
    if not existing.is_dir():
        what = "is a file" if existing == folder else f"is inside {str(existing)!r}, a file"
        raise UsageError(f"{label} {what}, not a folder: {hint}")
    for place in dict.fromkeys((existing, existing.parent if existing == folder else existing)):
        try:
            descriptor, probe = tempfile.mkstemp(prefix=".calhousing-probe-", dir=place)
        except OSError as error:
            where = "in it" if place == folder else f"in {str(place)!r}"
            raise UsageError(
                f"{label} cannot be written: creating a file {where} failed "
                f"({error.strerror or error}): {hint}, or make it writable"
            ) from None
        os.close(descriptor)
        os.unlink(probe)


def _targets_to_lock(artifacts: Path, reports: Path) -> list[Path]:
    """The two targets, and any other one an interrupted promotion in them moves into."""
    journaled = [
        other
        for target in (artifacts, reports)
        for other in promotion.journal_targets(target)
        if other.parent.is_dir()
    ]
    return list(dict.fromkeys((artifacts, reports, *journaled)))


def _run_locked(
    artifacts: Path, reports: Path, parameters: dict[str, Any], progress_bar: bool
) -> Path:
    source = notebooks_dir()
    created = [target for target in dict.fromkeys((artifacts, reports)) if not target.exists()]
    staged = [promotion.stage(artifacts), promotion.stage(reports)]
    staged_artifacts, staged_reports = staged
    try:
        executed = _execute_all(source, staged_artifacts, staged_reports, parameters, progress_bar)
        from calhousing.report.render import write_report

        effective = {**params.effective_parameters(parameters), "artifacts_dir": str(artifacts)}
        write_report(executed, staged_reports / REPORT_FILE, effective, run=Run(staged_artifacts))
    except BaseException as error:
        kept = _keep_failed_run(staged_reports, reports)
        _remove_staging(staged, created)
        if isinstance(error, PipelineError):
            error.failed_run_dir = kept
        if isinstance(error, KeyboardInterrupt) or signals.stopping():
            raise Interrupted(UNCHANGED) from error  # whatever a signal turned into
        raise
    try:
        with signals.deferred():
            promotion.promote(staged)
    except BaseException as error:
        if any(promotion.is_pending(folder.parent) for folder in staged):
            outcome = PENDING
        elif any(folder.exists() for folder in staged):  # stopped before the journal
            _remove_staging(staged, created)
            outcome = UNCHANGED
        else:
            outcome = REPLACED
        if isinstance(error, KeyboardInterrupt) or signals.stopping():
            raise Interrupted(outcome) from error
        raise PromotionError(
            f"moving the new outputs into place failed ({error}); {outcome}"
        ) from error
    return reports / REPORT_FILE


def _remove_staging(staged: list[Path], created: list[Path]) -> None:
    """Remove a stopped run's staging folders, and the targets it created (if still empty)."""
    for folder in staged:
        shutil.rmtree(folder, ignore_errors=True)
    for target in created:
        with suppress(OSError):
            target.rmdir()


@contextmanager
def _exclusive_lock(target: Path) -> Iterator[None]:
    """Hold an exclusive lock on `target` (a file beside it) or raise RunLockedError."""
    target.parent.mkdir(parents=True, exist_ok=True)
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
    source: Path, artifacts: Path, reports: Path, parameters: Mapping[str, Any], progress_bar: bool
) -> list[Path]:
    executed_dir = reports / EXECUTED_DIR
    executed_dir.mkdir()
    with shared_kernel(cwd=source) as kernel:
        import papermill
        from papermill.exceptions import PapermillExecutionError

        import calhousing.report.render  # noqa: F401  (needed next; imported while the kernel starts)

        for name in NOTEBOOK_NAMES:
            signals.check()
            clear_namespace(kernel)
            stem = Path(name).stem
            declared = {p.name for p in params.notebook_parameters(stem)}
            values = {k: v for k, v in parameters.items() if k in declared}
            try:
                papermill.execute_notebook(
                    str(source / name),
                    str(executed_dir / name),
                    parameters={**values, "artifacts_dir": str(artifacts)},
                    progress_bar={"desc": stem} if progress_bar else False,
                    cwd=str(source),
                    request_save_on_cell_execute=False,  # written once, when it has run
                    km=kernel,  # nbclient starts the kernel once and leaves it running
                    on_cell_start=stop_if_asked,
                )
            except PapermillExecutionError as error:
                raise PipelineError(_failure_message(name, error)) from error
    return [executed_dir / name for name in NOTEBOOK_NAMES]


def _failure_message(name: str, error: PapermillExecutionError) -> str:
    first_line = (error.source or "").strip().splitlines()[:1]
    return (
        f"notebook {name} failed in cell {error.cell_index + 1} "
        f"({first_line[0] if first_line else 'empty cell'!r}): {error.ename}: {error.evalue}"
    )


def _keep_failed_run(staged_reports: Path, reports: Path) -> Path | None:
    """Move a failed run's executed notebooks to ``<reports>-failed-<time>/``."""
    executed = staged_reports / EXECUTED_DIR
    if not (executed.is_dir() and any(executed.iterdir())):
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    kept = reports.parent / f"{reports.name}-failed-{stamp}"
    try:
        shutil.move(str(executed), kept)
    except OSError:
        shutil.rmtree(kept, ignore_errors=True)
        return None
    return kept
