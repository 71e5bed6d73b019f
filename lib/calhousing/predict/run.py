"""``calhousing predict`` on one file, all or nothing: every output is written under a temporary
name and renamed into place (or copied to stdout or a device) only once every row was read."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import polars as pl

from calhousing import config
from calhousing.errors import InputError, OutputError
from calhousing.predict.header import (
    MAX_LINE_BYTES,
    Layout,
    header_too_long,
    open_input,
    parquet_layout,
    read_csv_header,
)
from calhousing.predict.scoring import (
    NOT_A_NUMBER,
    NOT_FINITE,
    OK,
    OVERFLOW,
    RAW,
    Model,
    counts,
    output_columns,
    reject_schema,
    sink,
    with_scores,
)
from calhousing.run import signals

STDIO = "-"
MAX_EXACT_INTEGER = 2**53  # float64 holds every integer up to here, and not all beyond


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


def predict_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str] | None,
    model: Model,
    *,
    skip_invalid: bool = False,
    flag_out_of_range: bool = False,
    block_bytes: int | None = None,
) -> Summary:
    """Score `input_path` (CSV, Parquet by its suffix, ``"-"``: CSV on stdin) into `output_path`
    (CSV, Parquet by its suffix, ``None`` or ``"-"``: CSV on stdout), all or nothing.

    `skip_invalid` lists the bad rows in ``OUTPUT.rejects.csv`` instead of stopping at the first
    (InputError naming its line or row and column); `flag_out_of_range` adds the
    ``out_of_range`` column; `block_bytes` forces the careful CSV path with blocks of that size
    (for tests). OutputError if the output is a folder, the input itself (or a link to it), or
    cannot be written.
    """
    source = "<stdin>" if str(input_path) == STDIO else str(input_path)
    if output_path is not None and str(output_path) == "":
        raise ValueError("the output name is empty: give -o a file name, or - for stdout")
    target = None if output_path is None or str(output_path) == STDIO else Path(output_path)
    if skip_invalid and target is None:
        raise ValueError(
            "skip_invalid writes the rejected rows to OUTPUT.rejects.csv, so it needs an output "
            "file (-o OUTPUT), not stdout"
        )
    listed = target.with_name(target.name + ".rejects.csv") if skip_invalid and target else None
    for path in (target, listed):
        if path is not None:
            _check_target(path, input_path)
    if target is None and sys.stdout is None:
        raise OutputError("standard output is closed: give -o OUTPUT")
    parquet, flag = is_parquet(target), flag_out_of_range
    with ExitStack() as stack:
        output = stack.enter_context(_staged(target, ".parquet" if parquet else ".csv"))
        rejects = stack.enter_context(_staged(listed, ".csv")) if listed is not None else None
        if source == "<stdin>" or _is_pipe(input_path):  # `<(command)` can be read only once
            stdin = source == "<stdin>"
            piped = nullcontext(sys.stdin.buffer) if stdin else open_input(Path(source), source)
            input_path = _spool(stack.enter_context(piped), source, stack, Path(source).suffix)
        path = Path(input_path)
        try:
            if is_parquet(path):
                found = _score_parquet(path, source, model, output, rejects, parquet, flag)
            else:
                with open_input(path, source) as stream:
                    layout = read_csv_header(stream, source, model.feature_names, flag=flag)
                if rejects is not None:  # the careful path appends the rejects, if any
                    pl.DataFrame(schema=reject_schema(layout.unit)).write_csv(rejects)
                fast = block_bytes is None
                found = _score_fast(path, layout, model, output, parquet) if fast else None
                if found is None:
                    from calhousing.predict import careful  # and numpy: only when needed

                    found = careful.score_careful(
                        path, layout, model, output, rejects, parquet, block_bytes
                    )
        except OutputError:
            raise
        except OSError as error:
            raise OutputError(
                f"cannot write {_describe(target)}: {error.strerror or error}"
            ) from None
    return Summary(found[0], found[1], target, listed, found[2], found[3])


def _score_fast(
    path: Path, layout: Layout, model: Model, output: Path, parquet: bool
) -> tuple[int, int, int, int] | None:
    """Every clean CSV file's path: polars reads, scores and writes it whole. ``None`` if a row
    could not be read or scored, or holds a line break: the careful path must then run."""
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
    written = sink(
        scored.select(output_columns(layout.passthrough, layout.flag)), output, parquet=parquet
    )
    try:
        _, found = pl.collect_all([written, stats], engine="streaming")
    except (pl.exceptions.PolarsError, OSError):
        return None
    row = found.row(0, named=True)
    if row["bad"] or row.get("breaks"):
        return None
    return row["rows"], 0, row["outside"], row["clamped"]


def _score_parquet(
    path: Path,
    source: str,
    model: Model,
    output: Path,
    rejects: Path | None,
    parquet_output: bool,
    flag: bool,
) -> tuple[int, int, int, int]:
    """Score a Parquet file with polars' streaming engine; bad rows stop it or go to `rejects`."""
    try:
        frame = pl.scan_parquet(path)
        schema = frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        first = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise InputError(f"{source} is not a readable Parquet file: {first}") from None
    csv_output = not parquet_output
    layout = parquet_layout(schema, source, model.feature_names, csv_output=csv_output, flag=flag)
    scored = _typed_scores(frame, schema, model, numbered=rejects is not None)
    good = scored.filter(pl.col(OK)) if rejects is not None else scored
    sinks = [
        sink(good.select(output_columns(layout.passthrough, flag)), output, parquet=parquet_output),
        scored.select(counts(model)),
    ]
    if rejects is not None:
        sinks.append(sink(_parquet_rejects(scored, schema, layout), rejects, parquet=False))
    try:
        found = pl.collect_all(sinks, engine="streaming")[1].row(0, named=True)
    except (pl.exceptions.PolarsError, OSError) as error:
        first = (str(error).strip() or type(error).__name__).splitlines()[0]
        raise InputError(f"{source}: cannot read its Parquet data: {first}") from None
    if found["bad"] and rejects is None:  # only now: number the rows and work out why
        numbered = _typed_scores(frame, schema, model, numbered=True)
        reject = _parquet_rejects(numbered, schema, layout).head(1).collect()
        raise layout.rejected(reject.row(0, named=True))
    return found["rows"] - found["bad"], found["bad"], found["outside"], found["clamped"]


