"""The input's columns, checked against the model before any row is read: the CSV header is read
here, not by polars, so that every problem with it is named in the user's terms."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import polars as pl

from calhousing.errors import InputError
from calhousing.predict.scoring import OUT_OF_RANGE_COLUMN, PREDICTION_COLUMN

MAX_LINE_BYTES = 64 * 2**20  # a longer CSV line (or quoted record) is refused, not buffered
SHOWN_CHARS = 60  # a longer column name is cut short in messages
_BOM = b"\xef\xbb\xbf"  # a UTF-8 byte order mark, which some tools write first


@dataclass(frozen=True)
class Layout:
    """The columns of one input (`names`, in file order) and the model's `features`; `unit` is
    ``"line"`` (CSV) or ``"row"`` (Parquet). CSV only: `header_line` is the header's line number
    (blank lines before it count), `data_offset` the byte just past it."""

    source: str
    unit: str
    names: tuple[str, ...]
    features: tuple[str, ...]
    flag: bool
    header_line: int = 0
    data_offset: int = 0

    @property
    def passthrough(self) -> tuple[str, ...]:
        return tuple(name for name in self.names if name not in self.features)

    def checked(self, where: str) -> Layout:
        """`self`, unless a column is named twice or is one the output adds, or a feature is
        missing (InputError)."""
        names = self.names
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InputError(
                f"{where}: column(s) {', '.join(map(shown, duplicates))} appear more than once; "
                "give every column its own name"
            )
        for name in [PREDICTION_COLUMN, *([OUT_OF_RANGE_COLUMN] if self.flag else [])]:
            if name in names:
                raise InputError(
                    f"{where}: the input already has a {name!r} column, which the output "
                    "adds; rename or drop it"
                )
        missing = [name for name in self.features if name not in names]
        if missing:
            listed = ", ".join(map(shown, names[:20])) + (", …" if len(names) > 20 else "")
            raise InputError(
                f"{where}: missing feature column(s) {', '.join(missing)}; the columns are "
                f"{listed}. Feature columns are found by exact name, in any order"
                f"{delimiter_hint(names)}"
            )
        return self

    def rejected(self, reject: dict[str, Any]) -> InputError:
        """The error that stops at `reject`, a row of the rejects file."""
        column = f", column {shown(reject['column'])}" if reject["column"] else ""
        where = f"{self.source}, {self.unit} {reject[self.unit]}{column}"
        return InputError(f"{where}: {reject['reason']}", skippable=True)


def read_csv_header(
    stream: IO[bytes], source: str, feature_names: tuple[str, ...], *, flag: bool = False
) -> Layout:
    """Read and check the header of a CSV `stream`, skipping (and counting) blank lines before
    it (InputError if its columns do not fit the model, or it cannot be read as names)."""
    line, offset = 1, 0
    text = stream.readline(MAX_LINE_BYTES + 1)
    if text.startswith(_BOM):
        text, offset = text[len(_BOM) :], len(_BOM)
    while text in (b"\n", b"\r\n"):
        line, offset = line + 1, offset + len(text)
        text = stream.readline(MAX_LINE_BYTES + 1)
    if not text.endswith(b"\n") and len(text) > MAX_LINE_BYTES:
        raise header_too_long(source, line)
    if not text.endswith(b"\n") and not text.strip(b"\r"):
        raise InputError(
            f"{source} is empty: expected a CSV header line naming the columns "
            f"{', '.join(feature_names)}, then one row per line"
        )
    if text.startswith(b"PAR1") and b"\0" in text + stream.read(2**16):  # text has no NUL
        raise InputError(
            f"{source}: this is a Parquet file, not CSV; give it by a name ending in .parquet "
            "(standard input, a pipe or another name is read as CSV)"
        )
    where = f"{source}, line {line} (the header)"
    names = _csv_names(text.removesuffix(b"\n").removesuffix(b"\r"), where)
    layout = Layout(source, "line", names, feature_names, flag, line, offset + len(text))
    return layout.checked(where)


def open_input(path: Path, source: str) -> IO[bytes]:
    """The input file opened for reading, or an InputError naming why not."""
    try:
        return open(path, "rb")
    except OSError as error:
        raise InputError(f"cannot read {source!r}: {error.strerror}") from None


def header_too_long(source: str, line: int) -> InputError:
    return InputError(
        f"{source}, line {line} (the header): longer than {MAX_LINE_BYTES // 2**20} MiB with no "
        "line end; a CSV file starts with one line naming its columns"
    )


def _csv_names(header: bytes, where: str) -> tuple[str, ...]:
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{where}: {not_utf8(header, error)}") from None
    if "\r" in text:
        raise InputError(
            f"{where}: lines end with a lone CR (classic Mac OS); convert the line ends to "
            "LF or CRLF"
        )
    if text.count('"') % 2:
        raise InputError(f"{where}: a quoted column name is not closed on this line")
    try:
        options = {"has_header": False, "infer_schema": False, "empty_string_is_null": False}
        frame = pl.read_csv(header + b"\n", **options)
    except pl.exceptions.PolarsError:  # quotes polars refuses (a"b, "a""b"x): read as Python does
        try:
            return tuple(next(csv.reader([text])))
        except csv.Error as error:
            raise InputError(f"{where}: cannot split the header into names: {error}") from None
    return tuple("" if value is None else str(value) for value in frame.row(0))


def parquet_layout(
    schema: pl.Schema, source: str, feature_names: tuple[str, ...], *, csv_output: bool, flag: bool
) -> Layout:
    """Check a Parquet schema: its features must be numbers, and for CSV output no passed-through
    column may be nested or binary (InputError)."""
    where = f"{source} (its columns)"
    layout = Layout(source, "row", tuple(schema.names()), feature_names, flag).checked(where)
    for name in feature_names:
        if not (schema[name].is_numeric() and schema[name] != pl.Boolean):
            raise InputError(
                f"{where}: column {shown(name)} has type {schema[name]}; feature columns must "
                "be numbers (integer, floating point or decimal)"
            )
    for name in layout.passthrough if csv_output else ():
        if schema[name].is_nested() or schema[name] == pl.Binary:
            raise InputError(
                f"{where}: column {shown(name)} has type {schema[name]}, which a CSV output "
                "cannot hold; write Parquet (-o OUTPUT.parquet) or drop the column"
            )
    return layout


def shown(name: str) -> str:
    """`name` quoted for a message, cut short if long."""
    if len(name) <= SHOWN_CHARS:
        return repr(name)
    return f"{name[:SHOWN_CHARS]!r}… ({len(name):,} characters)"


def not_utf8(data: bytes, error: UnicodeDecodeError) -> str:
    return (
        f"bytes that are not UTF-8 ({data[error.start : error.end]!r} at byte {error.start + 1} "
        "of the line); save the file as UTF-8"
    )


def delimiter_hint(fields: tuple[str, ...] | list[str]) -> str:
    """A hint when a line's only field holds another delimiter ('' otherwise)."""
    for delimiter in (";", "\t", "|") if len(fields) == 1 else ():
        if delimiter in fields[0]:
            return f". The line has no comma but has {delimiter!r}: separate fields with commas"
    return ""
