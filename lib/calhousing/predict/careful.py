"""Scoring a CSV file record by record, when polars' fast path found a problem.

The file is read again in blocks of whole records, split by a numpy scan that knows quotes, so
a quoted value over a line end is one record, rejected whole, and each record knows its lines:
a bad one is named by its line and column, the good ones get the fast path's expression.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl

from calhousing.errors import InputError
from calhousing.predict.header import MAX_LINE_BYTES, Layout, delimiter_hint, not_utf8, open_input
from calhousing.predict.scoring import (
    NOT_A_NUMBER,
    NOT_FINITE,
    OK,
    OUT_OF_RANGE_COLUMN,
    OVERFLOW,
    PARQUET_COMPRESSION,
    PREDICTION_COLUMN,
    RAW,
    Model,
    counts,
    output_columns,
    reject_schema,
    with_scores,
)

BLOCK_BYTES = 4 * 2**20  # bytes scanned at once: bounds the careful path's memory
_INDEX = "__index"
_UNREADABLE = "cannot read this record as CSV fields (check its quotes)"


@dataclass(frozen=True)
class Records:
    """Whole CSV records: record i is ``data[starts[i]:ends[i]]`` without its line end, runs from
    line `first_lines[i]` to `last_lines[i]` and has `fields[i]` fields; `unclosed`: the last
    record opens a quote that the file never closes."""

    data: bytes
    starts: np.ndarray
    ends: np.ndarray
    first_lines: np.ndarray
    last_lines: np.ndarray
    fields: np.ndarray
    unclosed: bool = False

    def __len__(self) -> int:
        return len(self.starts)

    def text(self, index: int) -> str:
        """Record `index` as text (bytes that are not UTF-8 shown as ``\\xff``)."""
        return self.data[self.starts[index] : self.ends[index]].decode("utf-8", "backslashreplace")

    def texts(self, indices: np.ndarray) -> list[str]:
        # slicing by Python ints: by numpy integers it took twice as long
        lines = zip(self.starts[indices].tolist(), self.ends[indices].tolist(), strict=True)
        return [self.data[start:end].decode("utf-8", "backslashreplace") for start, end in lines]


def iter_records(
    stream: IO[bytes], source: str, first_line: int, block_bytes: int = BLOCK_BYTES
) -> Iterator[Records]:
    """Read `stream` to its end as blocks of whole records; InputError for a record longer than
    ``MAX_LINE_BYTES``."""
    pending, line = b"", first_line
    while True:
        chunk = stream.read(block_bytes)
        data = pending + chunk
        records = split_records(data, line, final=not chunk)
        too_long = np.flatnonzero(records.ends - records.starts > MAX_LINE_BYTES)
        if len(too_long) or (len(records) == 0 and len(data) > MAX_LINE_BYTES):
            at = int(records.first_lines[too_long[0]]) if len(too_long) else line
            raise InputError(
                f"{source}, line {at}: a record longer than {MAX_LINE_BYTES // 2**20} MiB (a "
                "line, or a quoted value that is never closed); a CSV file holds one row per line"
            )
        if len(records):
            line = int(records.last_lines[-1]) + 1
            yield records
        if not chunk:
            return
        pending = data[len(records.data) :]


def split_records(data: bytes, first_line: int, *, final: bool) -> Records:
    """The whole records at the start of `data` (all of it when `final`)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(arr == ord("\n"))
    quotes = arr == ord('"')
    parity = np.cumsum(quotes, dtype=np.int32) & 1 if quotes.any() else None
    ends = newlines[parity[newlines] == 0] if parity is not None else newlines
    used = int(ends[-1]) + 1 if len(ends) else 0
    unclosed = False
    if final and used < len(data):
        ends = np.append(ends, len(data))
        unclosed = parity is not None and bool(parity[-1])
        used = len(data)
    starts = np.append(0, ends[:-1] + 1)[: len(ends)]
    # a byte's line is first_line plus the line ends before it
    first_lines = first_line + np.searchsorted(newlines, starts)
    last_lines = first_line + np.searchsorted(newlines, ends)
    ends = ends - ((ends > starts) & (arr[np.maximum(ends - 1, 0)] == ord("\r")))  # CRLF
    commas = np.flatnonzero(arr == ord(","))  # sparse: counting by position beats a cumsum
    if parity is not None:
        commas = commas[parity[commas] == 0]
    fields = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    return Records(data[:used], starts, ends, first_lines, last_lines, fields, unclosed)


