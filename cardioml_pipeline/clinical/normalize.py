"""Raw text frames -> typed, normalized staging frames plus quarantine rows.

Pure functions over Polars frames; no Dagster, no DuckDB. Every raw row ends either staged or in
quarantine with action `row_excluded`; every value that could not be kept is nulled in the staged
row and recorded in quarantine with action `value_nulled`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from cardioml_pipeline.clinical.quarantine import empty_quarantine
from cardioml_pipeline.clinical.reading import HeaderMapping
from cardioml_pipeline.clinical.schemas import build_schema, quarantine_invalid_rows
from cardioml_pipeline.clinical.tables import (
    ACTION_ROW_EXCLUDED,
    ACTION_VALUE_NULLED,
    NONE_MARKERS,
    ColumnSpec,
    TableSpec,
)

NUMBER_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
CENSORED_PATTERN = r"^[<>]\s*[+-]?(\d+(\.\d*)?|\.\d+)$"



@dataclass
class StagedTable:
    staged: pl.DataFrame
    quarantine: pl.DataFrame
    raw_row_count: int

    @property
    def excluded_rows(self) -> int:
        return self.quarantine.filter(pl.col("action") == ACTION_ROW_EXCLUDED)["_row_number"].n_unique()


def _quarantine_frame(table: str, frame: pl.DataFrame, column: str, value: pl.Expr, reason: pl.Expr, action: str) -> pl.DataFrame:
    return frame.select(
        pl.lit(table).alias("table_name"),
        pl.col("file_number").cast(pl.Int64, strict=False).alias("file_number"),
        pl.col("_row_number").cast(pl.Int64),
        pl.lit(column).alias("column_name"),
        value.cast(pl.String).alias("value"),
        reason.cast(pl.String).alias("reason"),
        pl.lit(action).alias("action"),
    )


def _trimmed(raw_column: str) -> pl.Expr:
    text = pl.col(raw_column).str.strip_chars()
    return pl.when(text == "").then(None).otherwise(text)


def parse_column(spec: ColumnSpec, raw_column: str) -> tuple[list[pl.Expr], pl.Expr]:
    """Expressions producing the staged column(s) and a per-row failure reason (null = fine)."""
    text = _trimmed(raw_column)
    kind = spec.kind
    if kind in ("int", "float"):
        is_number = text.str.contains(NUMBER_PATTERN)
        number = pl.when(is_number).then(text).otherwise(None).cast(pl.Float64, strict=False)
        if spec.rescale_above is not None:
            number = pl.when(number > spec.rescale_above).then(number / spec.rescale_divisor).otherwise(number)
        reason = pl.when(text.is_not_null() & ~is_number).then(pl.lit("not a number"))
        if kind == "int":
            whole = number.round(0) == number
            reason = reason.when(number.is_not_null() & ~whole).then(pl.lit("not a whole number"))
            value = pl.when(whole).then(number).otherwise(None).cast(pl.Int64, strict=False)
        else:
            value = number
        return [value.alias(spec.name)], reason.otherwise(None)
    if kind == "censored_float":
        is_number = text.str.contains(NUMBER_PATTERN)
        is_censored = text.str.contains(CENSORED_PATTERN)
        limit = text.str.replace(r"^[<>]\s*", "").cast(pl.Float64, strict=False)
        value = pl.when(is_number | is_censored).then(limit).otherwise(None)
        censored = pl.when(text.is_null() | ~(is_number | is_censored)).then(None).otherwise(is_censored)
        reason = pl.when(text.is_not_null() & ~is_number & ~is_censored).then(pl.lit("not a number or a censored value like '<0.05'")).otherwise(None)
        return [value.alias(spec.name), censored.alias(f"{spec.name}_censored")], reason
    if kind in ("category", "bool"):
        assert spec.categories is not None
        token = text.str.to_lowercase().str.replace_all(r"\s+", " ")
        dtype = pl.Boolean if kind == "bool" else pl.String
        value = token.replace_strict(spec.categories, default=None, return_dtype=dtype)
        allowed = sorted({str(v) for v in spec.categories.values()})
        reason = pl.when(text.is_not_null() & value.is_null()).then(pl.lit(f"unknown category; allowed: {', '.join(allowed)}")).otherwise(None)
        return [value.alias(spec.name)], reason
    if kind == "list":
        items = spec.items or {}
        parts = text.str.split(",").list.eval(
            pl.element().str.strip_chars().str.to_lowercase().str.replace_all(r"\s+", " ").filter(pl.element() != "")
        )
        mapped = parts.list.eval(pl.element().replace(items)).list.unique(maintain_order=False).list.sort()
        is_none = parts.list.len().eq(1) & parts.list.first().is_in(list(NONE_MARKERS))
        value = pl.when(text.is_null()).then(None).when(is_none).then(pl.lit([], dtype=pl.List(pl.String))).otherwise(mapped)
        return [value.alias(spec.name)], pl.lit(None, dtype=pl.String)
    if kind == "text":
        return [text.str.replace_all(r"\s+", " ").alias(spec.name)], pl.lit(None, dtype=pl.String)
    raise ValueError(f"unknown column kind {kind!r} for {spec.name}")


def stage_clinical_table(spec: TableSpec, raw: pl.DataFrame, mapping: HeaderMapping) -> StagedTable:
    """Type and normalize one raw table, quarantining what fails, and validate it with pandera."""
    table = spec.staging_table
    width = len([c for c in raw.columns if not c.startswith("_")])
    file_number_raw = mapping.source_columns["file_number"]
    frame = raw.with_columns(_trimmed(file_number_raw).alias("file_number_text"))
    frame = frame.with_columns(
        pl.when(pl.col("file_number_text").str.contains(r"^\d+(\.0+)?$"))
        .then(pl.col("file_number_text").cast(pl.Float64, strict=False).cast(pl.Int64, strict=False))
        .alias("file_number")
    )
    quarantined: list[pl.DataFrame] = []

    # Structural row problems: the row cannot be trusted as a whole.
    row_reason = (
        pl.when(pl.col("_field_count") < width).then(pl.format("truncated row: {} of {} fields", pl.col("_field_count"), pl.lit(width)))
        .when(pl.col("_field_count") > width).then(pl.format("row has {} fields, header has {} (shifted or unquoted comma?)", pl.col("_field_count"), pl.lit(width)))
        .when(pl.col("file_number_text").is_null()).then(pl.lit("missing file_number"))
        .when(pl.col("file_number").is_null()).then(pl.lit("file_number is not a whole number"))
        .otherwise(None)
    )
    frame = frame.with_columns(row_reason.alias("_row_problem"))
    bad = frame.filter(pl.col("_row_problem").is_not_null())
    if bad.height:
        quarantined.append(_quarantine_frame(table, bad, "file_number", pl.col("file_number_text"), pl.col("_row_problem"), ACTION_ROW_EXCLUDED))
    frame = frame.filter(pl.col("_row_problem").is_null())

    frame, duplicates = _exclude_duplicate_keys(table, frame, [mapping.source_columns[c.name] for c in spec.columns])
    quarantined.extend(duplicates)

    # Typing and normalization, value by value.
    staged_columns: list[pl.Expr] = [pl.col("_row_number")]
    for col in spec.columns:
        if col.name == "file_number":
            staged_columns.append(pl.col("file_number"))
            continue
        raw_column = mapping.source_columns[col.name]
        values, reason = parse_column(col, raw_column)
        staged_columns.extend(values)
        failed = frame.with_columns(reason.alias("_reason")).filter(pl.col("_reason").is_not_null())
        if failed.height:
            quarantined.append(_quarantine_frame(table, failed, col.name, pl.col(raw_column), pl.col("_reason"), ACTION_VALUE_NULLED))
    typed = frame.select(staged_columns)
    typed = add_derived_columns(spec, typed)

    # Validation against the pandera schema: ranges, categories, key rules.
    schema = build_schema(spec)
    validated, failures = quarantine_invalid_rows(schema, typed, table)
    quarantined.extend(failures)

    quarantine = pl.concat(quarantined, how="vertical") if quarantined else empty_quarantine()
    quarantine = quarantine.sort(["_row_number", "column_name"])
    return StagedTable(staged=validated.sort("file_number"), quarantine=quarantine, raw_row_count=raw.height)


def _exclude_duplicate_keys(table: str, frame: pl.DataFrame, value_columns: list[str]) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Exact repeats of a row keep the first copy; conflicting rows for one key are all excluded,
    since nothing says which copy is right."""
    out: list[pl.DataFrame] = []
    frame = frame.with_columns(
        pl.col("_row_number").min().over(["file_number", *value_columns]).alias("_first_copy"),
        pl.struct(value_columns).n_unique().over("file_number").alias("_versions"),
        pl.col("_row_number").sort().over("file_number", mapping_strategy="join").alias("_key_rows"),
    )
    exact = frame.filter((pl.col("_row_number") != pl.col("_first_copy")) & (pl.col("_versions") == 1))
    if exact.height:
        out.append(_quarantine_frame(table, exact, "file_number", pl.col("file_number"), pl.format("exact duplicate of row {}", pl.col("_first_copy")), ACTION_ROW_EXCLUDED))
    conflicting = frame.filter(pl.col("_versions") > 1)
    if conflicting.height:
        rows = pl.col("_key_rows").list.eval(pl.element().cast(pl.String)).list.join(", ")
        out.append(_quarantine_frame(table, conflicting, "file_number", pl.col("file_number"), pl.format("duplicate file_number with conflicting values in rows {}", rows), ACTION_ROW_EXCLUDED))
    kept = frame.filter((pl.col("_versions") == 1) & (pl.col("_row_number") == pl.col("_first_copy")))
    return kept.drop("_first_copy", "_versions", "_key_rows"), out


def add_derived_columns(spec: TableSpec, typed: pl.DataFrame) -> pl.DataFrame:
    if "record_number_shared" in spec.derived:
        count = pl.col("file_number").n_unique().over("record_number")
        typed = typed.with_columns(
            pl.when(pl.col("record_number").is_null()).then(None).otherwise(count).cast(pl.Int64).alias("record_number_file_count"),
        ).with_columns((pl.col("record_number_file_count") > 1).alias("record_number_shared"))
    return typed
