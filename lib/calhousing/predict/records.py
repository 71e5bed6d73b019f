"""Splitting CSV bytes into records, quote-aware, with the line numbers each one covers.

For the careful path: a bad record is named by its line, and a quoted value that runs over a
line end is one record, rejected whole, rather than a broken line and a spurious row. The
scan is vectorized with numpy: a ``"`` opens or closes a quoted value, and a line end or comma
counts only outside one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np

from calhousing.errors import InputError
from calhousing.predict.header import MAX_LINE_BYTES

BLOCK_BYTES = 4 * 2**20  # bytes scanned at once: bounds the careful path's memory
_NEWLINE, _CR, _QUOTE, _COMMA = 10, 13, 34, 44


@dataclass(frozen=True)
class Records:
    """Whole CSV records: record i is ``data[starts[i]:ends[i]]``, without its line end.

    It starts and ends on lines `first_lines[i]` and `last_lines[i]` (1-based; they differ
    when a quoted value holds a line end) and has `fields[i]` fields (commas outside quotes,
    plus one). `unclosed`: the last record opens a quote that the file never closes.
    """

    data: bytes
    starts: np.ndarray
    ends: np.ndarray
    first_lines: np.ndarray
    last_lines: np.ndarray
    fields: np.ndarray
    unclosed: bool = False

    def __len__(self) -> int:
        return len(self.starts)

    def raw(self, index: int) -> bytes:
        return self.data[self.starts[index] : self.ends[index]]

    def text(self, index: int) -> str:
        """Record `index` as text (bytes that are not UTF-8 shown as ``\\xff``)."""
        return self.raw(index).decode("utf-8", "backslashreplace")


def iter_records(
    stream: IO[bytes], source: str, first_line: int, block_bytes: int = BLOCK_BYTES
) -> Iterator[Records]:
    """Read `stream` to its end as blocks of whole records.

    Raises
    ------
    InputError
        If a record (a line, or lines joined by a quoted value) is longer than
        ``MAX_LINE_BYTES``.
    """
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
                "line, or a quoted value that is never closed); a CSV file holds one row per line",
                at,
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
    newlines = np.flatnonzero(arr == _NEWLINE)
    quotes = arr == _QUOTE
    parity = np.cumsum(quotes, dtype=np.int32) & 1 if quotes.any() else None
    ends = newlines[parity[newlines] == 0] if parity is not None else newlines
    used = int(ends[-1]) + 1 if len(ends) else 0
    unclosed = False
    if final and used < len(data):
        ends = np.append(ends, len(data))
        unclosed = parity is not None and bool(parity[-1])
        used = len(data)
    starts = np.empty(len(ends), dtype=np.int64)
    starts[:1] = 0
    starts[1:] = ends[:-1] + 1
    # a byte's line is first_line plus the line ends before it
    first_lines = first_line + np.searchsorted(newlines, starts, side="left")
    last_lines = first_line + np.searchsorted(newlines, ends, side="left")
    content_ends = ends.copy()
    has_cr = (content_ends > starts) & (arr[np.maximum(content_ends - 1, 0)] == _CR)
    content_ends[has_cr] -= 1
    commas = np.flatnonzero(arr == _COMMA)  # sparse: counting by position beats a cumsum
    if parity is not None:
        commas = commas[parity[commas] == 0]
    fields = np.searchsorted(commas, content_ends) - np.searchsorted(commas, starts) + 1
    lines = first_lines.astype(np.int64), last_lines.astype(np.int64)
    return Records(data[:used], starts, content_ends, *lines, fields.astype(np.int64), unclosed)


def select_bytes(records: Records, indices: np.ndarray) -> bytes:
    """The records at `indices` (ascending, no repeats), each ended by ``\\n``, as one buffer."""
    data = records.data
    if len(indices) == len(records) and b"\r" not in data:
        return data if data.endswith(b"\n") else data + b"\n"
    starts, ends = records.starts[indices].tolist(), records.ends[indices].tolist()
    if not starts:
        return b""
    return b"\n".join([data[start:end] for start, end in zip(starts, ends, strict=True)]) + b"\n"


def texts(records: Records, indices: np.ndarray) -> list[str]:
    """The text of the records at `indices` (bytes that are not UTF-8 shown as ``\\xff``)."""
    data = records.data
    starts, ends = records.starts[indices].tolist(), records.ends[indices].tolist()
    if data.isascii():  # one decode, then byte offsets are character offsets
        text = data.decode("ascii")
        return [text[start:end] for start, end in zip(starts, ends, strict=True)]
    return [
        data[start:end].decode("utf-8", "backslashreplace")
        for start, end in zip(starts, ends, strict=True)
    ]