def score_careful(
    path: Path,
    layout: Layout,
    model: Model,
    output: Path,
    rejects: Path | None,
    parquet: bool,
    block_bytes: int | None = None,
) -> tuple[int, int, int, int]:
    """Score the records after the header into `output` (through a CSV stage when `parquet`)
    and append the rejected ones to `rejects`; with no `rejects`, the first bad record stops it
    (InputError, ``skippable``). Returns the rows scored, rejected, outside and clamped."""
    totals = np.zeros(4, dtype=np.int64)
    csv_out = output.with_suffix(".csv.part") if parquet else output
    schema = dict.fromkeys(layout.passthrough, pl.String) | {PREDICTION_COLUMN: pl.Float64}
    schema |= {OUT_OF_RANGE_COLUMN: pl.Boolean} if layout.flag else {}
    try:
        with ExitStack() as stack:
            stream = stack.enter_context(open_input(path, layout.source))
            stream.seek(layout.data_offset)
            sink = stack.enter_context(open(csv_out, "wb"))
            listing = stack.enter_context(open(rejects, "ab")) if rejects else None  # has a header
            pl.DataFrame(schema=schema).write_csv(sink)
            blocks = iter_records(
                stream, layout.source, layout.header_line + 1, block_bytes or BLOCK_BYTES
            )
            for block in blocks:
                good, bad, found = _score_block(block, layout, model)
                if listing is not None:
                    bad.write_csv(listing, include_header=False)
                elif bad.height:
                    raise layout.rejected(bad.row(0, named=True))
                good.write_csv(sink, include_header=False)
                totals += (good.height, bad.height, found["outside"], found["clamped"])
        if parquet:
            frame = pl.scan_csv(csv_out, schema=schema, empty_string_is_null=False)
            frame.sink_parquet(output, **PARQUET_COMPRESSION)
    finally:
        if parquet:  # the scored rows' CSV stage; the output's own temporary file is the caller's
            csv_out.unlink(missing_ok=True)
    return tuple(totals.tolist())


