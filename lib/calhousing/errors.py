"""The errors that decide a command's exit code (see ``docs/guarantees.md``).

Every ``calhousing`` command exits with

- 0 when it did what was asked;
- 1 when it failed: bad data, tampered, stale or missing files, a failing
  notebook, another run holding the folders (``ValueError``, ``OSError``,
  ``RuntimeError`` and their subclasses);
- 2 for bad usage or a bad parameter (:class:`UsageError`, and argparse's own);
- 130 when a signal interrupted it (``KeyboardInterrupt``, :class:`Interrupted`);
- 141 when ``calhousing predict`` writes to standard output and its reader stopped
  early (``| head``): silently, as any Unix tool stopped by SIGPIPE (128 + 13).
"""

from __future__ import annotations

EXIT_DONE = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


class UsageError(ValueError):
    """A bad option, parameter or target folder: nothing was done (exit code 2)."""


class Interrupted(KeyboardInterrupt):
    """A signal stopped the work; the message says what state it left (exit code 130)."""


def exit_code(error: BaseException) -> int | None:
    """The exit code for `error`, or ``None`` for an error that is a bug (no code of ours)."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, UsageError):
        return EXIT_USAGE
    if isinstance(error, ValueError | OSError | RuntimeError):
        return EXIT_FAILED
    return None
