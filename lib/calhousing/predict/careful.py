"""Scoring a CSV file record by record, when polars' fast path found a problem.

The file is read again in blocks of whole records (:mod:`calhousing.predict.records`
knows each record's line), so a rejected record is named by its line and
column, and with ``skip_invalid`` the valid rows are scored with the very same
expression as on the fast path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

import numpy as np
import polars as pl

from calhousing.errors import InputError
from calhousing.predict import records as _records
from calhousing.predict import rejects as _rejects
from calhousing.predict.csv_reader import header_line, rejects_header
from calhousing.predict.header import Layout, delimiter_hint, not_utf8
from calhousing.predict.model import Model
from calhousing.predict.scoring import (
    OK,
    OUT_OF_RANGE_COLUMN,
    PREDICTION_COLUMN,
    Counts,
    counts,
    output_columns,
    with_scores,
)

_LINE = "__line"
_REPLACEMENT = "\ufffd"
_RAW = "__raw_"  # a feature's text, kept beside its parsed value for the rejects
_Structural = list[tuple[int, str, str, str]]  # line, column, reason, text of rejects


def score_careful(
    stream: IO[bytes],
    layout: Layout,
    model: Model,
    output: IO[bytes],
    rejects: IO[bytes] | None,
    *,
    flag: bool,
    block_bytes: int = _records.BLOCK_BYTES,
) -> Counts:
    """Score the records after the header, block by block, naming each bad one by its line.

    Parameters
    ----------
    stream : binary file
        Positioned just past the header line.
    output, rejects : binary file
        Where the scored rows and (with ``--skip-invalid``) the rejected ones go;
        `rejects` ``None`` stops at the first bad record.

    Raises
    ------
    InputError
        At the first bad record when `rejects` is None (``skippable`` set).
    """
    total = Counts()
    output.write(header_line(_empty_output(layout, flag).columns))
    if rejects is not None:
        rejects.write(rejects_header(layout.unit))
    for block in _records.iter_records(stream, layout.source, layout.header_line + 1, block_bytes):
        good, bad, found = _score_block(block, layout, model, flag=flag)
        if bad.height and rejects is None:
            first = bad.row(0, named=True)
            raise InputError(
                f"{layout.where(first[layout.unit], first['column'])}: {first['reason']}",
                first[layout.unit],
                first["column"],
                skippable=True,
            )
        if good.height:
            good.write_csv(output, include_header=False)
        if bad.height and rejects is not None:
            bad.write_csv(rejects, include_header=False)
        total = total + Counts(good.height, bad.height, found.outside, found.clamped)
    return total


def _score_block(
    block: _records.Records, layout: Layout, model: Model, *, flag: bool
) -> tuple[pl.DataFrame, pl.DataFrame, Counts]:
    """The scored rows of `block`, its rejects sorted by line, and the range counts."""
    expected = len(layout.names)
    blank = block.starts == block.ends
    unclosed = np.zeros(len(block), dtype=bool)
    unclosed[-1:] = block.unclosed
    multi = (block.last_lines > block.first_lines) & ~unclosed
    wrong = (block.fields != expected) & ~blank & ~multi & ~unclosed
    structural: list[tuple[int, str, str, str]] = []
    for index in np.flatnonzero(multi | wrong | unclosed):
        first, text = int(block.first_lines[index]), block.text(index)
        if unclosed[index]:
            reason = _rejects.never_closed(first)
        elif multi[index]:
            reason = _rejects.spans_lines(first, int(block.last_lines[index]))
        else:
            reason = _rejects.wrong_field_count(expected, int(block.fields[index])) + _hint(text)
        structural.append((first, "", reason, text))
    wrong |= unclosed
    keep = ~(blank | multi | wrong)
    indices = np.flatnonzero(keep)
    frame = _parse(block, indices, layout)
    work = _Work(block, layout, model, flag)
    if frame is None:  # polars split them differently: parse each record alone
        return _score_one_by_one(work, indices, structural)
    return _score_parsed(work, frame, indices, structural)


def _parse(block: _records.Records, indices: np.ndarray, layout: Layout) -> pl.DataFrame | None:
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


@dataclass(frozen=True)
class _Work:
    """A block of records and what scoring it needs."""

    block: _records.Records
    layout: Layout
    model: Model
    flag: bool


def _score_parsed(
    work: _Work,
    frame: pl.DataFrame,
    indices: np.ndarray,
    structural: list[tuple[int, str, str, str]],
) -> tuple[pl.DataFrame, pl.DataFrame, Counts]:
    block, layout, model, flag = work.block, work.layout, work.model, work.flag
    unit = layout.unit
    frame = frame.with_columns(
        pl.Series(_LINE, block.first_lines[indices]), pl.Series("__index", indices)
    )
    utf8 = {} if block.data.isascii() else _utf8_rejects(frame, block, layout)
    file_order = [name for name in layout.names if name in layout.features]
    raw = {name: _RAW + name for name in file_order}
    typed = frame.lazy().with_columns(
        *(pl.col(name).alias(text) for name, text in raw.items()),
        *(pl.col(name).cast(pl.Float64, strict=False) for name in file_order),
    )
    scored = with_scores(typed, model)
    if utf8:
        scored = scored.with_columns((pl.col(OK) & ~pl.col("__index").is_in(list(utf8))).alias(OK))
    good_rows = scored.filter(pl.col(OK))
    # the reasons are worked out for the bad rows only, from their text
    column, reason = _rejects.text_feature_verdicts(raw)
    good, found, bad_rows = pl.collect_all(
        [
            good_rows.select(output_columns(layout.passthrough, flag)),
            good_rows.select(counts(model)),
            scored.filter(~pl.col(OK)).select(
                pl.col(_LINE).alias(unit),
                pl.col("__index"),
                column.fill_null("").alias("__column"),
                reason.fill_null(_rejects.OVERFLOW).alias("__reason"),
            ),
        ]
    )
    if utf8:
        index = pl.col("__index")
        columns = {key: column for key, (column, _) in utf8.items()}
        reasons = {key: reason for key, (_, reason) in utf8.items()}
        bad_rows = bad_rows.with_columns(
            index.replace_strict(columns, default=pl.col("__column"), return_dtype=pl.String).alias(
                "__column"
            ),
            index.replace_strict(reasons, default=pl.col("__reason"), return_dtype=pl.String).alias(
                "__reason"
            ),
        )
    text = _records.texts(block, bad_rows["__index"].to_numpy())
    found_bad = bad_rows.select(
        pl.col(unit),
        pl.col("__column").alias("column"),
        pl.col("__reason").alias("reason"),
        pl.Series("text", text, dtype=pl.String),
    )
    extra = pl.DataFrame(structural, schema=_rejects.reject_schema(unit), orient="row")
    bad = pl.concat([extra, found_bad]).sort(unit, maintain_order=True)
    outside, clamped = found.row(0, named=True)["outside"], found.row(0, named=True)["clamped"]
    return good, bad, Counts(outside=outside, clamped=clamped)


def _utf8_rejects(
    frame: pl.DataFrame, block: _records.Records, layout: Layout
) -> dict[int, tuple[str, str]]:
    """Records whose bytes are not UTF-8: the column where the bad bytes are, and why."""
    suspects = frame.filter(
        pl.any_horizontal(
            pl.col(name).str.contains(_REPLACEMENT, literal=True) for name in layout.names
        )
    )["__index"].to_list()
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


def _score_one_by_one(
    work: _Work, indices: np.ndarray, structural: _Structural
) -> tuple[pl.DataFrame, pl.DataFrame, Counts]:
    block, layout = work.block, work.layout
    goods, bads, total = [], [], Counts()
    for index in indices:
        one = np.array([index])
        frame = _parse(block, one, layout)
        if frame is None:
            line = int(block.first_lines[index])
            reason = "cannot read this record as CSV fields (check its quotes)"
            structural.append((line, "", reason, block.text(index)))
            continue
        good, bad, found = _score_parsed(work, frame, one, [])
        goods.append(good)
        bads.append(bad)
        total = total + found
    extra = pl.DataFrame(structural, schema=_rejects.reject_schema(layout.unit), orient="row")
    bad = pl.concat([extra, *bads]).sort(layout.unit)
    good = pl.concat(goods) if goods else _empty_output(layout, work.flag)
    return good, bad, total


def _empty_output(layout: Layout, flag: bool) -> pl.DataFrame:
    schema = dict.fromkeys(layout.passthrough, pl.String) | {PREDICTION_COLUMN: pl.Float64}
    if flag:
        schema[OUT_OF_RANGE_COLUMN] = pl.Boolean
    return pl.DataFrame(schema=schema)


def _hint(text: str) -> str:
    return delimiter_hint([text]) if "," not in text else ""