def _typed_scores(
    frame: pl.LazyFrame, schema: pl.Schema, model: Model, *, numbered: bool
) -> pl.LazyFrame:
    """`frame` scored from its features as Float64, where an integer beyond 2^53 (which float64
    would round) is null; `numbered` (for the rejects) keeps each row's number and features as
    stored."""
    if numbered:
        frame = frame.with_row_index("__row", offset=1)
        frame = frame.with_columns(pl.col(name).alias(RAW + name) for name in model.feature_names)
    typed = [
        pl.when(pl.col(name).is_between(-MAX_EXACT_INTEGER, MAX_EXACT_INTEGER)).then(pl.col(name))
        if schema[name].is_integer()
        else pl.col(name)
        for name in model.feature_names
    ]
    return with_scores(frame.with_columns(column.cast(pl.Float64) for column in typed), model)


def _parquet_rejects(scored: pl.LazyFrame, schema: pl.Schema, layout: Layout) -> pl.LazyFrame:
    """The rows of `scored` (numbered) that cannot be scored: row, first bad feature in file
    order, why, and the row as JSON."""
    columns, reasons = [], []
    for name in (name for name in layout.names if name in layout.features):
        raw = pl.col(RAW + name)
        if schema[name].is_integer():
            bad = raw.is_null() | ~raw.is_between(-MAX_EXACT_INTEGER, MAX_EXACT_INTEGER)
            why = pl.format(
                "integer {} is beyond 2^53, which float64 cannot hold exactly; store it as a float",
                raw,
            )
        else:
            bad = raw.is_null() | ~raw.cast(pl.Float64).is_finite()
            why = pl.format("value {} " + NOT_FINITE, raw.cast(pl.Float64))
        columns.append(pl.when(bad).then(pl.lit(name)))
        missing = pl.lit("missing value (null)" + NOT_A_NUMBER)
        reasons.append(pl.when(raw.is_null()).then(missing).when(bad).then(why))
    original = [
        pl.col(RAW + name).alias(name) if name in layout.features else pl.col(name)
        for name in layout.names
    ]
    return scored.filter(~pl.col(OK)).select(
        pl.col("__row").cast(pl.Int64).alias("row"),
        pl.coalesce(columns).fill_null("").alias("column"),
        pl.coalesce(reasons).fill_null(OVERFLOW).alias("reason"),
        pl.struct(original).struct.json_encode().alias("text"),
    )