def _score_block(
    block: Records, layout: Layout, model: Model
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """The scored rows of `block`, its rejects sorted by line, and the counts of the former."""
    rejects, indices = _not_one_row(block, len(layout.names))
    frame = _parse(block, indices, layout)
    if frame is None:  # polars split them differently: parse each record alone
        parsed = {}
        for index in indices:
            one = _parse(block, np.array([index]), layout)
            if one is None:
                rejects.append((int(block.first_lines[index]), "", _UNREADABLE, block.text(index)))
            else:
                parsed[index] = one
        indices = np.array(list(parsed), dtype=np.int64)
        # one chunk: polars 2.1 panics formatting the reasons of a frame of many string chunks
        frame = pl.concat(
            [pl.DataFrame(schema=dict.fromkeys(layout.names, pl.String)), *parsed.values()],
            rechunk=True,
        )
    frame = frame.with_columns(pl.Series(_INDEX, indices))
    if not block.data.isascii():  # polars read bytes that are not UTF-8 as U+FFFD
        undecodable = []
        contains = [pl.col(name).str.contains("\ufffd", literal=True) for name in layout.names]
        for index in frame.filter(pl.any_horizontal(contains))[_INDEX]:
            raw = block.data[block.starts[index] : block.ends[index]]
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                field = raw[: error.start].count(b",")
                column = layout.names[field] if field < len(layout.names) else ""
                line = int(block.first_lines[index])
                rejects.append((line, column, not_utf8(raw, error), block.text(index)))
                undecodable.append(index)
        frame = frame.filter(~pl.col(_INDEX).is_in(undecodable))
    good, bad, stats = _score_parsed(block, layout, model, frame)
    extra = pl.DataFrame(rejects, schema=reject_schema(layout.unit), orient="row")
    return good, pl.concat([extra, bad]).sort(layout.unit), stats


def _not_one_row(block: Records, expected: int) -> tuple[list[tuple], np.ndarray]:
    """The rejects (line, column, reason, text) of the records that are not one line of
    `expected` fields, and the indices of the others that are not blank."""
    blank = block.starts == block.ends
    unclosed = (np.arange(len(block)) == len(block) - 1) & block.unclosed
    multi = (block.last_lines > block.first_lines) & ~unclosed
    wrong = (block.fields != expected) & ~blank & ~multi & ~unclosed
    rejects = []
    for index in np.flatnonzero(multi | wrong | unclosed):
        first, text = int(block.first_lines[index]), block.text(index)
        if unclosed[index]:
            reason = (
                f"a quoted value opened on line {first} is never closed before the end of the file"
            )
        elif multi[index]:
            reason = (
                f"a quoted value runs from line {first} to line {block.last_lines[index]}; "
                "values may not hold line breaks (one record, rejected whole)"
            )
        else:
            reason = (
                f"expected {expected} comma-separated fields as in the header, found "
                f"{block.fields[index]}" + (delimiter_hint([text]) if "," not in text else "")
            )
        rejects.append((first, "", reason, text))
    return rejects, np.flatnonzero(~(blank | multi | wrong | unclosed))


def _parse(block: Records, indices: np.ndarray, layout: Layout) -> pl.DataFrame | None:
    """The records at `indices` as text columns, or None if polars does not split them so."""
    data = block.data
    if len(indices) < len(block) or b"\r" in data:  # only those records, each ended by \n
        starts, ends = block.starts[indices].tolist(), block.ends[indices].tolist()
        slices = [data[start:end] for start, end in zip(starts, ends, strict=True)]
        data = b"\n".join(slices) + b"\n" if slices else b""
    elif not data.endswith(b"\n"):
        data += b"\n"
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            schema=dict.fromkeys(layout.names, pl.String),
            empty_string_is_null=False,
            encoding="utf8-lossy",
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        return None
    return frame if frame.height == len(indices) else None


def _score_parsed(
    block: Records, layout: Layout, model: Model, frame: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """The scored rows, the rejects and the counts of the parsed records `frame`."""
    raw = {name: RAW + name for name in layout.names if name in layout.features}
    typed = frame.lazy().with_columns(
        *(pl.col(name).alias(text) for name, text in raw.items()),
        *(pl.col(name).cast(pl.Float64, strict=False) for name in raw),
    )
    scored = with_scores(typed, model)
    good_rows = scored.filter(pl.col(OK))
    # the reasons are worked out for the bad rows only, from their text: the first bad feature
    # in file order (null where the text is not a number) and why
    bad = {name: pl.col(name).is_null() | ~pl.col(name).is_finite() for name in raw}
    column = pl.coalesce([pl.when(bad[name]).then(pl.lit(name)) for name in raw])
    value = pl.coalesce([pl.when(bad[name]).then(pl.col(text)) for name, text in raw.items()])
    reason = (
        pl.when(value.is_null())
        .then(None)
        .when(value == "")
        .then(pl.lit("empty value" + NOT_A_NUMBER))
        .when(value.cast(pl.Float64, strict=False).is_null())
        .then(pl.format("non-numeric value '{}'" + NOT_A_NUMBER, value))
        .otherwise(pl.format("value '{}' " + NOT_FINITE, value))
    )
    good, found, rejected = pl.collect_all(
        [
            good_rows.select(output_columns(layout.passthrough, layout.flag)),
            good_rows.select(counts(model)),
            scored.filter(~pl.col(OK)).select(
                pl.col(_INDEX),
                column.fill_null("").alias("column"),
                reason.fill_null(OVERFLOW).alias("reason"),
            ),
        ]
    )
    rows = rejected[_INDEX].to_numpy()
    rejected = rejected.select(
        pl.Series(layout.unit, block.first_lines[rows]),
        "column",
        "reason",
        pl.Series("text", block.texts(rows), dtype=pl.String),
    )
    return good, rejected, found.row(0, named=True)
