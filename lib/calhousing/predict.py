"""Scoring new data with the float, quantized or integer model, in bounded memory.

``calhousing predict`` reads a CSV (or Parquet) file in blocks, finds the
model's features by name, scores each block and writes the other columns,
unchanged, with a ``MedHouseVal_pred`` column. The parameters come from the JSON
artifacts only, so nothing is unpickled. Outputs are written under temporary
names and renamed at the end, so bad input never leaves a partial file.

From the edges in:

* :func:`open_csv`, :func:`open_parquet` (I/O): the header, checked against the
  model's features, and the data in blocks that know their line (row) numbers;
* :func:`score_csv_block`, :func:`score_parquet_batch` (pure): a block to the
  output rows and the rejected rows with their reasons;
* :func:`predict_file` (I/O): wires a reader, a model and the writers together.

A CSV block is parsed by pyarrow in one go; only a block that fails is split in
halves until each bad line stands alone, so a line's verdict does not depend on
its neighbours and the error names the exact line and column.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from tqdm import tqdm

from calhousing import artifacts, inference, integer_inference
from calhousing.params import check_choice

PREDICTION_COLUMN = "MedHouseVal_pred"
MODELS: tuple[str, ...] = ("float", "quantized", "integer")
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
STDIO = "-"
BLOCK_BYTES = 2 * 2**20  # bytes of CSV parsed at once: as fast as 8 MiB, 55 MB less peak memory
PARQUET_BATCH_ROWS = 2**17
MAX_LINE_BYTES = 64 * 2**20  # a longer line is refused rather than buffered
PROGRESS_MIN_BYTES = 4 * 2**20  # smaller inputs finish before a bar is worth drawing
REJECT_COLUMNS: tuple[str, ...] = ("column", "reason", "text")

Scorer = Callable[[np.ndarray], np.ndarray]

_FIELD_COUNT = re.compile(r"Expected (\d+) columns, got (\d+)")
_BAD_VALUE = re.compile(
    r"In CSV column #(\d+): (?:Row #\d+: )?CSV conversion error to \w+: invalid value '(.*)'", re.S
)
_OTHER_DELIMITERS: tuple[str, ...] = (";", "\t", "|")


class InputError(ValueError):
    """The input file cannot be scored as it is.

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


@dataclass(frozen=True)
class Model:
    """A model ready to score: its name, the features it reads, in order, and its function."""

    name: str
    feature_names: tuple[str, ...]
    predict: Scorer


@dataclass(frozen=True)
class Layout:
    """The columns of one input, checked against the model.

    Attributes
    ----------
    source : str
        How messages name the input (its path, or ``<stdin>``).
    unit : str
        ``"line"`` for CSV (the header is line 1), ``"row"`` for Parquet.
    names : tuple of str
        Every input column, in file order.
    features : tuple of str
        The model's feature columns, in the model's order.
    output_schema : pyarrow.Schema
        The passed-through columns, in file order, then ``MedHouseVal_pred``.
    """

    source: str
    unit: str
    names: tuple[str, ...]
    features: tuple[str, ...]
    output_schema: pa.Schema

    @property
    def passthrough(self) -> tuple[str, ...]:
        return tuple(self.output_schema.names[:-1])

    def where(self, line: int, column: str = "") -> str:
        """``"<source>, line 7, column 'MedInc'"``: where a problem is."""
        place = f"{self.source}, {self.unit} {line}"
        return f"{place}, column {column!r}" if column else place


@dataclass(frozen=True)
class Block:
    """Whole lines of a CSV input and the number of the first one (1-based)."""

    data: bytes
    first_line: int


@dataclass(frozen=True)
class Reject:
    """A row that was not scored: where it is, the column at fault, why, and its text."""

    line: int
    column: str
    reason: str
    text: str


@dataclass(frozen=True)
class Scored:
    """The output rows of one block and the rows rejected from it, in input order."""

    table: pa.Table
    rejects: tuple[Reject, ...]


