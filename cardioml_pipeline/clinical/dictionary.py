"""staging.data_dictionary: one row per staged column, built from the table specs."""

from __future__ import annotations

import polars as pl

from cardioml_pipeline.clinical.labels import LABEL_COLUMNS
from cardioml_pipeline.clinical.tables import TABLES

DICTIONARY_SCHEMA = {
    "table_name": pl.String,
    "column_name": pl.String,
    "dtype": pl.String,
    "unit": pl.String,
    "description": pl.String,
    "source_file": pl.String,
    "source_column": pl.String,
    "valid_range": pl.String,
    "allowed_values": pl.String,
}

_ROW_NUMBER = "Data row number in the source file (1 = first row after the header); joins back to the raw table."

ECG_LABEL_COLUMNS = {
    "ecg_key": (LABEL_COLUMNS[0], "ECG key as published: record number, optionally '-<ECG index>'."),
    "record_number": (LABEL_COLUMNS[0], "Hospital record number, from the ECG key."),
    "ecg_index": (LABEL_COLUMNS[0], "ECG index from the key suffix; 1 when there is none."),
    "file_number": (LABEL_COLUMNS[0], "Patient file number joined by record number; null when no patient has it."),
    "label_text": (LABEL_COLUMNS[1], "Label text as published (leading separator space removed)."),
    "finding": (LABEL_COLUMNS[1], "One finding from the controlled vocabulary staging.ecg_findings."),
    "snomed_ct_code": (LABEL_COLUMNS[1], "SNOMED CT code of the finding (PhysioNet/CinC 2020-21 mapping); null for non_cardiac."),
    "abbreviation": (LABEL_COLUMNS[1], "PhysioNet abbreviation of the finding."),
    "_row_number": ("_row_number", _ROW_NUMBER),
}


def build_data_dictionary(actual_columns: pl.DataFrame) -> pl.DataFrame:
    """`actual_columns` (table_name, column_name, data_type) from information_schema gives the
    dtype as stored; the specs give everything else. Columns the specs do not know still appear."""
    dtypes = {(r["table_name"], r["column_name"]): r["data_type"] for r in actual_columns.iter_rows(named=True)}
    rows: list[dict] = []

    def add(table: str, column: str, unit, description, source_file, source_column, valid_range=None, allowed=None):
        rows.append(
            {
                "table_name": f"staging.{table}",
                "column_name": column,
                "dtype": dtypes.get((table, column)),
                "unit": unit,
                "description": description,
                "source_file": source_file,
                "source_column": source_column,
                "valid_range": f"[{valid_range[0]:.10g}, {valid_range[1]:.10g}]" if valid_range else None,
                "allowed_values": ", ".join(sorted({str(v) for v in allowed.values()})) if allowed else None,
            }
        )

    for spec in TABLES:
        source_file = f"Clinical_Data/{spec.source_file}"
        for col in spec.columns:
            source = col.source if col.name != "record_number" else f"{col.source} (2)"
            add(spec.staging_table, col.name, col.unit, col.description, source_file, source, col.valid_range, col.categories)
            if col.kind == "censored_float":
                add(spec.staging_table, f"{col.name}_censored", None, f"True when {col.name} was reported as a censored value ('<limit'); the limit is kept in {col.name}.", source_file, col.source)
        for name, (_, description) in spec.derived.items():
            add(spec.staging_table, name, None, description, source_file, f"{spec.columns[0].source}; {spec.columns[1].source} (2)")
        add(spec.staging_table, "_row_number", None, _ROW_NUMBER, source_file, "_row_number")
    for column, (source, description) in ECG_LABEL_COLUMNS.items():
        add("ecg_labels", column, None, description, "ECG Labels.csv", source)
    for column, description in {"finding": "Finding code.", "snomed_ct_code": "SNOMED CT code.", "abbreviation": "Abbreviation.", "description": "What the finding means."}.items():
        add("ecg_findings", column, None, description, None, None)
    known = {(r["table_name"], r["column_name"]) for r in rows}
    for (table, column), dtype in sorted(dtypes.items()):
        if table != "data_dictionary" and (f"staging.{table}", column) not in known:
            add(table, column, None, "(not described by the table specs)", None, None)
    return pl.DataFrame(rows, schema=DICTIONARY_SCHEMA)
