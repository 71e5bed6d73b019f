"""The declarative schemas: each misfit named by its field, the fast path agreeing with the slow."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calhousing.errors import SchemaError
from calhousing.run.schema import (
    NUMBER,
    TEXT,
    integer,
    list_of,
    record,
    validate,
    validate_table,
)

SPEC = record(
    {"names": list_of(TEXT, min_items=1), "values": list_of(NUMBER, length_of="names")},
    {"counts": {"type": "object", "additionalProperties": integer(0)}},
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"names": ["a"]}, "values is missing"),
        ({"names": [], "values": []}, "names must hold at least 1 items, got 0"),
        (
            {"names": ["a", "b"], "values": [1.0]},
            "values must hold as many items as names (2), got 1",
        ),
        ({"names": ["a"], "values": [float("inf")]}, "values[0] must be a finite number, got inf"),
        ({"names": ["a"], "values": [True]}, "values[0] must be a number, got True (bool)"),
        (
            {"names": ["a"], "values": [1], "counts": {"x": -1}},
            "counts.x must be at least 0, got -1",
        ),
        ({"names": [1], "values": [1]}, "names[0] must be a string, got 1 (int)"),
        ("text", "the top level must be an object, got 'text' (str)"),
    ],
)
def test_each_misfit_is_named_by_its_field(value, message):
    with pytest.raises(SchemaError) as refused:
        validate(value, SPEC)
    assert str(refused.value) == message


def test_a_fitting_value_passes():
    validate({"names": ["a", "b"], "values": [1, 2.5], "counts": {"x": 0}}, SPEC)


def test_a_table_names_the_column_and_the_row():
    import pandas as pd

    table = pd.DataFrame({"r2": [0.5, float("nan")], "bits": [8, 4]})
    with pytest.raises(SchemaError) as refused:
        validate_table(table, {"r2": NUMBER, "bits": integer(2)})
    assert str(refused.value) == "column 'r2', row 2 must be a finite number, got nan"


ITEMS = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=2),
    st.none(),
)


@given(st.lists(ITEMS, max_size=30), st.sampled_from([NUMBER, integer(), integer(0)]))
def test_long_lists_are_judged_as_item_by_item(values, item):
    def one_by_one() -> bool:
        try:
            for value in values:
                validate(value, item)
        except SchemaError:
            return False
        return True

    try:
        validate(values, list_of(item))
    except SchemaError:
        fits = False
    else:
        fits = True
    assert fits == one_by_one()
