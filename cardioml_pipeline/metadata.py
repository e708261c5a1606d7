"""Asset metadata a user checks first: row count, column schema, lineage, location, preview."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
import polars as pl

PREVIEW_ROWS = 5
# Row-level previews (first rows of tables, examples of quarantined values) land in the Dagster
# event storage; off ("0", "false", "no", "off") keeps counts, schemas and aggregates only.
ROW_PREVIEWS_ENV = "CARDIOML_ROW_PREVIEWS"


def row_previews_enabled() -> bool:
    """CARDIOML_ROW_PREVIEWS, on by default; read when a run uses it, not at import."""
    return os.environ.get(ROW_PREVIEWS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def preview_table(frame: pl.DataFrame, max_rows: int = PREVIEW_ROWS, digits: int = 3, max_width: int = 80) -> dg.MetadataValue:
    """The first rows as Dagster table metadata (floats rounded, long text cut), shown as a table
    in the UI. Call only when row_previews_enabled()."""
    head = frame.head(max_rows)
    rows = []
    for record in head.iter_rows(named=True):
        values = {}
        for name, value in record.items():
            if isinstance(value, float):
                value = round(value, digits)
            elif value is not None and not isinstance(value, (int, bool, str)):
                value = str(value)
            if isinstance(value, str) and len(value) > max_width:
                value = value[: max_width - 1] + "…"
            values[name] = value
        rows.append(dg.TableRecord(values))
    schema = dg.TableSchema(columns=[dg.TableColumn(name=name, type=_table_type(dtype)) for name, dtype in head.schema.items()])
    return dg.MetadataValue.table(records=rows, schema=schema)


def _table_type(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if dtype == pl.Boolean:
        return "bool"
    return "string"


def column_schema(frame: pl.DataFrame, descriptions: Mapping[str, str] | None = None) -> dg.TableSchema:
    descriptions = descriptions or {}
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype), description=descriptions.get(name)) for name, dtype in frame.schema.items()]
    )


def markdown_table(frame: pl.DataFrame, max_rows: int = PREVIEW_ROWS, max_width: int = 40) -> str:
    """A Markdown table of the first rows (no tabulate dependency)."""
    head = frame.head(max_rows)

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        text = text.replace("|", "\\|").replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    for row in head.iter_rows():
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def table_metadata(
    frame: pl.DataFrame,
    table_name: str,
    warehouse_path: Path,
    descriptions: Mapping[str, str] | None = None,
    lineage: dg.TableColumnLineage | None = None,
    preview_columns: Sequence[str] | None = None,
) -> dict[str, object]:
    preview = frame.select(preview_columns) if preview_columns else frame
    metadata: dict[str, object] = {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(frame, descriptions),
        "dagster/table_name": table_name,
        "warehouse": dg.MetadataValue.path(str(warehouse_path)),
        "query": dg.MetadataValue.md(f"```sql\nSELECT * FROM {table_name} LIMIT 10;\n```"),
    }
    if row_previews_enabled():  # patient rows: only where the deployment allows them in Dagster's storage
        metadata["preview"] = preview_table(preview)
    if lineage is not None:
        metadata["dagster/column_lineage"] = lineage
    return metadata


def row_examples(frame: pl.DataFrame, max_rows: int = 10, key: str = "examples") -> dict[str, object]:
    """`{key: the first rows as a table}` when row previews are on and there are rows, else {}:
    examples of patient values (quarantined values, failing images) are row-level data."""
    if not row_previews_enabled() or frame.height == 0:
        return {}
    return {key: preview_table(frame, max_rows=max_rows)}
