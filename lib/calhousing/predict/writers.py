"""Where the output goes, checked before any row is read, and written all or nothing.

Every output is written under a temporary name and only renamed into place (or copied to
stdout or a device) once every row was read, so a refused input leaves a previous output as
it was and never a partial one.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from calhousing.errors import OutputError

STDIO = "-"
PARQUET_SUFFIXES: tuple[str, ...] = (".parquet", ".pq")
# zstd at its fastest level: the predictions are float64 that no level compresses, and
# on 10M rows level 1 wrote the same 85 MB as polars' default level, 4% sooner
PARQUET_COMPRESSION: dict[str, str | int] = {"compression": "zstd", "compression_level": 1}


@dataclass
class Staged:
    """An output being written at `temp`, which becomes `target` on :meth:`commit`.

    `target` ``None`` is stdout; an existing device or pipe (``/dev/null``, ``/dev/full``) is
    written in place at the end, since it cannot be renamed over.
    """

    target: Path | None
    temp: Path
    in_place: bool

    def commit(self) -> None:
        """Move the finished output into place; the temporary file is gone either way."""
        try:
            if self.target is None or self.in_place:
                stdout = nullcontext(sys.stdout.buffer) if self.target is None else None
                with open(self.temp, "rb") as finished, stdout or open(self.target, "wb") as sink:
                    shutil.copyfileobj(finished, sink)
                    sink.flush()
                self.discard()
            else:
                mask = os.umask(0)
                os.umask(mask)
                os.chmod(self.temp, 0o666 & ~mask)
                os.replace(self.temp, self.target)
        except BrokenPipeError:
            self.discard()
            raise
        except OSError as error:
            self.discard()
            raise OutputError(f"cannot write {describe(self.target)}: {error.strerror}") from None

    def discard(self) -> None:
        self.temp.unlink(missing_ok=True)


def is_parquet(path: str | os.PathLike[str] | None) -> bool:
    return path is not None and str(path).lower().endswith(PARQUET_SUFFIXES)


def sink(frame: pl.LazyFrame, path: Path, *, parquet: bool) -> pl.LazyFrame:
    """The lazy sink of `frame` to `path`, as Parquet or CSV, for :func:`polars.collect_all`."""
    if parquet:
        return frame.sink_parquet(path, lazy=True, **PARQUET_COMPRESSION)
    return frame.sink_csv(path, lazy=True, check_extension=False)


def reject_schema(unit: str) -> dict[str, type[pl.DataType]]:
    """The columns of ``OUTPUT.rejects.csv``: ``line`` (or ``row``), column, reason, text."""
    return {unit: pl.Int64, "column": pl.String, "reason": pl.String, "text": pl.String}


def rejects_header(unit: str) -> bytes:
    """The first line of ``OUTPUT.rejects.csv``."""
    return pl.DataFrame(schema=reject_schema(unit)).write_csv().encode("utf-8")


def check_target(target: Path | None, input_path: str | os.PathLike[str] | None) -> None:
    """Refuse (OutputError) an output that is a folder, is the input or a link to it, or has no
    folder."""
    if target is None:
        return
    shown = describe(target)
    if target.is_dir():
        example = describe(target / "scored.csv")
        raise OutputError(f"output {shown} is a folder; give a file name, such as {example}")
    if input_path is not None and str(input_path) != STDIO and _same_file(target, Path(input_path)):
        raise OutputError(
            f"output {shown} is the input file (or a link to it); writing it would destroy the "
            "input: choose another output name"
        )
    if not target.parent.is_dir():
        raise OutputError(f"output {shown}: folder {str(target.parent)!r} does not exist")


def stage(target: Path | None, suffix: str) -> Staged:
    """Create the temporary file for `target` now, so an unwritable folder fails before reading.

    Raises
    ------
    OutputError
        If the folder cannot be written (read-only, full, no permission).
    """
    in_place = target is not None and target.exists() and not target.is_file()
    folder = None if target is None or in_place else target.parent
    prefix = ".calhousing-" if target is None else f".{target.name}."
    try:
        descriptor, name = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=suffix + ".tmp")
        os.close(descriptor)
    except OSError as error:
        where = describe(target.parent) if folder is not None and target else "a temporary file"
        raise OutputError(f"cannot write in {where}: {error.strerror}") from None
    return Staged(target, Path(name), in_place)


def describe(path: Path | None) -> str:
    return "stdout" if path is None else repr(str(path))


def _same_file(a: Path, b: Path) -> bool:
    try:
        first, second = a.stat(), b.stat()
    except OSError:
        return False
    return stat.S_ISREG(first.st_mode) and os.path.samestat(first, second)
