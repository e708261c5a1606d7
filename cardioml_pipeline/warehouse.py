"""Small DuckDB helpers shared by the layers: table replacement inside a caller's transaction and
the `meta.table_versions` ledger that makes re-runs over unchanged inputs skip their writes."""

from __future__ import annotations

import datetime as dt

import duckdb
import polars as pl

META_DDL = """
CREATE SCHEMA IF NOT EXISTS meta;
CREATE TABLE IF NOT EXISTS meta.table_versions (
    table_name VARCHAR PRIMARY KEY,
    input_fingerprint VARCHAR NOT NULL,
    row_count BIGINT NOT NULL,
    written_at TIMESTAMP WITH TIME ZONE NOT NULL
);
"""


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, table: str) -> str:
    return f"{quote_identifier(schema)}.{quote_identifier(table)}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def recorded_fingerprint(conn: duckdb.DuckDBPyConnection, table_name: str) -> str | None:
    """The input fingerprint the table was last written from, or None if never written."""
    conn.execute(META_DDL)
    rows = conn.execute("SELECT input_fingerprint FROM meta.table_versions WHERE table_name = ?", [table_name]).fetchall()
    if not rows:
        return None
    row = rows[0]
    schema, _, table = table_name.partition(".")
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?", [schema, table]
    ).fetchall()[0][0]
    return row[0] if exists else None


def replace_table(conn: duckdb.DuckDBPyConnection, table_name: str, frame: pl.DataFrame, fingerprint: str) -> None:
    """Replace `schema.table` with `frame` and record the fingerprint; call inside a transaction."""
    schema, _, table = table_name.partition(".")
    conn.execute(META_DDL)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
    conn.register("_incoming_frame", frame.to_arrow())
    try:
        conn.execute(f"CREATE OR REPLACE TABLE {qualified(schema, table)} AS SELECT * FROM _incoming_frame")
    finally:
        conn.unregister("_incoming_frame")
    conn.execute(
        "INSERT OR REPLACE INTO meta.table_versions VALUES (?, ?, ?, ?)",
        [table_name, fingerprint, frame.height, utc_now()],
    )


def replace_rows(conn: duckdb.DuckDBPyConnection, table_name: str, frame: pl.DataFrame, key_column: str, key_value: str) -> None:
    """Delete-then-insert the rows of one key (e.g. one source table's quarantine rows)."""
    schema, _, table = table_name.partition(".")
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(schema)}")
    conn.register("_incoming_rows", frame.to_arrow())
    try:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {qualified(schema, table)} AS SELECT * FROM _incoming_rows WHERE false")
        conn.execute(f"DELETE FROM {qualified(schema, table)} WHERE {quote_identifier(key_column)} = ?", [key_value])
        conn.execute(f"INSERT INTO {qualified(schema, table)} BY NAME SELECT * FROM _incoming_rows")
    finally:
        conn.unregister("_incoming_rows")


def query_frame(conn: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> pl.DataFrame:
    return conn.sql(sql, params=params).pl()


def read_table(conn: duckdb.DuckDBPyConnection, table_name: str) -> pl.DataFrame:
    schema, _, table = table_name.partition(".")
    return query_frame(conn, f"SELECT * FROM {qualified(schema, table)}")