@dataclass(frozen=True)
class Summary:
    """What :func:`predict_file` did."""

    rows_scored: int
    rows_rejected: int
    output: Path | None
    rejects: Path | None


class _ValueSpansLines(ValueError):
    """A quoted value ran past the end of its line."""


def load_model(artifacts_dir: artifacts.PathLike | None, model: str = "float") -> Model:
    """Load a model from the JSON parameters in `artifacts_dir`; nothing is unpickled.

    Parameters
    ----------
    artifacts_dir : path-like or None
        Where ``calhousing run`` wrote its artifacts; ``None`` for the project's.
    model : {"float", "quantized", "integer"}, default="float"
        The float parameters, the dequantized 8-bit parameters, or the
        integer-only model.

    Returns
    -------
    Model

    Raises
    ------
    ValueError
        If `model` is not one of the names above.
    calhousing.artifacts.ArtifactError
        If the artifacts it needs are missing.
    """
    check_choice("model", model, MODELS)
    if model == "float":
        params = artifacts.load_float_params(artifacts_dir)
        return Model(model, params.feature_names, partial(inference.predict, params))
    if model == "quantized":
        quantized = artifacts.load_quantized(artifacts_dir)
        scorer = partial(inference.predict_quantized, quantized)
        return Model(model, quantized.feature_names, scorer)
    integer = artifacts.load_integer_model(artifacts_dir)
    return Model(model, integer.feature_names, partial(integer_inference.predict_integer, integer))


def iter_blocks(
    stream: IO[bytes],
    source: str,
    block_bytes: int = BLOCK_BYTES,
    on_read: Callable[[int], object] | None = None,
) -> Iterator[Block]:
    """Read `stream` as blocks of about `block_bytes` that end at a line end.

    Lines end with ``\\n``, ``\\r\\n`` or ``\\r``, as pyarrow reads them.

    Raises
    ------
    InputError
        If a line is longer than ``MAX_LINE_BYTES``.
    """
    pending, line = b"", 1
    while True:
        chunk = stream.read(block_bytes)
        if on_read is not None and chunk:
            on_read(len(chunk))
        data = pending + chunk
        if not chunk:
            if data:
                yield Block(data, line)
            return
        cut = _last_line_end(data)
        if cut == 0:
            if len(data) > MAX_LINE_BYTES:
                raise InputError(
                    f"{source}, line {line}: longer than {MAX_LINE_BYTES // 2**20} MiB; "
                    "is this a CSV file with one row per line?",
                    line,
                )
            pending = data
            continue
        block, pending = data[:cut], data[cut:]
        yield Block(block, line)
        line += _count_line_ends(block)


def open_csv(
    stream: IO[bytes],
    source: str,
    feature_names: tuple[str, ...],
    block_bytes: int = BLOCK_BYTES,
    on_read: Callable[[int], object] | None = None,
) -> tuple[Layout, Iterator[Block]]:
    """Read the header of a CSV `stream`, check it, and return the data blocks that follow.

    Blank lines before the header are skipped (and counted).

    Raises
    ------
    InputError
        If the input is empty or its header lacks a feature column (see :func:`csv_layout`).
    """
    blocks = iter_blocks(stream, source, block_bytes, on_read)
    for block in blocks:
        found = _split_header(block)
        if found is not None:
            header, line, rest = found
            layout = csv_layout(header, line, source, feature_names)
            return layout, _prepend(rest, blocks)
    raise InputError(
        f"{source} is empty: expected a CSV header line naming the columns "
        f"{', '.join(feature_names)}, then one row per line",
        1,
    )


