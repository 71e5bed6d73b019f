"""Reading scikit-learn's data cache without running the code a pickle may carry.

The cache (``joblib.dump(array, path, compress=6)``) is a zlib stream of a pickled joblib
``NumpyArrayWrapper`` followed by the array's bytes. It is read the way skops reads models:
only the wrapper, ``numpy.ndarray`` and ``numpy.dtype`` are admitted; only ``numpy.dtype`` is
called and only the wrapper created; state is set only on these two; and the wrapper is checked
before any array byte is read.
"""

from __future__ import annotations

import io
import math
import pickle
import zlib
from typing import Any, Final

import numpy as np

from calhousing.errors import CacheFormatError

MAX_DECOMPRESSED_BYTES: Final = 16 * 2**20  # a cached data set of ours is ~1.5 MB

_HEADER_KEYS: Final = frozenset({"subclass", "shape", "order", "dtype"})
_OPTIONAL_HEADER_KEYS: Final = frozenset({"allow_mmap", "numpy_array_alignment_bytes"})


class _ArrayHeader:
    """Stands in for joblib's ``NumpyArrayWrapper`` while the pickle is read."""


_ADMITTED_GLOBALS: Final[dict[tuple[str, str], type]] = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): _ArrayHeader,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


def load_joblib_arrays(raw: bytes) -> Any:
    """Native-endian, writable arrays of numbers (possibly in tuples, lists or dicts) from what
    ``joblib.dump`` wrote; else ``CacheFormatError``, with nothing the pickle names called."""
    stream = io.BytesIO(_decompress(raw))
    try:
        loaded = _ArrayUnpickler(stream).load()
    except CacheFormatError:
        raise
    except EOFError:
        raise CacheFormatError("its pickle ends early") from None
    except Exception as error:  # any failure to parse untrusted bytes means "not a cache"
        text = " ".join(f"{type(error).__name__}: {error}".split())  # one line, at most 200
        brief = text if len(text) <= 200 else text[:197] + "..."
        raise CacheFormatError(f"its pickle cannot be read ({brief})") from None
    if stream.read(1):
        raise CacheFormatError("it has bytes after the end of its pickle")
    return loaded


def _decompress(raw: bytes) -> bytes:
    if not raw:
        raise CacheFormatError("it is empty")
    if raw[:1] != b"\x78" and raw[:2] != b"\x1f\x8b":
        raise CacheFormatError("it is not zlib-compressed, as scikit-learn writes its cache")
    decompressor = zlib.decompressobj(zlib.MAX_WBITS | 32)  # a zlib or a gzip header
    try:
        data = decompressor.decompress(raw, MAX_DECOMPRESSED_BYTES)
    except zlib.error as error:
        raise CacheFormatError(f"its compressed data are damaged (zlib: {error})") from None
    if decompressor.unconsumed_tail:
        raise CacheFormatError(
            f"it decompresses to more than {MAX_DECOMPRESSED_BYTES:,} bytes, "
            "far more than a cached data set of ours"
        )
    if not decompressor.eof:
        raise CacheFormatError("it is truncated: its compressed data end early")
    if decompressor.unused_data:
        raise CacheFormatError("it has bytes after the end of its compressed data")
    return data


class _OpcodeTable(dict[int, Any]):
    def __missing__(self, opcode: int) -> Any:
        raise CacheFormatError(
            f"it is not a pickle, or a damaged one (unknown opcode {opcode:#04x})"
        )


class _ArrayUnpickler(pickle._Unpickler):
    """The pure-Python unpickler (as joblib uses), restricted to array globals: only its
    dispatch table lets BUILD read the array bytes that follow the wrapper in the stream."""

    dispatch = _OpcodeTable(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        admitted = _ADMITTED_GLOBALS.get((module, name))
        if admitted is None:
            raise CacheFormatError(
                f"its pickle asks for the Python global {module}.{name}, and a data cache "
                "holds only numpy arrays: refused without running it"
            )
        return admitted

    def load_build(self) -> None:
        target = self.stack[-2]
        if isinstance(target, np.dtype):
            super().load_build()
        elif isinstance(target, _ArrayHeader):
            state = self.stack.pop()
            self.stack[-1] = _read_array(self._file_read, _checked_header(state))
        else:
            raise CacheFormatError(
                f"its pickle sets the state of a {type(target).__name__}, "
                "which a data cache does not hold"
            )

    def load_reduce(self) -> None:
        if self.stack[-2] is not np.dtype:
            raise CacheFormatError(_call_refused(self.stack[-2]))
        super().load_reduce()

    def load_newobj(self) -> None:
        cls, args = self.stack[-2], self.stack[-1]
        if cls is not _ArrayHeader or type(args) is not tuple or args:
            raise CacheFormatError(_call_refused(cls))
        super().load_newobj()

    def load_refused(self) -> None:
        raise CacheFormatError("its pickle creates objects in a way joblib never uses for arrays")

    dispatch[pickle.BUILD[0]] = load_build
    dispatch[pickle.REDUCE[0]] = load_reduce
    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch.update(dict.fromkeys(pickle.NEWOBJ_EX + pickle.OBJ + pickle.INST, load_refused))


def _call_refused(target: object) -> str:
    name = target.__name__ if isinstance(target, type) else type(target).__name__
    return f"its pickle calls {name} in a way joblib never uses for arrays"


def _checked_header(state: object) -> dict[str, Any]:
    """The wrapper's attributes, once each is one an array of numbers can have."""
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise CacheFormatError("its array header is not a dict of attributes")
    if not _HEADER_KEYS <= state.keys() <= _HEADER_KEYS | _OPTIONAL_HEADER_KEYS:
        raise CacheFormatError(f"its array header has the attributes {sorted(state)}")
    shape, dtype = state["shape"], state["dtype"]
    alignment = state.get("numpy_array_alignment_bytes")
    dims = shape if isinstance(shape, tuple) and len(shape) <= 32 else (-1,)  # else refused
    problem = None
    if state["subclass"] is not np.ndarray:
        problem = "names a class other than numpy.ndarray"
    elif not all(type(n) is int and n >= 0 for n in dims):
        problem = f"has the shape {shape!r}"
    elif state["order"] not in ("C", "F"):
        problem = f"has the order {state['order']!r}"
    elif not isinstance(dtype, np.dtype) or dtype.kind not in "biuf" or dtype.hasobject:
        problem = f"has the dtype {dtype!r}, not a number type"  # bool, integers, floats only
    elif math.prod(shape) * dtype.itemsize > MAX_DECOMPRESSED_BYTES:
        problem = f"announces an array of shape {shape}, too big"
    elif alignment is not None and type(alignment) is not int:
        problem = f"has the alignment {alignment!r}"
    if problem:
        raise CacheFormatError(f"its array header {problem}")
    return state


def _read_array(read: Any, header: dict[str, Any]) -> np.ndarray:
    """Read the array bytes that follow a wrapper, as joblib writes them."""
    shape, dtype = header["shape"], header["dtype"]
    if header.get("numpy_array_alignment_bytes") is not None:  # joblib >= 1.2 pads
        padding = read(1)
        if len(padding) != 1 or len(read(padding[0])) != padding[0]:
            raise CacheFormatError("its array data end early")
    size = math.prod(shape) * dtype.itemsize
    data = read(size)
    if len(data) != size:
        raise CacheFormatError(f"its array data end early ({len(data):,} of {size:,} bytes)")
    flat = np.frombuffer(data, dtype=dtype)
    array = flat.reshape(shape[::-1]).T if header["order"] == "F" else flat.reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)
