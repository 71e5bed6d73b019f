"""Declarative shapes of the artifacts' contents, and one check that walks them.

:func:`validate` walks a loaded JSON value (or a CSV's columns) along a tree of specs and
raises :class:`SchemaError` at the first misfit, naming its path (``coef.codes[3]``).
Not JSON Schema: it lacks three rules the artifacts need (a finite number, a list as long as
a sibling, a CSV's columns), and its messages are not the ones ``docs/run-state.md`` documents.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from calhousing.errors import SchemaError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Spec(Protocol):
    def check(self, value: Any, path: str) -> None: ...


@dataclass(frozen=True)
class Number:
    """A finite real number (an integer is one too; a boolean is not)."""

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(path, f"must be a number, got {_shown(value)}")
        if not math.isfinite(value):
            raise SchemaError(path, f"must be a finite number, got {value!r}")


@dataclass(frozen=True)
class Integer:
    """An integer no smaller than `low`."""

    low: int | None = None

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(path, f"must be an integer, got {_shown(value)}")
        if self.low is not None and value < self.low:
            raise SchemaError(path, f"must be at least {self.low}, got {value!r}")


@dataclass(frozen=True)
class Boolean:
    """``true`` or ``false``."""

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, bool):
            raise SchemaError(path, f"must be true or false, got {_shown(value)}")


@dataclass(frozen=True)
class Text:
    """A string, optionally one of `choices`."""

    choices: tuple[str, ...] | None = None

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str):
            raise SchemaError(path, f"must be a string, got {_shown(value)}")
        if self.choices is not None and value not in self.choices:
            raise SchemaError(
                path, f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
            )


@dataclass(frozen=True)
class Sha256:
    """A lowercase hexadecimal sha256 digest."""

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, str) or not _SHA256.match(value):
            raise SchemaError(path, f"must be a sha256 (64 hex digits), got {_shown(value)}")


@dataclass(frozen=True)
class Anything:
    """Any JSON value (parameters, library versions)."""

    def check(self, value: Any, path: str) -> None:
        return None


@dataclass(frozen=True)
class Nullable:
    """``None`` or a value of `spec`."""

    spec: Spec

    def check(self, value: Any, path: str) -> None:
        if value is not None:
            self.spec.check(value, path)


@dataclass(frozen=True)
class ListOf:
    """A list of `item`; `length` is a fixed length, or the name of a sibling list in the
    enclosing :class:`Record` whose length it must have."""

    item: Spec
    length: int | str | None = None
    min_length: int = 0

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise SchemaError(path, f"must be a list, got {_shown(value)}")
        if len(value) < self.min_length:
            raise SchemaError(path, f"must hold at least {self.min_length} items, got {len(value)}")
        if isinstance(self.length, int) and len(value) != self.length:
            raise SchemaError(path, f"must hold {self.length} items, got {len(value)}")
        if _plain_numbers(self.item, value):
            return  # the common case of a long list
        for index, item in enumerate(value):
            self.item.check(item, f"{path}[{index}]")


@dataclass(frozen=True)
class ScalarOrList:
    """One `item`, or a list of them (a per-tensor or a per-channel quantity)."""

    item: Spec

    def check(self, value: Any, path: str) -> None:
        if isinstance(value, list):
            ListOf(self.item, min_length=1).check(value, path)
        else:
            self.item.check(value, path)


@dataclass(frozen=True)
class MapOf:
    """An object whose keys are strings and whose values are of `value`."""

    value: Spec

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise SchemaError(path, f"must be an object, got {_shown(value)}")
        for key, item in value.items():
            self.value.check(item, _join(path, key))


@dataclass(frozen=True)
class Record:
    """An object with the `required` keys (and maybe the `optional` ones), each of its spec."""

    required: Mapping[str, Spec]
    optional: Mapping[str, Spec] = field(default_factory=dict)

    def check(self, value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise SchemaError(path, f"must be an object, got {_shown(value)}")
        for key in self.required:
            if key not in value:
                raise SchemaError(_join(path, key), "is missing")
        specs = {**self.required, **{k: s for k, s in self.optional.items() if k in value}}
        for key, spec in specs.items():
            spec.check(value[key], _join(path, key))
            length = getattr(spec, "length", None)
            if isinstance(length, str) and len(value[key]) != len(value[length]):
                raise SchemaError(
                    _join(path, key),
                    f"must hold as many items as {_join(path, length)} "
                    f"({len(value[length])}), got {len(value[key])}",
                )


@dataclass(frozen=True)
class Columns:
    """A pandas.DataFrame with these columns, each spec checked on every cell."""

    columns: Mapping[str, Spec]
    min_rows: int = 1

    def check(self, value: Any, path: str) -> None:
        missing = [name for name in self.columns if name not in value.columns]
        if missing:
            raise SchemaError(path or "the header", f"lacks the column(s) {', '.join(missing)}")
        if len(value) < self.min_rows:
            raise SchemaError(path or "the table", f"must hold at least {self.min_rows} rows")
        for name, spec in self.columns.items():
            for row, item in enumerate(value[name].tolist()):
                spec.check(item, f"column {name!r}, row {row + 1}")


def validate(value: Any, spec: Spec) -> None:
    """Raise :class:`SchemaError` at the first field of `value` that does not fit `spec`."""
    spec.check(value, "")


def _plain_numbers(spec: Spec, values: list[Any]) -> bool:
    """Whether every item of `values` certainly fits `spec`, without a call per item."""
    if isinstance(spec, Integer):
        ints = all(type(value) is int for value in values)
        return ints and (spec.low is None or not values or min(values) >= spec.low)
    if isinstance(spec, Number):
        plain = all(type(value) in (float, int) for value in values)
        return plain and all(map(math.isfinite, values))
    return False


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _shown(value: Any) -> str:
    text = repr(value)
    shown = f"{text[:40]}…" if len(text) > 40 else text
    return f"{shown} ({type(value).__name__})"
