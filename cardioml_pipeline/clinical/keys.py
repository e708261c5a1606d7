"""Are a table's two `Patient's file number` columns in the right order?

Every CSV repeats the header `Patient's file number`: the first column is the file number (the
patient key), the second the hospital record number. Swapped, every row still parses, but the
table joins no patient and its features go all-null. Table 01 is the reference: in a table of
patients it describes, the first column holds table 01's file numbers. Pure functions over Polars.
"""

from __future__ import annotations

import polars as pl

from cardioml_pipeline.clinical.tables import FILE_NUMBER_HEADER

# Below this many rows with both keys the evidence is too thin to fail a table on.
MIN_ROWS = 5


def whole_numbers(values: pl.Series) -> pl.Series:
    """The values that are whole numbers (`1001`, `1001.0`), others null."""
    text = pl.col("v").cast(pl.String).str.strip_chars()
    number = pl.when(text.str.contains(r"^\d+(\.0+)?$")).then(text).otherwise(None).cast(pl.Float64, strict=False).cast(pl.Int64, strict=False)
    return pl.DataFrame({"v": values}).select(number).to_series().alias(values.name)


def swapped_key_columns(
    source_file: str,
    first: pl.Series,
    second: pl.Series,
    reference: pl.DataFrame | None = None,
) -> str | None:
    """Why the two key columns look swapped (naming the file and both columns), else None.

    With `reference` (table 01's `file_number`, `record_number`): swapped when more rows match
    table 01 with the columns exchanged than as they are, and at least half do. Without it (table
    01 itself): swapped when the first column repeats values while the second never does, as
    record numbers shared by two patients would."""
    frame = pl.DataFrame({"first": whole_numbers(first), "second": whole_numbers(second)}).drop_nulls()
    rows = frame.height
    if rows < MIN_ROWS:
        return None
    columns = f"'{FILE_NUMBER_HEADER}' (column 1, the file number) and '{FILE_NUMBER_HEADER}' (column 2, the record number)"
    if reference is not None and reference.height:
        pairs = reference.select(pl.col("file_number").cast(pl.Int64), pl.col("record_number").cast(pl.Int64)).drop_nulls().unique()
        as_is = frame.join(pairs, left_on=["first", "second"], right_on=["file_number", "record_number"], how="semi").height
        exchanged = frame.join(pairs, left_on=["second", "first"], right_on=["file_number", "record_number"], how="semi").height
        if exchanged > as_is and 2 * exchanged >= rows:
            return (
                f"{source_file}: {columns} look swapped: {exchanged} of {rows} rows match a patient of table 01 "
                f"with the two columns exchanged, {as_is} as they are; put the file number first and reload"
            )
        return None
    first_repeats = rows - frame["first"].n_unique()
    if first_repeats and frame["second"].n_unique() == rows:
        return (
            f"{source_file}: {columns} look swapped: column 1 repeats {first_repeats} value(s) while column 2 "
            f"is unique, as file numbers are; put the file number first and reload"
        )
    return None
