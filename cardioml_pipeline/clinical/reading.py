"""Decode source CSVs into lossless raw frames (every value as text) and repair their headers."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cardioml_pipeline.clinical.tables import TableSpec, normalize_header

RAW_META_COLUMNS = ("_source_file", "_source_sha256", "_row_number", "_ingested_at", "_field_count", "_extra_fields")


class SourceFileError(ValueError):
    """A structural problem with a source file: the whole table cannot be loaded."""

    def __init__(self, path: Path, message: str, column: str | None = None, row: int | None = None):
        where = f"{path}"
        if row is not None:
            where += f", row {row}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.column = column
        self.row = row


@dataclass
class RawTable:
    """A source file read losslessly: header as published and rows as text."""

    path: Path
    sha256: str
    encoding: str
    header: list[str]
    frame: pl.DataFrame  # deduplicated header names + meta columns, all text except meta ints
    line_ending: str
    warnings: list[str] = field(default_factory=list)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def decode_source(path: Path, data: bytes) -> tuple[str, str]:
    """Text and encoding name. UTF-8 (with or without BOM) first, then Windows-1252/Latin-1."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as error:
            raise SourceFileError(path, f"unreadable UTF-16 text ({error})") from error
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise SourceFileError(path, f"unreadable encoding: NUL byte at offset {offset}; expected UTF-8 or Latin-1 CSV text")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def dedupe_header(header: list[str]) -> list[str]:
    """Raw column names: as published, with a ` (2)`, ` (3)` suffix on repeated names."""
    seen: dict[str, int] = {}
    names = []
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name} ({seen[name]})")
    return names


def read_raw_csv(path: Path, ingested_at: str, has_header: bool = True, column_names: list[str] | None = None) -> RawTable:
    """Read one CSV losslessly. Raises SourceFileError for structural problems."""
    if not path.exists():
        raise SourceFileError(path, "file not found")
    if not path.is_file():
        raise SourceFileError(path, "not a regular file")
    data = path.read_bytes()
    if not data.strip():
        raise SourceFileError(path, "file is empty (0 data bytes)")
    text, encoding = decode_source(path, data)
    line_ending = "CRLF" if "\r\n" in text else "LF"
    rows = list(csv.reader(io.StringIO(text, newline="")))
    # csv yields [] for blank lines; they carry no data and are not rows of the table.
    numbered = [(i, r) for i, r in enumerate(rows, start=1) if r and any(cell.strip() for cell in r)]
    if has_header:
        if not numbered:
            raise SourceFileError(path, "file has no header line")
        header = numbered[0][1]
        body = numbered[1:]
    else:
        assert column_names is not None
        header = list(column_names)
        body = numbered
    names = dedupe_header(header)
    width = len(names)
    columns: dict[str, list[str | None]] = {n: [] for n in names}
    field_counts, extras, line_numbers = [], [], []
    # _row_number counts data records from 1 (the header is not a row), blank lines skipped.
    for line_number, (_, row) in enumerate(body, start=1):
        for i, name in enumerate(names):
            columns[name].append(row[i] if i < len(row) else None)
        field_counts.append(len(row))
        extras.append(json.dumps(row[width:], ensure_ascii=False) if len(row) > width else None)
        line_numbers.append(line_number)
    sha = hashlib.sha256(data).hexdigest()
    frame = pl.DataFrame({n: pl.Series(n, v, dtype=pl.String) for n, v in columns.items()})
    frame = frame.with_columns(
        pl.lit(path.name).alias("_source_file"),
        pl.lit(sha).alias("_source_sha256"),
        pl.Series("_row_number", line_numbers, dtype=pl.Int64),
        pl.lit(ingested_at).alias("_ingested_at"),
        pl.Series("_field_count", field_counts, dtype=pl.Int64),
        pl.Series("_extra_fields", extras, dtype=pl.String),
    )
    return RawTable(path=path, sha256=sha, encoding=encoding, header=header, frame=frame, line_ending=line_ending)


@dataclass
class HeaderMapping:
    """Which raw column feeds each staged column, plus what the header lacks or adds."""

    source_columns: dict[str, str]  # staged name -> raw (deduplicated) column name
    unknown_columns: list[str]


def map_header(spec: TableSpec, raw_columns: list[str], path: Path, known_headers: set[str] | None = None) -> HeaderMapping:
    """Match spec headers to raw columns, tolerant of case and spacing; the n-th repeat of a
    header name feeds the n-th spec column of that name (file number, then record number).
    Columns neither used nor in `known_headers` are reported as unknown."""
    data_columns = [c for c in raw_columns if c not in RAW_META_COLUMNS]
    by_norm: dict[str, list[str]] = {}
    for column in data_columns:
        base = column
        # strip our own " (n)" de-duplication suffix before matching
        for n in range(2, 10):
            if column.endswith(f" ({n})") and column[: -len(f" ({n})")] in data_columns:
                base = column[: -len(f" ({n})")]
        by_norm.setdefault(normalize_header(base), []).append(column)
    used: set[str] = set()
    mapping: dict[str, str] = {}
    for col in spec.columns:
        candidates = [c for c in by_norm.get(normalize_header(col.source), []) if c not in used]
        if not candidates:
            raise SourceFileError(path, f"required column missing from the header (needed for staged column {col.name!r})", column=col.source.strip())
        mapping[col.name] = candidates[0]
        used.add(candidates[0])
    known = {normalize_header(h) for h in (known_headers or set())}
    unknown = [c for c in data_columns if c not in used and normalize_header(c) not in known]
    return HeaderMapping(source_columns=mapping, unknown_columns=unknown)
