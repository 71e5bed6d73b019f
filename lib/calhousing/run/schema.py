"""The shapes of the artifacts' contents, and one check that names the first misfit.

A shape is a dict in JSON Schema's words (``type``, ``enum``, ``minimum``, ``pattern``,
``minItems``, ``items``, ``required``, ``properties``, ``additionalProperties``) plus
``lengthOf``: a list as long as a sibling list. Numbers must be finite. Not the jsonschema
package: importing it takes longer than ``calhousing predict``'s whole start-up budget, and
its messages are not those documented.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from calhousing.errors import SchemaError

if TYPE_CHECKING:
    import pandas as pd

Schema = dict[str, Any]
NUMBER: Schema = {"type": "number"}
TEXT: Schema = {"type": "string"}
SHA256: Schema = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_TYPES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "number": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "integer": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "boolean": ("true or false", lambda v: isinstance(v, bool)),
    "string": ("a string", lambda v: isinstance(v, str)),
    "array": ("a list", lambda v: isinstance(v, list)),
    "object": ("an object", lambda v: isinstance(v, Mapping)),
    "null": ("null", lambda v: v is None),
}


def integer(low: int | None = None) -> Schema:
    return {"type": "integer"} if low is None else {"type": "integer", "minimum": low}


def numbers(names: str) -> dict[str, Schema]:
    """A number for each of the space-separated `names`."""
    return {name: NUMBER for name in names.split()}


def one_of(choices: Iterable[str]) -> Schema:
    return {"type": "string", "enum": list(choices)}


def list_of(item: Schema, *, min_items: int = 0, length_of: str | None = None) -> Schema:
    """A list of `item`; with `length_of`, as long as that sibling list of its :func:`record`."""
    return {"type": "array", "minItems": min_items, "items": item, "lengthOf": length_of}


def map_of(value: Schema) -> Schema:
    return {"type": "object", "additionalProperties": value}


def record(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None) -> Schema:
    properties = {**required, **(optional or {})}
    return {"type": "object", "required": list(required), "properties": properties}


def validate(value: Any, schema: Schema, path: str = "") -> None:
    """Raise :class:`SchemaError` at the first field of `value` that does not fit `schema`."""
    kinds = [schema["type"]] if isinstance(schema.get("type"), str) else schema.get("type", [])
    if kinds and not any(_TYPES[kind][1](value) for kind in kinds):
        wanted = "a sha256 (64 hex digits)" if "pattern" in schema else _TYPES[kinds[0]][0]
        raise SchemaError(path, f"must be {wanted}, got {_shown(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise SchemaError(path, f"must be a finite number, got {value!r}")
    if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
        raise SchemaError(path, f"must be a sha256 (64 hex digits), got {_shown(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(
            path, f"must be one of {', '.join(map(repr, schema['enum']))}, got {value!r}"
        )
    if "minimum" in schema and value < schema["minimum"]:
        raise SchemaError(path, f"must be at least {schema['minimum']}, got {value!r}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise SchemaError(
                path, f"must hold at least {schema['minItems']} items, got {len(value)}"
            )
        if "items" in schema and not _plain_numbers(value, schema["items"]):
            for index, item in enumerate(value):
                validate(item, schema["items"], f"{path}[{index}]")
    if not isinstance(value, Mapping):
        return
    for key in schema.get("required", []):
        if key not in value:
            raise SchemaError(_join(path, key), "is missing")
    for key, spec in schema.get("properties", {}).items():
        if key not in value:
            continue
        validate(value[key], spec, _join(path, key))
        sibling = spec.get("lengthOf")
        if sibling and len(value[key]) != len(value[sibling]):
            raise SchemaError(
                _join(path, key),
                f"must hold as many items as {_join(path, sibling)} ({len(value[sibling])}), "
                f"got {len(value[key])}",
            )
    if "additionalProperties" in schema:
        for key, item in value.items():
            validate(item, schema["additionalProperties"], _join(path, key))


def validate_table(table: pd.DataFrame, columns: Mapping[str, Schema]) -> None:
    """Raise :class:`SchemaError` naming a missing column, or the column and row of a misfit."""
    missing = [name for name in columns if name not in table.columns]
    if missing:
        raise SchemaError("the header", f"lacks the column(s) {', '.join(missing)}")
    if table.empty:
        raise SchemaError("the table", "must hold at least 1 rows")
    for name, schema in columns.items():
        cells = table[name].tolist()
        if not _plain_numbers(cells, schema):
            for row, cell in enumerate(cells):
                validate(cell, schema, f"column {name!r}, row {row + 1}")


def _plain_numbers(values: list[Any], item: Schema) -> bool:
    """Whether every one of `values` certainly fits `item`, without a call per value."""
    if item.get("type") == "integer" and all(type(value) is int for value in values):
        return not values or min(values) >= item.get("minimum", -math.inf)
    if item.get("type") != "number" or any(type(value) not in (float, int) for value in values):
        return False
    return all(map(math.isfinite, values))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else str(key)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{f'{text[:40]}…' if len(text) > 40 else text} ({type(value).__name__})"