def csv_layout(header: bytes, line: int, source: str, feature_names: tuple[str, ...]) -> Layout:
    """Check a CSV header line against the model's features.

    Raises
    ------
    InputError
        If the header is not UTF-8, names a column twice, already has
        ``MedHouseVal_pred``, or lacks feature columns (it names each missing one).
    """
    where = f"{source}, line {line} (the header)"
    try:
        text = header.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{where}: {_not_utf8(header, error)}", line) from None
    names = tuple(_csv_fields(text))
    _check_names(names, where, feature_names, line)
    schema = _output_schema(
        [pa.field(name, pa.string()) for name in names if name not in feature_names]
    )
    return Layout(source, "line", names, feature_names, schema)


def parse_csv(data: bytes, layout: Layout) -> pa.Table:
    """Parse whole CSV lines (no header) with pyarrow: features as float64, the rest as text.

    Raises
    ------
    pyarrow.ArrowInvalid
        If a line has the wrong number of fields, a feature is not a number, or a
        value is not UTF-8.
    """
    if not data.endswith((b"\n", b"\r")):
        data += b"\n"  # an unclosed quote on the last line then fails as on any other line
    try:
        table = pacsv.read_csv(
            io.BytesIO(data), **_arrow_csv_options(layout.names, layout.features)
        )
    except pa.ArrowInvalid:
        if data.strip(b"\r\n"):
            raise
        return _empty_input(layout)
    if b'"' in data:  # only a quoted value can hold a line break
        for name in layout.passthrough:
            if pc.any(pc.match_substring_regex(table[name], "[\r\n]")).as_py():
                raise _ValueSpansLines(name)
    return table


def score_csv_block(
    block: Block, layout: Layout, predict: Scorer, first_only: bool = False
) -> Scored:
    """Score the lines of `block`; rows that cannot be scored become rejects.

    Parameters
    ----------
    block : Block
        Whole lines following the header.
    layout : Layout
        From :func:`open_csv`.
    predict : callable
        Maps an ``(n, n_features)`` float64 array to ``n`` predictions.
    first_only : bool, default=False
        Stop looking at the first rejected line (when it ends the run anyway).

    Returns
    -------
    Scored
        The passed-through columns and the predictions of the good rows, and a
        reject for each line with the wrong number of fields, a feature that is
        not a number, NaN or inf, bytes that are not UTF-8, a quoted value
        that spans lines, or a prediction that overflows.
    """
    try:
        table = parse_csv(block.data, layout)
    except (pa.ArrowInvalid, _ValueSpansLines):
        pass
    else:
        output, bad = _score_table(table, layout, predict)
        if bad.size == 0:
            return Scored(output, ())
    return _score_lines(block, layout, predict, first_only)


def open_parquet(
    path: Path, source: str, feature_names: tuple[str, ...]
) -> tuple[Layout, Iterator[tuple[pa.RecordBatch, int]]]:
    """Open a Parquet file, check its columns, and return its batches with their first row.

    Raises
    ------
    InputError
        If it is not a Parquet file, lacks a feature column, or holds a feature
        column that is not numeric.
    """
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as error:
        raise InputError(f"{source} is not a readable Parquet file: {error}") from None
    layout = parquet_layout(parquet.schema_arrow, source, feature_names)
    return layout, _parquet_batches(parquet, source)


def parquet_layout(schema: pa.Schema, source: str, feature_names: tuple[str, ...]) -> Layout:
    """Check a Parquet schema against the model's features (see :func:`csv_layout`)."""
    where = f"{source} (its columns)"
    _check_names(tuple(schema.names), where, feature_names, None)
    for name in feature_names:
        kind = schema.field(name).type
        if not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
        ):
            raise InputError(
                f"{where}: column {name!r} has type {kind}; feature columns must be numbers "
                "(integer or floating point)",
                column=name,
            )
    schema_out = _output_schema([field for field in schema if field.name not in feature_names])
    return Layout(source, "row", tuple(schema.names), feature_names, schema_out)


