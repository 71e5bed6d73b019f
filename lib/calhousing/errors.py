"""Every exception the library raises on purpose, and the exit code each gives.

The codes are those of ``docs/guarantees.md``; 141 (128 + SIGPIPE) is ``calhousing predict``
whose stdout reader stopped early (``| head``), silent as any Unix tool.
"""

from __future__ import annotations

from pathlib import Path

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def exit_code(error: BaseException) -> int | None:
    """The exit code for `error`, or ``None`` for an error that is a bug."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, UsageError):
        return EXIT_USAGE
    if isinstance(error, ValueError | OSError | RuntimeError):
        return EXIT_FAILED
    return None


class UsageError(ValueError):
    """A bad option, parameter or target folder: nothing was done (exit code 2)."""


class Interrupted(KeyboardInterrupt):
    """A signal stopped the work; the message says what state it left (exit code 130)."""


# What a run that stopped early left in artifacts/ and reports/, as the messages say it.
UNCHANGED = "previous artifacts and reports are unchanged"
REPLACED = "the new artifacts and reports were already complete and are in place"
PENDING = (
    "the new artifacts and reports are partly moved into place; the next `calhousing run` "
    "on these folders finishes moving them before anything else"
)


class RunLockedError(RuntimeError):
    """Another run is writing to the same artifacts or reports folder."""


class PromotionError(RuntimeError):
    """Moving the finished outputs into place failed; the message says what state it left."""


class JournalError(RuntimeError):
    """A promotion journal cannot be read, so an interrupted promotion cannot be finished."""


class NamespaceError(RuntimeError):
    """The shared kernel's namespace could not be cleared between two notebooks."""


class PipelineError(RuntimeError):
    """A notebook failed; ``failed_run_dir`` is where the run's executed notebooks were kept."""

    failed_run_dir: Path | None = None

    def __str__(self) -> str:
        kept = f"\nThe failed run's executed notebooks are in {self.failed_run_dir}"
        ending = f"\n{UNCHANGED.capitalize()}."
        return super().__str__() + (kept if self.failed_run_dir else "") + ending


class InputError(ValueError):
    """The input cannot be scored as it is; ``skippable`` for a bad row ``skip_invalid`` rejects."""

    def __init__(self, message: str, *, skippable: bool = False) -> None:
        super().__init__(message)
        self.skippable = skippable


class OutputError(OSError):
    """The output cannot be written where it was asked for (a folder, the input, a full disk)."""


# Raised in notebooks too, where a failed cell's message names the class: each keeps its own.
class DataUnavailableError(RuntimeError):
    """The data set is neither cached locally nor downloadable."""


class DataCacheError(DataUnavailableError):
    """The cache file exists but does not hold the published data set."""


class CacheFormatError(ValueError):
    """The bytes are not a joblib cache the data cache will load; the message says why."""


class SearchBudgetError(RuntimeError):
    """The exact search visited more nodes than allowed without proving optimality."""


class SchemaError(ValueError):
    """A value does not fit its schema; ``field`` is the path of the first misfit."""

    def __init__(self, field_path: str, problem: str) -> None:
        super().__init__(f"{field_path or 'the top level'} {problem}")
        self.field = field_path
        self.problem = problem

    def where(self) -> str:
        """The misfit as a file's reader says it: ``field coef[3] must be …``."""
        return f"field {self.field} {self.problem}" if self.field else f"the content {self.problem}"


class ArtifactError(RuntimeError):
    """An artifact a step needs is missing, malformed, tampered with or stale."""


class ManifestError(ArtifactError):
    """An artifact does not match the manifest, or the manifest is missing or malformed."""


class StaleArtifactError(ArtifactError):
    """An artifact was made from an input that has changed since."""
