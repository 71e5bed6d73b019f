"""Running the notebooks in order with papermill, then rendering the report.

What a run guarantees when it fails, is interrupted or meets another run: ``docs/guarantees.md``.
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
from typing import Any

from calhousing import errors, params
from calhousing.run import promotion, signals
from calhousing.run.artifacts import PathLike, Run, project_root, resolve_dir
from calhousing.run.kernel import clear_namespace, shared_kernel

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

    Raises UsageError before anything is written; PipelineError, RunLockedError,
    PromotionError or Interrupted with a message saying what state the run left.
    """
    try:
        checked = params.check_parameters(parameters or {})
    except ValueError as error:
        raise errors.UsageError(str(error)) from None
    artifacts = resolve_dir(artifacts_dir, "artifacts")
    reports = resolve_dir(reports_dir, "reports")
    check_target(artifacts, "artifacts")
    check_target(reports, "reports")
    with signals.handled(), ExitStack() as locks:
        # the targets, and any other one an interrupted promotion in them moves into
        journaled = [other for t in (artifacts, reports) for other in promotion.journal_targets(t)]
        for target in dict.fromkeys((artifacts, reports, *journaled)):
            locks.enter_context(_exclusive_lock(target))
        with signals.deferred():  # a signal waits until an interrupted run's move is finished
            promotion.recover(artifacts)
            promotion.recover(reports)
        return _run_locked(artifacts, reports, checked, progress_bar)


def check_target(folder: Path, name: str) -> None:
    """Raise UsageError for a target the run could not write, leaving nothing behind: a file
    is created and removed in it (or the nearest existing folder above) and its parent."""
    label, hint = f"the {name} folder {str(folder)!r}", f"pass another --{name}-dir"
    existing = next(path for path in (folder, *folder.parents) if os.path.lexists(path))
    if not existing.is_dir():
        what = "is a file" if existing == folder else f"is inside {str(existing)!r}, a file"
        raise errors.UsageError(f"{label} {what}, not a folder: {hint}")
    for place in dict.fromkeys((existing, existing.parent if existing == folder else existing)):
        try:
            tempfile.TemporaryFile(dir=place).close()  # created and removed
        except OSError as error:
            where = "in it" if place == folder else f"in {str(place)!r}"
            raise errors.UsageError(
                f"{label} cannot be written: creating a file {where} failed "
                f"({error.strerror or error}): {hint}, or make it writable"
            ) from None


@contextmanager
def _exclusive_lock(target: Path) -> Iterator[None]:
    """Hold a ``flock`` on a file beside `target` that names this process, or raise
    RunLockedError naming the holder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise errors.RunLockedError(
                f"another calhousing run (process {handle.read().strip() or 'unknown'}) is "
                f"writing to {target}; wait for it to finish, or pass another --artifacts-dir "
                "/ --reports-dir"
            ) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def _run_locked(
    artifacts: Path, reports: Path, parameters: dict[str, Any], progress_bar: bool
) -> Path:
    created = [target for target in dict.fromkeys((artifacts, reports)) if not target.exists()]
    staged = [promotion.stage(artifacts), promotion.stage(reports)]
    promoting = False
    try:
        executed = _execute_all(*staged, parameters, progress_bar)
        from calhousing.report.render import write_report

        effective = {**params.effective_parameters(parameters), "artifacts_dir": str(artifacts)}
        write_report(executed, staged[1] / REPORT_FILE, effective, run=Run(staged[0]))
        promoting = True
        with signals.deferred():
            promotion.promote(staged)
    except BaseException as error:
        kept = None if promoting else _keep_failed_run(staged[1], reports)
        if isinstance(error, errors.PipelineError):
            error.failed_run_dir = kept
        if any(promotion.is_pending(folder.parent) for folder in staged):
            outcome = errors.PENDING
        elif any(folder.exists() for folder in staged):  # stopped before the journal
            outcome = errors.UNCHANGED
            for folder in staged:
                shutil.rmtree(folder, ignore_errors=True)
            for target in created:
                with suppress(OSError):
                    target.rmdir()
        else:
            outcome = errors.REPLACED
        if isinstance(error, KeyboardInterrupt) or signals.stopping():
            raise errors.Interrupted(outcome) from error  # whatever a signal turned into
        if not promoting:
            raise
        raise errors.PromotionError(
            f"moving the new outputs into place failed ({error}); {outcome}"
        ) from error
    return reports / REPORT_FILE


def _execute_all(
    artifacts: Path, reports: Path, parameters: Mapping[str, Any], progress_bar: bool
) -> list[Path]:
    source, executed = notebooks_dir(), reports / EXECUTED_DIR
    executed.mkdir()
    with shared_kernel(cwd=source) as kernel:
        # imported while the kernel starts, which takes about as long: a refused parameter or
        # folder waits for neither
        import papermill

        import calhousing.report.render  # noqa: F401

        for stem, name in zip(params.NOTEBOOKS, NOTEBOOK_NAMES, strict=True):
            signals.check()
            clear_namespace(kernel)
            declared = {p.name for p in params.notebook_parameters(stem)}
            values = {k: v for k, v in parameters.items() if k in declared}
            try:
                papermill.execute_notebook(
                    str(source / name),
                    str(executed / name),
                    parameters={**values, "artifacts_dir": str(artifacts)},
                    progress_bar={"desc": stem} if progress_bar else False,
                    cwd=str(source),
                    request_save_on_cell_execute=False,  # written once, when it has run
                    km=kernel,  # nbclient starts the kernel once and leaves it running
                )
            except papermill.PapermillExecutionError as error:
                first_line = (error.source or "").strip().splitlines()[:1] or ["empty cell"]
                raise errors.PipelineError(
                    f"notebook {name} failed in cell {error.cell_index + 1} "
                    f"({first_line[0]!r}): {error.ename}: {error.evalue}"
                ) from error
    return [executed / name for name in NOTEBOOK_NAMES]


def _keep_failed_run(staged_reports: Path, reports: Path) -> Path | None:
    """Move a failed run's executed notebooks, if any, to ``<reports>-failed-<time>/``."""
    executed = staged_reports / EXECUTED_DIR
    if not (executed.is_dir() and any(executed.iterdir())):
        return None
    kept = reports.parent / f"{reports.name}-failed-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
    try:
        shutil.move(executed, kept)
    except OSError:
        shutil.rmtree(kept, ignore_errors=True)
        return None
    return kept