def is_parquet(path: str | os.PathLike[str] | None) -> bool:
    return path is not None and str(path).lower().endswith((".parquet", ".pq"))


def _check_target(target: Path, input_path: str | os.PathLike[str]) -> None:
    """Refuse (OutputError) an output that is a folder, the input (or a link to it), or in no
    folder."""
    shown = _describe(target)
    if target.is_dir():
        example = _describe(target / "scored.csv")
        raise OutputError(f"output {shown} is a folder; give a file name, such as {example}")
    try:  # only a regular file would be destroyed by writing it
        same = target.is_file() and os.path.samefile(target, input_path)
    except OSError:  # one of them does not exist
        same = False
    if same and str(input_path) != STDIO:
        raise OutputError(
            f"output {shown} is the input file (or a link to it); writing it would destroy the "
            "input: choose another output name"
        )
    if not target.parent.is_dir():
        raise OutputError(f"output {shown}: folder {str(target.parent)!r} does not exist")


@contextmanager
def _staged(target: Path | None, suffix: str) -> Iterator[Path]:
    """A temporary file, created now so that an unwritable folder fails before reading, that
    becomes `target` (``None``: stdout; a device, such as ``/dev/full``, is written in place) if
    the block ends without error, and is gone after it."""
    in_place = target is not None and target.exists() and not target.is_file()
    folder = None if target is None or in_place else target.parent
    temp: Path | None = None
    try:
        with signals.deferred():  # a signal waits until the file is named, for finally to remove
            name = f".{target.name if folder else 'calhousing'}.{os.urandom(8).hex()}{suffix}.tmp"
            path = Path(folder or tempfile.gettempdir(), name)
            try:  # stdout's copy is private; an output gets the permissions a new file gets
                path.touch(0o666 if folder else 0o600, exist_ok=False)
            except OSError as error:
                where = _describe(folder) if folder else "a temporary file"
                raise OutputError(f"cannot write in {where}: {error.strerror}") from None
            temp = path
        yield temp
        try:
            if folder is None:
                stdout = nullcontext(sys.stdout.buffer) if target is None else None
                with open(temp, "rb") as finished, stdout or open(target, "wb") as out:
                    shutil.copyfileobj(finished, out)
                    out.flush()
            else:
                os.replace(temp, target)
        except BrokenPipeError:
            raise
        except OSError as error:
            raise OutputError(f"cannot write {_describe(target)}: {error.strerror}") from None
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)


def _describe(path: Path | None) -> str:
    return "stdout" if path is None else repr(str(path))


def _spool(stream: IO[bytes], source: str, stack: ExitStack, suffix: str) -> Path:
    """`stream` copied to a temporary file, so both paths can read it as a file; InputError if
    its first line is longer than ``MAX_LINE_BYTES`` (``/dev/zero``, say), before copying more."""
    handle = stack.enter_context(
        tempfile.NamedTemporaryFile(prefix="calhousing-input-", suffix=suffix)
    )
    first = stream.readline(MAX_LINE_BYTES + 1)
    if len(first) > MAX_LINE_BYTES and not first.endswith(b"\n"):
        raise header_too_long(source, 1)
    handle.write(first)
    shutil.copyfileobj(stream, handle)
    handle.flush()
    return Path(handle.name)


def _is_pipe(path: str | os.PathLike[str]) -> bool:
    try:  # a missing file is reported where it is read
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False
