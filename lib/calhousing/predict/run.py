"""``calhousing predict`` on one file: check the output, read, score, write all or nothing."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import polars as pl

from calhousing import config
from calhousing.errors import OutputError
from calhousing.predict import parquet_reader, writers
from calhousing.predict.header import (
    MAX_LINE_BYTES,
    Layout,
    header_too_long,
    open_input,
    read_csv_header,
)
from calhousing.predict.model import Model
from calhousing.predict.scoring import Counts, counts, output_columns, with_scores

_SPOOL_BYTES = 2**20


@dataclass(frozen=True)
class Summary:
    """What :func:`predict_file` did; `outside` and `clamped` count scored rows as the closing
    line does (a feature outside the training range; input codes the integer model saturated)."""

    rows_scored: int
    rows_rejected: int
    output: Path | None
    rejects: Path | None
    outside: int = 0
    clamped: int = 0


def rejects_path(output: Path) -> Path:
    """Where ``--skip-invalid`` lists the rejected rows: ``OUTPUT.rejects.csv``."""
    return output.with_name(output.name + ".rejects.csv")


def predict_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str] | None,
    model: Model,
    *,
    skip_invalid: bool = False,
    flag_out_of_range: bool = False,
    block_bytes: int | None = None,
) -> Summary:
    """Score `input_path` with `model` and write the result to `output_path`.

    Parameters
    ----------
    input_path : path-like
        A CSV file, a Parquet file (``.parquet``, ``.pq``), or ``"-"`` for CSV on stdin.
    output_path : path-like or None
        CSV, or Parquet by its suffix; ``None`` or ``"-"`` writes CSV to stdout.
    skip_invalid : bool, default=False
        Score the good rows and list each rejected row, with its reason, in
        ``<output_path>.rejects.csv``, instead of stopping at the first bad row.
    flag_out_of_range : bool, default=False
        Add a boolean ``out_of_range`` column: a feature is outside the training range.
    block_bytes : int, optional
        Force the careful CSV path with blocks of this many bytes (for tests).

    Raises
    ------
    InputError
        For bad input; the message names the line (or row) and the column.
    OutputError
        If the output is a folder, the input itself (or a link to it), or cannot be written.
        Nothing is written in either case: outputs appear only when every row was read.
    ValueError
        If `skip_invalid` is set with no output file, or the output name is empty.
    """
    source = "<stdin>" if str(input_path) == writers.STDIO else str(input_path)
    if output_path is not None and str(output_path) == "":
        raise ValueError("the output name is empty: give -o a file name, or - for stdout")
    target = None if output_path is None or str(output_path) == writers.STDIO else Path(output_path)
    if skip_invalid and target is None:
        raise ValueError(
            "skip_invalid writes the rejected rows to OUTPUT.rejects.csv, so it needs an output "
            "file (-o OUTPUT), not stdout"
        )
    writers.check_target(target, input_path)
    listed = rejects_path(target) if skip_invalid and target is not None else None
    writers.check_target(listed, input_path)
    if target is None and sys.stdout is None:
        raise OutputError("standard output is closed: give -o OUTPUT")
    parquet = writers.is_parquet(target)
    with ExitStack() as stack:
        output = writers.stage(target, ".parquet" if parquet else ".csv")
        stack.callback(output.discard)
        rejects = writers.stage(listed, ".csv") if listed is not None else None
        if rejects is not None:
            stack.callback(rejects.discard)
        if source == "<stdin>":
            input_path = _spool(sys.stdin.buffer, source, stack)
        elif _is_pipe(input_path):  # as `<(command)` gives: it can be read only once
            with open_input(Path(input_path), source) as stream:
                input_path = _spool(stream, source, stack, suffix=Path(input_path).suffix)
        path, flag = Path(input_path), flag_out_of_range
        listing = rejects.temp if rejects else None
        try:
            if writers.is_parquet(path):
                found = parquet_reader.score_parquet(
                    path, source, model, output.temp, listing, parquet, flag
                )
            else:
                with open_input(path, source) as stream:
                    layout = read_csv_header(stream, source, model.feature_names, flag=flag)
                fast = block_bytes is None
                found = _score_fast(path, layout, model, output.temp, parquet) if fast else None
                if found is None:
                    # numpy and the record splitter are imported only when needed
                    from calhousing.predict import careful

                    found = careful.score_careful(
                        path, layout, model, output.temp, listing, parquet, block_bytes
                    )
                elif listing is not None:
                    listing.write_bytes(writers.rejects_header(layout.unit))
        except OutputError:
            raise
        except OSError as error:
            raise OutputError(
                f"cannot write {writers.describe(target)}: {error.strerror or error}"
            ) from None
        if rejects is not None:
            rejects.commit()
        output.commit()
    return Summary(found.scored, found.rejected, target, listed, found.outside, found.clamped)


def _score_fast(
    path: Path, layout: Layout, model: Model, output: Path, parquet: bool
) -> Counts | None:
    """The fast path every clean CSV file takes: polars reads, scores and writes it whole.

    ``None`` if a row could not be read or scored, or holds a line break: `output` is then
    incomplete and the careful path must run.
    """
    os.environ.setdefault(
        "POLARS_CSV_CHUNK_SIZE", str(config.csv_chunk_bytes(pl.thread_pool_size()))
    )
    schema = {name: pl.Float64 if name in layout.features else pl.String for name in layout.names}
    frame = pl.scan_csv(
        path,
        has_header=False,
        skip_lines=layout.header_line,
        schema=schema,
        empty_string_is_null=False,
        raise_if_empty=False,
    )
    scored = with_scores(frame, model)
    breaks = [pl.col(name).str.contains_any(["\n", "\r"]) for name in layout.passthrough]
    stats = scored.select(
        *counts(model), pl.any_horizontal(breaks).sum().alias("breaks") if breaks else pl.lit(0)
    )
    sink = writers.sink(
        scored.select(output_columns(layout.passthrough, layout.flag)), output, parquet=parquet
    )
    try:
        _, found = pl.collect_all([sink, stats], engine="streaming")
    except (pl.exceptions.PolarsError, OSError):
        return None
    row = found.row(0, named=True)
    if row["bad"] or row.get("breaks"):
        return None
    return Counts(scored=row["rows"], outside=row["outside"], clamped=row["clamped"])


def _spool(stream: IO[bytes], source: str, stack: ExitStack, suffix: str = "") -> Path:
    """`stream` copied to a temporary file, so both paths can read it as a file; InputError if
    the first ``MAX_LINE_BYTES`` hold no line end (``/dev/zero``, say), so no header."""
    handle = stack.enter_context(
        tempfile.NamedTemporaryFile(prefix="calhousing-input-", suffix=suffix)
    )
    line_end_seen = False
    while chunk := stream.read(_SPOOL_BYTES):
        handle.write(chunk)
        line_end_seen = line_end_seen or b"\n" in chunk
        if not line_end_seen and handle.tell() > MAX_LINE_BYTES:
            raise header_too_long(source, 1)
    handle.flush()
    return Path(handle.name)


def _is_pipe(path: str | os.PathLike[str]) -> bool:
    """True for a named or anonymous pipe; a missing file is reported where it is read."""
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False
