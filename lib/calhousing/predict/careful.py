"""Scoring a CSV file record by record, when polars' fast path found a problem.

The file is read again in blocks of whole records, each knowing its line, so a rejected one
is named by its line and column, and the valid rows are scored with the very same expression
as on the fast path.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
import polars as pl

from calhousing.predict import records as _records
from calhousing.predict.header import Layout, delimiter_hint, not_utf8, open_input
from calhousing.predict.model import Model
from calhousing.predict.scoring import (
    NOT_A_NUMBER,
    NOT_FINITE,
    OK,
    OUT_OF_RANGE_COLUMN,
    OVERFLOW,
    PREDICTION_COLUMN,
    Counts,
    counts,
    output_columns,
    with_scores,
)
from calhousing.predict.writers import PARQUET_COMPRESSION, reject_schema, rejects_header

_INDEX = "__index"
_RAW = "__raw_"  # a feature's text, kept beside its parsed value for the rejects
_UNREADABLE = "cannot read this record as CSV fields (check its quotes)"


def score_careful(
    path: Path,
    layout: Layout,
    model: Model,
    output: Path,
    rejects: Path | None,
    parquet: bool,
    block_bytes: int | None = None,
) -> Counts:
    """Score the records after the header, block by block, naming each bad one by its line.

    The scored rows go to `output` (through a CSV stage when `parquet`), the rejected ones to
    `rejects`; `rejects` ``None`` stops at the first bad record with an InputError
    (``skippable`` set).
    """
    total = Counts()
    csv_out = output.with_suffix(".csv.part") if parquet else output
    try:
        with ExitStack() as stack:
            stream = stack.enter_context(open_input(path, layout.source))
            stream.seek(layout.data_offset)
            sink = stack.enter_context(open(csv_out, "wb"))
            listing = stack.enter_context(open(rejects, "wb")) if rejects else None
            pl.DataFrame(schema=_output_schema(layout)).write_csv(sink)
            if listing is not None:
                listing.write(rejects_header(layout.unit))
            first_line = layout.header_line + 1
            blocks = block_bytes or _records.BLOCK_BYTES
            for block in _records.iter_records(stream, layout.source, first_line, blocks):
                good, bad, found = _score_block(block, layout, model)
                if bad.height and listing is None:
                    raise layout.rejected(bad.row(0, named=True))
                if good.height:
                    good.write_csv(sink, include_header=False)
                if bad.height and listing is not None:
                    bad.write_csv(listing, include_header=False)
                total += found
        if parquet:
            frame = pl.scan_csv(csv_out, schema=_output_schema(layout), empty_string_is_null=False)
            frame.sink_parquet(output, **PARQUET_COMPRESSION)
    finally:
        if parquet:  # the scored rows' CSV stage; the output's own temporary file is the caller's
            csv_out.unlink(missing_ok=True)
    return total


def _score_block(
    block: _records.Records, layout: Layout, model: Model
) -> tuple[pl.DataFrame, pl.DataFrame, Counts]:
    """The scored rows of `block`, its rejects sorted by line, and its counts."""
    expected = len(layout.names)
    blank = block.starts == block.ends
    unclosed = np.zeros(len(block), dtype=bool)
    unclosed[-1:] = block.unclosed
    multi = (block.last_lines > block.first_lines) & ~unclosed
    wrong = (block.fields != expected) & ~blank & ~multi & ~unclosed
    structural = []  # line, column, reason, text of each reject
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
        structural.append((first, "", reason, text))
    indices = np.flatnonzero(~(blank | multi | wrong | unclosed))
    frame = _parse(block, indices, layout)
    if frame is None:  # polars split them differently: parse each record alone
        parsed = {}
        for index in indices:
            one = _parse(block, np.array([index]), layout)
            if one is None:
                structural.append(
                    (int(block.first_lines[index]), "", _UNREADABLE, block.text(index))
                )
            else:
                parsed[index] = one
        indices = np.array(list(parsed), dtype=np.int64)
        # one chunk: polars 2.1 panics formatting the reasons of a frame of many string chunks
        frame = pl.concat(
            [pl.DataFrame(schema=dict.fromkeys(layout.names, pl.String)), *parsed.values()],
            rechunk=True,
        )
    good, bad, stats = _score_parsed(block, layout, model, frame, indices)
    extra = pl.DataFrame(structural, schema=reject_schema(layout.unit), orient="row")
    bad = pl.concat([extra, bad]).sort(layout.unit)
    return good, bad, Counts(good.height, bad.height, stats["outside"], stats["clamped"])


def _parse(block: _records.Records, indices: np.ndarray, layout: Layout) -> pl.DataFrame | None:
    """The records at `indices` as text columns, or None if polars does not split them so."""
    data = _records.select_bytes(block, indices)
    schema = dict.fromkeys(layout.names, pl.String)
    if not data:
        return pl.DataFrame(schema=schema)
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            schema=schema,
            empty_string_is_null=False,
            encoding="utf8-lossy",
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        return None
    return frame if frame.height == len(indices) else None


def _score_parsed(
    block: _records.Records,
    layout: Layout,
    model: Model,
    frame: pl.DataFrame,
    indices: np.ndarray,
) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    """The scored rows, the rejects and the counts of the parsed records `frame`."""
    frame = frame.with_columns(pl.Series(_INDEX, indices))
    utf8 = {} if block.data.isascii() else _utf8_rejects(frame, block, layout)
    raw = {name: _RAW + name for name in layout.names if name in layout.features}
    typed = frame.lazy().with_columns(
        *(pl.col(name).alias(text) for name, text in raw.items()),
        *(pl.col(name).cast(pl.Float64, strict=False) for name in raw),
    )
    scored = with_scores(typed, model)
    if utf8:
        scored = scored.with_columns((pl.col(OK) & ~pl.col(_INDEX).is_in(list(utf8))).alias(OK))
    good_rows = scored.filter(pl.col(OK))
    # the reasons are worked out for the bad rows only, from their text
    column, reason = _verdicts(raw)
    good, found, bad = pl.collect_all(
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
    if utf8:  # the column of the bytes that are not UTF-8, and why
        bad = bad.with_columns(
            pl.col(_INDEX)
            .replace_strict(
                {index: why[place] for index, why in utf8.items()},
                default=pl.col(name),
                return_dtype=pl.String,
            )
            .alias(name)
            for place, name in enumerate(["column", "reason"])
        )
    rows = bad[_INDEX].to_numpy()
    text = pl.Series("text", _records.texts(block, rows), dtype=pl.String)
    bad = bad.select(pl.Series(layout.unit, block.first_lines[rows]), "column", "reason", text)
    return good, bad, found.row(0, named=True)


def _utf8_rejects(
    frame: pl.DataFrame, block: _records.Records, layout: Layout
) -> dict[int, tuple[str, str]]:
    """Records whose bytes are not UTF-8: the column where the bad bytes are, and why."""
    suspects = frame.filter(
        pl.any_horizontal(
            pl.col(name).str.contains("\ufffd", literal=True) for name in layout.names
        )
    )[_INDEX].to_list()
    found = {}
    for index in suspects:
        raw = block.raw(index)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            field = raw[: error.start].count(b",")
            column = layout.names[field] if field < len(layout.names) else ""
            found[index] = (column, not_utf8(raw, error))
    return found


def _output_schema(layout: Layout) -> dict[str, type[pl.DataType]]:
    """The columns of the scored rows, as this path writes them."""
    schema = dict.fromkeys(layout.passthrough, pl.String) | {PREDICTION_COLUMN: pl.Float64}
    return schema | ({OUT_OF_RANGE_COLUMN: pl.Boolean} if layout.flag else {})


def _verdicts(features: dict[str, str]) -> tuple[pl.Expr, pl.Expr]:
    """The first bad feature column (in the order given) of a text row, and why.

    `features` maps each feature's Float64 column (parsed with ``strict=False``, so null
    where the text is not a number) to the column holding its text. A value is bad if it is
    empty, not a number, NaN or inf. Both are null for a good row.
    """
    bad = {name: pl.col(name).is_null() | ~pl.col(name).is_finite() for name in features}
    column = pl.coalesce([pl.when(bad[name]).then(pl.lit(name)) for name in features])
    raw = pl.coalesce([pl.when(bad[name]).then(pl.col(text)) for name, text in features.items()])
    reason = (
        pl.when(raw.is_null())
        .then(None)
        .when(raw == "")
        .then(pl.lit("empty value" + NOT_A_NUMBER))
        .when(raw.cast(pl.Float64, strict=False).is_null())
        .then(pl.format("non-numeric value '{}'" + NOT_A_NUMBER, raw))
        .otherwise(pl.format("value '{}' " + NOT_FINITE, raw))
    )
    return column, reason
