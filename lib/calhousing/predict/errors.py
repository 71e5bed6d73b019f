"""The two ways scoring can fail: the input cannot be scored, or the output cannot be written."""

from __future__ import annotations


class InputError(ValueError):
    """The input cannot be scored as it is.

    The message names the file and, for a bad row, its line (CSV) or row
    (Parquet) number and the column. ``skippable`` is true for a bad row, which
    ``skip_invalid`` would have rejected instead of stopping.
    """

    def __init__(
        self, message: str, line: int | None = None, column: str = "", skippable: bool = False
    ) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.skippable = skippable


class OutputError(OSError):
    """The output cannot be written where it was asked for (a folder, the input, a full disk)."""
