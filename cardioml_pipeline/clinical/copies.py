"""Table 01 repeats the columns of tables 02-10 (vitals, labs, history). Its copies are not staged
(the source tables are), but they are validated with the same specs, so an impossible value there
is quarantined, and compared with the source tables, so a copy that disagrees is reported.

Pure functions over Polars frames: no Dagster, no DuckDB.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import polars as pl

from cardioml_pipeline.clinical.normalize import stage_clinical_table
from cardioml_pipeline.clinical.reading import map_header
from cardioml_pipeline.clinical.tables import ACTION_VALUE_NULLED, TABLES, TableSpec, normalize_header

# quality.quarantine `action` for a table 01 copy that fails its source table's spec: nothing is
# staged from it (the source table's value is), so nothing was nulled or excluded.
ACTION_COPY_NOT_STAGED = "copy_not_staged"
CORE_TABLE = TABLES[0]
DISAGREEMENT_SCHEMA = {
    "file_number": pl.Int64,
    "table_name": pl.String,
    "column_name": pl.String,
    "table_01_value": pl.String,
    "source_value": pl.String,
}


def copied_spec(source: TableSpec, core_columns: list[str]) -> TableSpec | None:
    """`source`'s spec restricted to the key columns and the columns table 01 repeats (and does not
    stage itself), to be read from table 01's raw frame; None when it repeats none."""
    present = {normalize_header(c) for c in core_columns}
    own = {normalize_header(c.source) for c in CORE_TABLE.columns}
    keys = [c for c in source.columns if c.name in ("file_number", "record_number")]
    copied = [c for c in source.columns if c not in keys and normalize_header(c.source) in present and normalize_header(c.source) not in own]
    if not copied:
        return None
    return replace(source, source_file=CORE_TABLE.source_file, raw_table=CORE_TABLE.raw_table, columns=(*keys, *copied), derived={})


def _typed_copies(core_raw: pl.DataFrame, source: TableSpec, known_headers: set[str]):
    spec = copied_spec(source, core_raw.columns)
    if spec is None:
        return None, None
    mapping = map_header(spec, core_raw.columns, Path(CORE_TABLE.source_file), known_headers=known_headers)
    return spec, stage_clinical_table(spec, core_raw, mapping)


def validate_core_copies(core_raw: pl.DataFrame, known_headers: set[str]) -> pl.DataFrame:
    """Quarantine rows (table_name `patients`, action `copy_not_staged`) for every table 01 copy
    that fails the spec of the table it copies (unparseable, out of range, unknown category)."""
    frames = []
    for source in TABLES[1:]:
        spec, staged = _typed_copies(core_raw, source, known_headers)
        if spec is None:
            continue
        failures = staged.quarantine.filter(pl.col("action") == ACTION_VALUE_NULLED)
        frames.append(
            failures.with_columns(
                pl.lit(CORE_TABLE.staging_table).alias("table_name"),
                pl.format("table 01's copy of staging.{}.{}: {}", pl.lit(source.staging_table), pl.col("column_name"), pl.col("reason")).alias("reason"),
                pl.lit(ACTION_COPY_NOT_STAGED).alias("action"),
            )
        )
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame()


def core_copy_disagreements(core_raw: pl.DataFrame, sources: dict[str, pl.DataFrame], known_headers: set[str]) -> tuple[pl.DataFrame, int, int]:
    """Cells where table 01's copy and the source table disagree, both typed with the source's spec
    (a value in one and not the other counts), as (rows of DISAGREEMENT_SCHEMA, cells compared,
    cells whose text differs only in formatting, e.g. `Few` / `few`, and types to the same value).
    `sources`: raw frames of tables 02-10 by raw table name (missing tables are skipped)."""
    rows: list[pl.DataFrame] = []
    compared = 0
    text_differences = 0
    for source in TABLES[1:]:
        raw = sources.get(source.raw_table)
        if raw is None:
            continue
        spec, copies = _typed_copies(core_raw, source, known_headers)
        if spec is None:
            continue
        mapping = map_header(source, raw.columns, Path(source.source_file), known_headers=known_headers)
        original = stage_clinical_table(source, raw, mapping).staged
        columns = [c.name for c in spec.columns if c.name not in ("file_number", "record_number")]
        core_mapping = map_header(spec, core_raw.columns, Path(CORE_TABLE.source_file), known_headers=known_headers)
        key_text = lambda frame, m: frame.select(pl.col(m.source_columns["file_number"]).str.strip_chars().alias("_key"), *(pl.col(m.source_columns[c]).str.strip_chars().fill_null("").alias(c) for c in columns))  # noqa: E731
        texts = key_text(core_raw, core_mapping).join(key_text(raw, mapping), on="_key", suffix="__source")
        text_differences += sum(texts.filter(pl.col(c) != pl.col(f"{c}__source")).height for c in columns)
        joined = copies.staged.select("file_number", *columns).join(original.select("file_number", *columns), on="file_number", suffix="__source")
        for column in columns:
            left, right = pl.col(column), pl.col(f"{column}__source")
            dtype = joined.schema[column]
            if dtype.is_float():
                differ = (left - right).abs() > 1e-6 * pl.max_horizontal(left.abs(), right.abs(), pl.lit(1.0))
            else:
                differ = left != right
            mismatch = (left.is_null() != right.is_null()) | (left.is_not_null() & right.is_not_null() & differ)
            compared += joined.height
            found = joined.filter(mismatch)
            if found.height:
                text = (lambda c: pl.col(c).list.join(", ")) if isinstance(dtype, pl.List) else (lambda c: pl.col(c).cast(pl.String))
                rows.append(
                    found.select(
                        pl.col("file_number"),
                        pl.lit(source.staging_table).alias("table_name"),
                        pl.lit(column).alias("column_name"),
                        text(column).alias("table_01_value"),
                        text(f"{column}__source").alias("source_value"),
                    )
                )
    frame = pl.concat(rows, how="vertical") if rows else pl.DataFrame(schema=DISAGREEMENT_SCHEMA)
    return frame.sort("table_name", "column_name", "file_number"), compared, text_differences - frame.height
