"""The shape of `quality.quarantine` rows, shared by the table and label staging steps."""

from __future__ import annotations

import polars as pl

QUARANTINE_SCHEMA = {
    "table_name": pl.String,
    "file_number": pl.Int64,
    "_row_number": pl.Int64,
    "column_name": pl.String,
    "value": pl.String,
    "reason": pl.String,
    "action": pl.String,
}


def empty_quarantine() -> pl.DataFrame:
    return pl.DataFrame(schema=QUARANTINE_SCHEMA)


def quarantine_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA) if rows else empty_quarantine()