def score_parquet_batch(
    batch: pa.RecordBatch, first_row: int, layout: Layout, predict: Scorer
) -> Scored:
    """Score one Parquet batch; rows with a missing, NaN or inf feature become rejects."""
    table = pa.Table.from_batches([batch])
    output, bad = _score_table(table, layout, predict)
    rejects = tuple(_parquet_reject(table, index, first_row + index, layout) for index in bad)
    return Scored(output, rejects)


def predict_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str] | None,
    model: Model,
    skip_invalid: bool = False,
    progress: bool = False,
    block_bytes: int = BLOCK_BYTES,
) -> Summary:
    """Score `input_path` with `model` and write the result to `output_path`.

    Parameters
    ----------
    input_path : path-like
        A CSV file, a Parquet file (``.parquet``, ``.pq``), or ``"-"`` for CSV on stdin.
    output_path : path-like or None
        CSV, or Parquet by its suffix; ``None`` or ``"-"`` writes CSV to stdout.
    model : Model
        From :func:`load_model`.
    skip_invalid : bool, default=False
        Score the good rows and write each rejected row, with its reason, to
        ``<output_path>.rejects.csv``, instead of stopping at the first bad row.
    progress : bool, default=False
        Show a progress bar on stderr if the input is larger than a few MB.
    block_bytes : int
        Bytes of CSV parsed at once; bounds memory.

    Returns
    -------
    Summary

    Raises
    ------
    InputError
        For bad input; the message names the line (or row) and the column.
        Nothing is written: outputs appear only when every row was read.
    ValueError
        If `skip_invalid` is set with no output file, or the output's folder
        does not exist.
    """
    source = "<stdin>" if str(input_path) == STDIO else str(input_path)
    output = None if output_path is None or str(output_path) == STDIO else Path(output_path)
    _check_output(output, skip_invalid)
    rejects_path = _rejects_path(output) if skip_invalid and output is not None else None
    rows_scored = rows_rejected = 0
    with ExitStack() as stack:
        bar = stack.enter_context(_progress_bar(input_path, progress))
        layout, chunks = _open_chunks(
            stack, input_path, source, model, block_bytes, skip_invalid, bar
        )
        sink = stack.enter_context(_atomic_output(output))
        write = stack.enter_context(table_writer(sink, layout.output_schema, _is_parquet(output)))
        write_reject = _reject_writer(stack, rejects_path, layout.unit)
        for chunk in chunks:
            if chunk.rejects and not skip_invalid:
                first = chunk.rejects[0]
                raise InputError(
                    f"{layout.where(first.line, first.column)}: {first.reason}",
                    first.line,
                    first.column,
                    skippable=True,
                )
            write(chunk.table)
            for reject in chunk.rejects:
                write_reject(reject)
            rows_scored += chunk.table.num_rows
            rows_rejected += len(chunk.rejects)
    return Summary(rows_scored, rows_rejected, output, rejects_path)


def _open_chunks(
    stack: ExitStack,
    input_path: str | os.PathLike[str],
    source: str,
    model: Model,
    block_bytes: int,
    skip_invalid: bool,
    bar: tqdm,
) -> tuple[Layout, Iterator[Scored]]:
    if _is_parquet(input_path):
        layout, batches = open_parquet(Path(input_path), source, model.feature_names)
        chunks = (
            score_parquet_batch(batch, first_row, layout, model.predict)
            for batch, first_row in _counted(batches, bar)
        )
        return layout, chunks
    stream = (
        sys.stdin.buffer if source == "<stdin>" else stack.enter_context(_open_input(input_path))
    )
    layout, blocks = open_csv(stream, source, model.feature_names, block_bytes, bar.update)
    chunks = (
        score_csv_block(block, layout, model.predict, first_only=not skip_invalid)
        for block in blocks
    )
    return layout, chunks


def _counted(
    batches: Iterator[tuple[pa.RecordBatch, int]], bar: tqdm
) -> Iterator[tuple[pa.RecordBatch, int]]:
    for batch, first_row in batches:
        bar.update(batch.num_rows)
        yield batch, first_row


