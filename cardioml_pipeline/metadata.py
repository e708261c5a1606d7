"""Asset metadata a user checks first: row count, column schema, lineage, location, preview."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
import polars as pl

PREVIEW_ROWS = 5


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
        "preview": dg.MetadataValue.md(markdown_table(preview)),
    }
    if lineage is not None:
        metadata["dagster/column_lineage"] = lineage
    return metadata
