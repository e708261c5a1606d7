"""The consistency checks a run must pass before it publishes the warehouse snapshot analysts read.

Registered with the warehouse resource (resources.register_snapshot_check) when this package is
imported, i.e. whenever the code location is loaded."""

from __future__ import annotations

import duckdb

from cardioml_pipeline.clinical.assets import reconcile
from cardioml_pipeline.resources import register_snapshot_check


def raw_rows_accounted(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """For every clinical table present: raw rows = staged rows + excluded rows."""
    return [
        f"staging.{row['staging_table']}: {row['staged_rows']} staged + {row['excluded_rows']} excluded != {row['raw_rows']} raw rows"
        for row in reconcile(conn).iter_rows(named=True)
        if not row["balanced"]
    ]


def register() -> None:
    register_snapshot_check(raw_rows_accounted)


def reader_consistency_sql() -> str:
    """One statement, so one consistent read, giving per staged table: raw rows, staged rows and
    excluded rows (a consistent warehouse has raw_rows = staged_rows + excluded_rows everywhere).
    Used by the load test and the concurrency tests to check every answer a reader gets."""
    from cardioml_pipeline.clinical.assets import LABELS_RAW_TABLE
    from cardioml_pipeline.clinical.tables import ACTION_ROW_EXCLUDED, TABLES

    pairs = [(spec.raw_table, spec.staging_table) for spec in TABLES] + [(LABELS_RAW_TABLE, "ecg_labels")]
    parts = [
        f"SELECT '{staging}' AS staging_table, (SELECT count(*) FROM raw.\"{raw}\") AS raw_rows, "
        f"(SELECT count(DISTINCT _row_number) FROM staging.\"{staging}\") AS staged_rows, "
        f"(SELECT count(DISTINCT _row_number) FROM quality.quarantine WHERE table_name = '{staging}' AND action = '{ACTION_ROW_EXCLUDED}') AS excluded_rows"
        for raw, staging in pairs
    ]
    return "\nUNION ALL\n".join(parts)