def _last_line_end(data: bytes) -> int:
    """Index just past the last line end of `data` (0 if none is certain yet)."""
    newline = data.rfind(b"\n")
    if newline >= 0:
        return newline + 1
    carriage = data.rfind(b"\r")
    # A final "\r" may be half of a "\r\n" still unread.
    return carriage + 1 if 0 <= carriage < len(data) - 1 else 0


def _count_line_ends(data: bytes) -> int:
    newlines = data.count(b"\n")
    if b"\r" not in data:  # a fast scan; most files end lines with "\n" alone
        return newlines
    return newlines + data.count(b"\r") - data.count(b"\r\n")


def _split_header(block: Block) -> tuple[bytes, int, Block] | None:
    """The first non-blank line of `block`, its number, and the block after it."""
    data, line = block.data, block.first_line
    start = 0
    while start < len(data) and data[start] in b"\r\n":
        start += 2 if data.startswith(b"\r\n", start) else 1
        line += 1
    if start == len(data):
        return None
    ends = [index for index in (data.find(b"\n", start), data.find(b"\r", start)) if index >= 0]
    end = min(ends) if ends else len(data)
    after = end + (2 if data.startswith(b"\r\n", end) else 1)
    return data[start:end], line, Block(data[after:], line + 1)


def _prepend(first: Block, rest: Iterator[Block]) -> Iterator[Block]:
    yield first
    yield from rest


def _csv_fields(text: str) -> list[str]:
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return [text]


def _check_names(
    names: tuple[str, ...], where: str, feature_names: tuple[str, ...], line: int | None
) -> None:
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(
            f"{where}: column(s) {', '.join(map(repr, duplicates))} appear more than once; "
            "give every column its own name",
            line,
        )
    if PREDICTION_COLUMN in names:
        raise InputError(
            f"{where}: the input already has a {PREDICTION_COLUMN!r} column, which the output "
            "adds; rename or drop it",
            line,
            PREDICTION_COLUMN,
        )
    missing = [name for name in feature_names if name not in names]
    if missing:
        raise InputError(
            f"{where}: missing feature column(s) {', '.join(missing)}; the columns are "
            f"{', '.join(map(repr, names))}. Feature columns are found by exact name, "
            f"in any order{_delimiter_hint(names)}",
            line,
        )


def _delimiter_hint(fields: tuple[str, ...] | list[str]) -> str:
    if len(fields) != 1:
        return ""
    for delimiter in _OTHER_DELIMITERS:
        if delimiter in fields[0]:
            return f". The line has no comma but has {delimiter!r}: separate fields with commas"
    return ""


def _not_utf8(data: bytes, error: UnicodeDecodeError) -> str:
    bad = data[error.start : error.end]
    return (
        f"bytes that are not UTF-8 ({bad!r} at byte {error.start + 1} of the line); "
        "save the file as UTF-8"
    )


def _output_schema(passthrough: list[pa.Field]) -> pa.Schema:
    return pa.schema([*passthrough, pa.field(PREDICTION_COLUMN, pa.float64())])


@lru_cache(maxsize=8)
def _arrow_csv_options(names: tuple[str, ...], features: tuple[str, ...]) -> dict[str, Any]:
    """pyarrow's options for data lines with these columns: features float64, the rest text."""
    types = {name: pa.float64() if name in features else pa.string() for name in names}
    return {
        # pyarrow's own thread pool aborted ~4% of processes at exit here ("terminate
        # called without an active exception", apache/arrow#34314); one thread never did.
        "read_options": pacsv.ReadOptions(column_names=list(names), use_threads=False),
        "parse_options": pacsv.ParseOptions(delimiter=",", ignore_empty_lines=True),
        "convert_options": pacsv.ConvertOptions(
            column_types=types,
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            check_utf8=True,
        ),
    }


