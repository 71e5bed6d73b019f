"""Why a row is rejected, in the user's terms, and the columns of the rejects file.

The reasons are polars expressions, so a file where half the rows are bad costs a vectorized
pass, not a Python loop per row.
"""

from __future__ import annotations

import polars as pl

MAX_EXACT_INTEGER = 2**53  # float64 holds every integer up to here, and not all beyond
OVERFLOW = "the prediction overflows float64: the feature values are too large"
NOT_A_NUMBER = "; a feature must be a number"
NOT_FINITE = "is not a finite number; NaN and inf cannot be scored"
MISSING = "missing value (null)" + NOT_A_NUMBER


def reject_schema(unit: str) -> dict[str, type[pl.DataType]]:
    """The columns of ``OUTPUT.rejects.csv``: ``line`` (or ``row``), column, reason, text."""
    return {unit: pl.Int64, "column": pl.String, "reason": pl.String, "text": pl.String}


def rejects_header(unit: str) -> bytes:
    """The first line of ``OUTPUT.rejects.csv``."""
    return pl.DataFrame(schema=reject_schema(unit)).write_csv().encode("utf-8")


def wrong_field_count(expected: int, found: int) -> str:
    return f"expected {expected} comma-separated fields as in the header, found {found}"


def spans_lines(first: int, last: int) -> str:
    return (
        f"a quoted value runs from line {first} to line {last}; values may not hold line "
        "breaks (one record, rejected whole)"
    )


def never_closed(first: int) -> str:
    return f"a quoted value opened on line {first} is never closed before the end of the file"


def text_feature_verdicts(features: dict[str, str]) -> tuple[pl.Expr, pl.Expr]:
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


def typed_feature_verdicts(schema: pl.Schema, features: list[str]) -> tuple[pl.Expr, pl.Expr]:
    """The first bad feature column of a typed (Parquet) row, and why; null for a good row.

    A value is bad if it is null, NaN or inf, or an integer beyond ``2**53`` in magnitude,
    which float64 cannot hold exactly.
    """
    columns, reasons = [], []
    for name in features:
        raw = pl.col(name)
        if schema[name].is_integer():
            bad = raw.is_null() | (raw > MAX_EXACT_INTEGER) | (raw < -MAX_EXACT_INTEGER)
            why = pl.format(
                "integer {} is beyond 2^53, which float64 cannot hold exactly; store it as a float",
                raw,
            )
        else:
            bad = raw.is_null() | ~raw.cast(pl.Float64).is_finite()
            why = pl.format("value {} " + NOT_FINITE, raw.cast(pl.Float64))
        columns.append(pl.when(bad).then(pl.lit(name)))
        reasons.append(pl.when(raw.is_null()).then(pl.lit(MISSING)).when(bad).then(why))
    return pl.coalesce(columns), pl.coalesce(reasons)


def exact_features(schema: pl.Schema, features: list[str]) -> pl.Expr:
    """True where every integer feature fits float64 exactly (see :data:`MAX_EXACT_INTEGER`)."""
    checks = [
        (pl.col(name) <= MAX_EXACT_INTEGER) & (pl.col(name) >= -MAX_EXACT_INTEGER)
        for name in features
        if schema[name].is_integer()
    ]
    return pl.all_horizontal(checks).fill_null(False) if checks else pl.lit(True)
