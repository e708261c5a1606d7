"""One pandera schema (Polars backend) per staged table, built from the table spec, and the step
that turns pandera's failure cases into quarantine rows.

pandera skips value checks on LazyFrames, so we always validate collected DataFrames, lazily
(collect every failure, not just the first).
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from cardioml_pipeline.clinical.tables import ACTION_ROW_EXCLUDED, ACTION_VALUE_NULLED, TableSpec

_DTYPES = {
    "int": pl.Int64,
    "float": pl.Float64,
    "censored_float": pl.Float64,
    "category": pl.String,
    "bool": pl.Boolean,
    "list": pl.List(pl.String),
    "text": pl.String,
}
_DERIVED_DTYPES = {"Boolean": pl.Boolean, "Int64": pl.Int64}

# Checks whose failure makes the whole row untrustworthy (the rest null one value).
KEY_COLUMNS = ("file_number",)


def build_schema(spec: TableSpec) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {"_row_number": pa.Column(pl.Int64, nullable=False, unique=True)}
    for col in spec.columns:
        checks = []
        if col.valid_range is not None:
            checks.append(pa.Check.in_range(*col.valid_range))
        if col.kind == "category" and col.categories:
            checks.append(pa.Check.isin(sorted(set(col.categories.values()))))
        is_key = col.name in KEY_COLUMNS
        columns[col.name] = pa.Column(_DTYPES[col.kind], checks=checks, nullable=not is_key, unique=is_key)
        if col.kind == "censored_float":
            columns[f"{col.name}_censored"] = pa.Column(pl.Boolean, nullable=True)
    for name, (dtype, _) in spec.derived.items():
        columns[name] = pa.Column(_DERIVED_DTYPES[dtype], nullable=True)
    return pa.DataFrameSchema(columns, strict=True, name=f"staging.{spec.staging_table}", ordered=False)


def quarantine_invalid_rows(schema: pa.DataFrameSchema, frame: pl.DataFrame, table: str) -> tuple[pl.DataFrame, list[pl.DataFrame]]:
    """Validate `frame`; null failing values (or drop rows failing key rules) and return them as
    quarantine rows. Raises SchemaErrors if the cleaned frame still fails (a bug, not bad data)."""
    try:
        schema.validate(frame, lazy=True)
        return frame, []
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
    structural = cases.filter(pl.col("index").is_null())
    if structural.height:
        # dtype or missing-column problems mean our own typing is wrong: fail loudly.
        raise ValueError(f"staging.{table}: schema problems that are not value failures:\n{structural}")
    cases = cases.with_columns(pl.col("index").cast(pl.Int64))
    indexed = frame.with_row_index("_position").with_columns(pl.col("_position").cast(pl.Int64))
    details = cases.join(indexed.select("_position", "file_number", "_row_number"), left_on="index", right_on="_position", how="left")
    # a value that cannot be nulled (key or non-nullable column) takes its row out, with the reason
    required = [name for name, column in schema.columns.items() if not column.nullable]
    is_row_level = pl.col("column").is_in([*KEY_COLUMNS, *required]) | pl.col("check").str.contains("uniqueness")
    reasons = pl.format("failed check {} in {}", pl.col("check"), pl.lit(f"staging.{table}"))
    quarantine = details.select(
        pl.lit(table).alias("table_name"),
        pl.col("file_number"),
        pl.col("_row_number"),
        pl.col("column").alias("column_name"),
        pl.col("failure_case").cast(pl.String).alias("value"),
        reasons.alias("reason"),
        pl.when(is_row_level).then(pl.lit(ACTION_ROW_EXCLUDED)).otherwise(pl.lit(ACTION_VALUE_NULLED)).alias("action"),
    )
    drop_positions = details.filter(is_row_level)["index"].unique().to_list()
    cleaned = indexed.filter(~pl.col("_position").is_in(drop_positions))
    for column, positions in (
        details.filter(~is_row_level).group_by("column").agg(pl.col("index").unique()).iter_rows()
    ):
        cleaned = cleaned.with_columns(
            pl.when(pl.col("_position").is_in(positions)).then(None).otherwise(pl.col(column)).alias(column)
        )
    cleaned = cleaned.drop("_position")
    schema.validate(cleaned, lazy=True)
    return cleaned, [quarantine]


def _finding_codes() -> list[str]:
    from cardioml_pipeline.clinical.labels import FINDINGS

    return [f.code for f in FINDINGS]


ECG_LABELS_SCHEMA = pa.DataFrameSchema(
    {
        "ecg_key": pa.Column(pl.String, pa.Check.str_matches(r"^\d+(-\d+)?$"), nullable=False),
        "record_number": pa.Column(pl.Int64, pa.Check.in_range(1, 10**9), nullable=False),
        "ecg_index": pa.Column(pl.Int64, pa.Check.in_range(1, 1000), nullable=False),
        "file_number": pa.Column(pl.Int64, nullable=True),
        "label_text": pa.Column(pl.String, nullable=False),
        "finding": pa.Column(pl.String, pa.Check.isin(_finding_codes()), nullable=False),
        "snomed_ct_code": pa.Column(pl.String, pa.Check.str_matches(r"^\d{6,18}$"), nullable=True),
        "abbreviation": pa.Column(pl.String, nullable=True),
        "_row_number": pa.Column(pl.Int64, nullable=False),
    },
    strict=True,
    name="staging.ecg_labels",
)