def _empty_input(layout: Layout) -> pa.Table:
    types = {
        name: pa.float64() if name in layout.features else pa.string() for name in layout.names
    }
    return pa.schema(list(types.items())).empty_table()


def _feature_matrix(table: pa.Table, layout: Layout) -> np.ndarray:
    """The features as an ``(n, n_features)`` float64 array (column-major: one copy per column)."""
    columns = [_float_column(table[name]) for name in layout.features]
    return np.vstack(columns).T if columns else np.empty((table.num_rows, 0))


def _float_column(column: pa.ChunkedArray) -> np.ndarray:
    """A column as float64; nulls (Parquet only) become NaN."""
    if column.type != pa.float64():
        column = column.cast(pa.float64())
    return column.to_numpy(zero_copy_only=False)


def _score_table(table: pa.Table, layout: Layout, predict: Scorer) -> tuple[pa.Table, np.ndarray]:
    """Output rows for the scorable rows of `table`, and the indices of the others.

    A row is not scorable if a feature is missing, NaN or inf, or if its
    prediction is not finite (feature values too large for float64).
    """
    features = _feature_matrix(table, layout)
    with np.errstate(over="ignore", invalid="ignore"):
        predictions = _predict_finite_rows(features, predict)
    keep = np.isfinite(predictions)
    if keep.all():
        columns = [*(table[name] for name in layout.passthrough), pa.array(predictions)]
        return pa.Table.from_arrays(columns, schema=layout.output_schema), np.empty(0, np.intp)
    kept = table.filter(pa.array(keep))
    columns = [*(kept[name] for name in layout.passthrough), pa.array(predictions[keep])]
    return pa.Table.from_arrays(columns, schema=layout.output_schema), np.flatnonzero(~keep)


def _predict_finite_rows(features: np.ndarray, predict: Scorer) -> np.ndarray:
    """Predictions of the rows whose features are all finite; NaN for the others."""
    if np.isfinite(features).all():
        return np.asarray(predict(features), dtype=np.float64) if len(features) else np.empty(0)
    finite_rows = np.isfinite(features).all(axis=1)
    predictions = np.full(len(features), np.nan)
    if finite_rows.any():
        predictions[finite_rows] = predict(features[finite_rows])
    return predictions


def _score_lines(block: Block, layout: Layout, predict: Scorer, first_only: bool) -> Scored:
    """The slow path: isolate the bad lines of `block` by halving it, score the rest."""
    lines: list[bytes] = []
    numbers: list[int] = []
    for offset, line in enumerate(block.data.splitlines()):
        if line:
            lines.append(line)
            numbers.append(block.first_line + offset)
    pieces: list[tuple[pa.Table, int]] = []
    rejects: list[Reject] = []
    _parse_pieces(lines, numbers, 0, len(lines), layout, first_only, pieces, rejects)
    outputs = []
    for table, start in pieces:
        output, bad = _score_table(table, layout, predict)
        outputs.append(output)
        rejects.extend(
            _unscorable_reject(lines[start + index], numbers[start + index], table, index, layout)
            for index in bad
        )
    rejects.sort(key=lambda reject: reject.line)
    table = pa.concat_tables(outputs) if outputs else layout.output_schema.empty_table()
    return Scored(table, tuple(rejects))


def _parse_pieces(
    lines: list[bytes],
    numbers: list[int],
    start: int,
    stop: int,
    layout: Layout,
    first_only: bool,
    pieces: list[tuple[pa.Table, int]],
    rejects: list[Reject],
) -> None:
    """Parse ``lines[start:stop]``, halving each part that fails down to single lines."""
    if start >= stop or (first_only and rejects):
        return
    try:
        table = parse_csv(b"\n".join(lines[start:stop]), layout)
    except (pa.ArrowInvalid, _ValueSpansLines) as error:
        if stop - start == 1:
            rejects.append(_unparsable_reject(lines[start], numbers[start], error, layout))
            return
        middle = (start + stop) // 2
        _parse_pieces(lines, numbers, start, middle, layout, first_only, pieces, rejects)
        _parse_pieces(lines, numbers, middle, stop, layout, first_only, pieces, rejects)
        return
    pieces.append((table, start))


def _unparsable_reject(line: bytes, number: int, error: Exception, layout: Layout) -> Reject:
    """Why pyarrow could not read `line`, in the user's terms."""
    text = line.decode("utf-8", "backslashreplace")
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as decode_error:
        field = line[: decode_error.start].count(b",")
        column = layout.names[field] if field < len(layout.names) else ""
        return Reject(number, column, _not_utf8(line, decode_error), text)
    if isinstance(error, _ValueSpansLines):
        reason = "a quoted value is not closed on this line; values may not span lines"
        return Reject(number, str(error), reason, text)
    message = str(error)
    count = _FIELD_COUNT.search(message)
    if count:
        expected, found = count.groups()
        reason = (
            f"expected {expected} comma-separated fields as in the header, found {found}"
            f"{_delimiter_hint(_csv_fields(text))}"
        )
        return Reject(number, "", reason, text)
    value = _BAD_VALUE.search(message)
    if value:
        column = layout.names[int(value.group(1))]
        found_value = value.group(2)
        reason = "empty value" if found_value == "" else f"non-numeric value {found_value!r}"
        return Reject(number, column, f"{reason}; a feature must be a number", text)
    return Reject(number, "", f"cannot read this line: {message}", text)


def _unscorable_reject(
    line: bytes, number: int, table: pa.Table, index: int, layout: Layout
) -> Reject:
    text = line.decode("utf-8", "backslashreplace")
    fields = _csv_fields(text)
    for position, name in enumerate(layout.names):
        if name in layout.features and not np.isfinite(table[name][index].as_py()):
            value = fields[position] if position < len(fields) else table[name][index].as_py()
            reason = f"value {value!r} is not a finite number; NaN and inf cannot be scored"
            return Reject(number, name, reason, text)
    return Reject(number, "", _OVERFLOW, text)


_OVERFLOW = "the prediction overflows float64: the feature values are too large"


def _parquet_reject(table: pa.Table, index: int, row: int, layout: Layout) -> Reject:
    values = {name: table[name][index].as_py() for name in layout.names}
    text = repr(values)
    for name in layout.features:
        value = values[name]
        if value is None:
            return Reject(row, name, "missing value (null); a feature must be a number", text)
        if not np.isfinite(float(value)):
            reason = f"value {value!r} is not a finite number; NaN and inf cannot be scored"
            return Reject(row, name, reason, text)
    return Reject(row, "", _OVERFLOW, text)


def _parquet_batches(parquet: pq.ParquetFile, source: str) -> Iterator[tuple[pa.RecordBatch, int]]:
    row = 1
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            yield batch, row
            row += batch.num_rows
    except (pa.ArrowException, OSError) as error:
        raise InputError(
            f"{source}: cannot read Parquet data after row {row - 1}: {error}"
        ) from None


def _is_parquet(path: str | os.PathLike[str] | None) -> bool:
    return path is not None and str(path).lower().endswith(PARQUET_SUFFIXES)


def _rejects_path(output: Path) -> Path:
    return output.with_name(output.name + ".rejects.csv")


def _check_output(output: Path | None, skip_invalid: bool) -> None:
    if skip_invalid and output is None:
        raise ValueError(
            "skip_invalid writes the rejected rows to OUTPUT.rejects.csv, so it needs an output "
            "file (-o OUTPUT), not stdout"
        )
    if output is not None and not output.parent.is_dir():
        raise ValueError(f"output {str(output)!r}: folder {str(output.parent)!r} does not exist")


@contextmanager
def _open_input(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    try:
        stream = open(path, "rb")
    except OSError as error:
        raise InputError(f"cannot read {str(path)!r}: {error.strerror}") from None
    with stream:
        yield stream


@contextmanager
def _progress_bar(input_path: str | os.PathLike[str], enabled: bool) -> Iterator[tqdm]:
    """A tqdm bar on stderr: bytes for CSV, rows for Parquet; off for small inputs."""
    size: int | None = None
    total: int | None = None
    if str(input_path) != STDIO:
        try:
            size = os.stat(input_path).st_size
        except OSError:
            size = 0
    parquet = _is_parquet(input_path)
    if parquet and size and size >= PROGRESS_MIN_BYTES:
        try:
            total = pq.ParquetFile(input_path).metadata.num_rows
        except (pa.ArrowException, OSError):
            total = None
    elif not parquet:
        total = size
    show = enabled and (size is None or size >= PROGRESS_MIN_BYTES)
    with tqdm(
        total=total,
        unit="row" if parquet else "B",
        unit_scale=True,
        unit_divisor=1000 if parquet else 1024,
        desc="scoring",
        file=sys.stderr,
        disable=not show,
    ) as bar:
        yield bar


@contextmanager
def _atomic_output(path: Path | None) -> Iterator[IO[bytes]]:
    """A binary file that becomes `path` (or is copied to stdout) only on success."""
    if path is None:
        with tempfile.TemporaryFile() as spool:
            yield spool
            spool.seek(0)
            shutil.copyfileobj(spool, sys.stdout.buffer)
            sys.stdout.buffer.flush()
        return
    handle = tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            yield handle
        os.chmod(handle.name, 0o666 & ~_umask())
        os.replace(handle.name, path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def table_writer(
    sink: IO[bytes], schema: pa.Schema, parquet: bool
) -> Iterator[Callable[[pa.Table], None]]:
    """A function that appends a table to `sink` as CSV or Parquet; the file is finished on exit."""
    if parquet:
        with pq.ParquetWriter(sink, schema) as writer:
            yield lambda table: writer.write_table(table) if table.num_rows else None
        return
    sink.write(_csv_line(schema.names).encode("utf-8"))
    yield partial(_write_csv, sink)


def _write_csv(sink: IO[bytes], table: pa.Table) -> None:
    """Append `table` unquoted; if a value holds a comma, quote or line break, quote text."""
    # Batch by batch, skipping empty ones: pyarrow writes garbage for a table with an
    # empty chunk (apache/arrow#36889; 16 KB of NUL bytes with pyarrow 26).
    batches = [batch for batch in table.to_batches() if batch.num_rows]
    try:
        text = _csv_bytes(batches, "none")
    except pa.ArrowInvalid:
        text = _csv_bytes(batches, "needed")
    sink.write(text)


def _csv_bytes(batches: list[pa.RecordBatch], quoting_style: str) -> pa.Buffer:
    buffer = pa.BufferOutputStream()
    options = pacsv.WriteOptions(include_header=False, quoting_style=quoting_style)
    for batch in batches:
        pacsv.write_csv(batch, buffer, write_options=options)
    return buffer.getvalue()


def _csv_line(values: list[str] | tuple[str, ...]) -> str:
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerow(values)
    return text.getvalue()


def _reject_writer(stack: ExitStack, path: Path | None, unit: str) -> Callable[[Reject], None]:
    """A function that appends a reject to ``OUTPUT.rejects.csv`` (or ignores it, with no path)."""
    if path is None:
        stack.enter_context(nullcontext())
        return lambda reject: None
    sink = stack.enter_context(_atomic_output(path))
    text = stack.enter_context(io.TextIOWrapper(sink, encoding="utf-8", newline=""))
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([unit, *REJECT_COLUMNS])

    def write(reject: Reject) -> None:
        writer.writerow([reject.line, reject.column, reject.reason, reject.text])

    return write
