"""The Parquet image index and per-patient signal files: schemas, atomic writes, reads.

Layout under the artifacts root:
  ecg_images/processed/<sha[:2]>/<sha>.png   processed images, named by the sha256 of their bytes
  ecg_images/index.parquet                   one row per source image (processed or rejected)
  signals/patient_<file number>.parquet       the digitized leads of one patient
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from cardioml_pipeline.ecg_images.qc import QC_METRICS as QC_METRIC_DECLARATIONS

INDEX_SCHEMA: dict[str, pl.DataType] = {
    "file_number": pl.Int64,
    "lead": pl.String,
    "source_path": pl.String,  # relative to ECG_Images/
    "source_sha256": pl.String,
    "source_size_bytes": pl.Int64,
    "source_mtime_ns": pl.Int64,
    "width_px": pl.Int64,
    "height_px": pl.Int64,
    "channels": pl.Int64,
    "bit_depth": pl.Int64,
    "px_per_mm_x": pl.Float64,
    "px_per_mm_y": pl.Float64,
    "calibration_source": pl.String,
    "processed_path": pl.String,  # relative to the artifacts root
    "processed_sha256": pl.String,
    "processed_width_px": pl.Int64,
    "processed_height_px": pl.Int64,
    # the QC metrics, declared once in `qc.QC_METRICS` (name, description, threshold)
    **{metric.name: pl.Float64 for metric in QC_METRIC_DECLARATIONS if metric.indexed},
    "qc_passed": pl.Boolean,
    "qc_reasons": pl.List(pl.String),
    "reject_reason": pl.String,
    "processing_version": pl.String,
    "processed_at": pl.String,
    # where the lead's signal sits in the recording, and where it came from on a whole page
    "start_s": pl.Float64,
    "duration_s": pl.Float64,
    "is_rhythm_strip": pl.Boolean,
    "lead_name_source": pl.String,
    "ecg_index": pl.Int64,
    "page_path": pl.String,
    "page_sha256": pl.String,
    "page_layout": pl.String,
    "page_layout_confidence": pl.Float64,
    "page_skew_deg": pl.Float64,
    "page_perspective_deg": pl.Float64,
    "page_lead_order": pl.String,
    "lead_box_x0": pl.Int64,
    "lead_box_y0": pl.Int64,
    "lead_box_x1": pl.Int64,
    "lead_box_y1": pl.Int64,
}
QC_METRICS = tuple(metric.name for metric in QC_METRIC_DECLARATIONS if metric.indexed)  # index columns

SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "file_number": pl.Int64,
    "lead": pl.String,
    "sampling_rate_hz": pl.Int32,
    "n_samples": pl.Int32,
    "signal_mv": pl.List(pl.Float32),
    "calibration_source": pl.String,
    "qc_passed": pl.Boolean,
    "qc_reasons": pl.List(pl.String),
    "source_sha256": pl.String,
    "processing_version": pl.String,
    "source_path": pl.String,
    "start_s": pl.Float64,
    "duration_s": pl.Float64,
    "is_rhythm_strip": pl.Boolean,
}

_ARROW_TYPES = {field.name: field.type for field in pl.DataFrame(schema=SIGNAL_SCHEMA).to_arrow().schema}

INDEX_DESCRIPTIONS = {
    "file_number": "Patient file number parsed from the file name.",
    "lead": "Lead (I, II, III, aVR, aVL, aVF, V1-V6).",
    "source_path": "Image path relative to ECG_Images/.",
    "source_sha256": "sha256 of the source file bytes.",
    "px_per_mm_x": "Horizontal calibration (pixels per mm), from the grid or the declared default.",
    "px_per_mm_y": "Vertical calibration (pixels per mm).",
    "calibration_source": "'grid' when estimated from the ECG grid, 'pulse' from the printed calibration pulse (grid-free images), 'default' otherwise (the declared resolution).",
    "processed_path": "Processed image, relative to the artifacts root (content-addressed).",
    "qc_passed": "Quality-control verdict: true when no QC metric broke its threshold.",
    "qc_reasons": "Why QC did not pass (empty when it passed), one reason per failing metric.",
    "reject_reason": "Why the file was not processed at all (null when processed).",
    "processing_version": "Version of the processing code that produced this row.",
    "source_size_bytes": "Size of the source file in bytes.",
    "source_mtime_ns": "Modification time of the source file (ns since the epoch) when it was read.",
    "width_px": "Source image width in pixels.",
    "height_px": "Source image height in pixels.",
    "channels": "Colour channels of the source image (1 grey, 3 colour, 4 with alpha).",
    "bit_depth": "Bits per channel of the source image.",
    "processed_sha256": "sha256 of the processed PNG's bytes (its file name).",
    "processed_width_px": "Processed image width in pixels (the trace's bounding box).",
    "processed_height_px": "Processed image height in pixels.",
    "processed_at": "When this row was produced (UTC, ISO 8601).",
    **{metric.name: metric.description for metric in QC_METRIC_DECLARATIONS if metric.indexed},
    "start_s": "Where the lead's signal starts in the recording (s): 0 for a per-lead image; 0, 2.5, 5, 7.5 for the columns of a 3x4 page.",
    "duration_s": "How much of the recording the lead shows (s): the digitized length for a per-lead image; the segment's length on a page (2.5 s on 3x4, 10 s for a rhythm strip).",
    "is_rhythm_strip": "True for a page's full-width rhythm strip (e.g. the 10 s lead II below a 3x4 page).",
    "lead_name_source": "How the lead name was decided: 'file_name' (per-lead image), 'layout' (position in the detected page layout) or 'printed_label' (the page's printed lead name was read and agrees with the layout, on a page where at least 3 do).",
    "ecg_index": "A page's '-<k>' suffix (Patient_<fn>-<k>.png): the patient's k-th ECG, as ecg_index in staging.ecg_labels; null otherwise.",
    "page_path": "The whole page this lead was cut from, relative to ECG_Images/ (null for a per-lead image).",
    "page_sha256": "sha256 of the page file's bytes (null for a per-lead image).",
    "page_layout": "Detected page layout: '3x4+1' (3x4 with one rhythm strip), '3x4+0'..'3x4+3', '6x2+0', '6x2+1', '12x1+0', '12x1+1'.",
    "page_layout_confidence": "0-1: the trace span against 10 s at the grid's scale, the rows' even spacing and how fully each row is inked.",
    "page_skew_deg": "Rotation the page was turned by before cutting (degrees); lead boxes are in the turned page's pixels.",
    "page_perspective_deg": "How far the page's trace rows' angles spread (degrees): near 0 on a scan; above 1.2 the page was photographed at an angle, which is not corrected, and its leads fail QC saying so.",
    "page_lead_order": "The order the page prints its limb leads in: 'standard' (I, II, III, aVR, aVL, aVF) or 'cabrera' (aVL, I, -aVR, II, aVF, III in their places, on 3x4 and 6x2 pages whose printed names read agree with it better); a Cabrera page's -aVR segment is stored as lead aVR with its signal negated. Null for a per-lead image or a page whose layout was not placed.",
    "lead_box_x0": "The lead segment's box on the (deskewed) page: left edge (px).",
    "lead_box_y0": "Top edge (px).",
    "lead_box_x1": "Right edge, exclusive (px).",
    "lead_box_y1": "Bottom edge, exclusive (px).",
}

SIGNAL_DESCRIPTIONS = {
    "file_number": "Patient file number.",
    "lead": "Lead (I, II, III, aVR, aVL, aVF, V1-V6).",
    "sampling_rate_hz": "Sampling rate of signal_mv (Hz).",
    "n_samples": "Number of samples in signal_mv.",
    "signal_mv": "The digitized trace in millivolts, baseline at 0, evenly sampled from the trace's first column.",
    "calibration_source": "Where the scale came from: 'grid', 'pulse' or 'default' (see staging.ecg_images).",
    "qc_passed": "The image's QC verdict (see staging.ecg_images.qc_reasons).",
    "qc_reasons": "Why QC did not pass (empty when it passed).",
    "source_sha256": "sha256 of the source image the signal was digitized from.",
    "processing_version": "Version of the processing code that produced the signal.",
    "source_path": "The image the signal was digitized from, relative to ECG_Images/ (a page's path for a page segment).",
    "start_s": "Where the signal starts in the recording (s): 0 for a per-lead image; the segment's start on a page.",
    "duration_s": "How much of the recording the signal covers (s).",
    "is_rhythm_strip": "True for a page's full-width rhythm strip.",
}


class ArtifactLayout:
    def __init__(self, artifacts_root: Path):
        self.root = artifacts_root
        self.base = artifacts_root / "ecg_images"
        self.index_path = self.base / "index.parquet"
        self.signals_dir = artifacts_root / "signals"
        self.processed_dir = self.base / "processed"

    def processed_relative(self, sha: str) -> str:
        return f"ecg_images/processed/{sha[:2]}/{sha}.png"

    def signal_path(self, file_number: int) -> Path:
        return self.signals_dir / f"patient_{file_number}.parquet"


_made_dirs: set[Path] = set()  # per process: a stage writes thousands of files into 256 folders


def _temporary_beside(path: Path) -> Path:
    """A hidden, unique file name next to `path`: written there, then renamed onto `path`, a file is
    never seen half written."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    if path.parent not in _made_dirs:
        path.parent.mkdir(parents=True, exist_ok=True)
        _made_dirs.add(path.parent)
    temporary = _temporary_beside(path)
    temporary.write_bytes(data)
    os.replace(temporary, path)


def with_descriptions(table: pa.Table, descriptions: dict[str, str]) -> pa.Table:
    fields = [
        field.with_metadata({b"description": descriptions[field.name].encode()}) if field.name in descriptions else field
        for field in table.schema
    ]
    # the same column buffers under a schema with field metadata (a cast would copy them)
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields, metadata=table.schema.metadata))


def atomic_write_parquet(path: Path, frame: pl.DataFrame, descriptions: dict[str, str] | None = None, use_dictionary: bool = True) -> None:
    """Write to a temporary file beside the target, then rename: readers never see half a file."""
    table = frame.to_arrow()
    atomic_write_arrow(path, with_descriptions(table, descriptions) if descriptions else table, use_dictionary)


def signal_table(records: list[dict]) -> pa.Table:
    """Signal-file rows (`SIGNAL_SCHEMA`, `signal_mv` as float32 numpy arrays) as an Arrow table,
    built from the arrays directly (no Python floats)."""
    signals = [np.asarray(record["signal_mv"], dtype=np.float32) for record in records]
    offsets = np.zeros(len(signals) + 1, dtype=np.int32)
    np.cumsum([s.size for s in signals], out=offsets[1:])
    values = np.concatenate(signals) if signals else np.zeros(0, np.float32)
    columns = {}
    for name in SIGNAL_SCHEMA:
        if name == "signal_mv":
            columns[name] = pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))
        else:
            columns[name] = pa.array([record[name] for record in records], type=_ARROW_TYPES[name])
    return pa.table(columns)


def atomic_write_arrow(path: Path, table: pa.Table, use_dictionary: bool = True) -> None:
    """Write an Arrow table as Parquet to a temporary file beside the target, then rename.

    `use_dictionary=False` for signal files: a dictionary of float samples never pays off (nearly
    every value is distinct); without it a patient's file is a third smaller and 3x faster to write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary_beside(path)
    try:
        pq.write_table(table, temporary, compression="zstd", use_dictionary=use_dictionary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # only left when the write failed


class IndexWriter:
    """Index rows (dicts in `INDEX_SCHEMA`) to `path` in row groups of `size` rows, with the column
    descriptions, through a temporary file renamed into place on success (readers never see half an
    index; on an error the old index stays). Rows are written in the order they are added."""

    def __init__(self, path: Path, size: int = 2000):
        self.path = path
        self.size = size
        self.pending: list[dict] = []
        self.temporary = _temporary_beside(path)
        self.schema = with_descriptions(empty_index().to_arrow(), INDEX_DESCRIPTIONS).schema
        self.writer: pq.ParquetWriter | None = None

    def __enter__(self) -> IndexWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(self.temporary, self.schema, compression="zstd")
        return self

    def add(self, row: dict) -> None:
        self.pending.append(row)
        if len(self.pending) >= self.size:
            self._flush()

    def _flush(self) -> None:
        table = pl.DataFrame(self.pending, schema=INDEX_SCHEMA).to_arrow()
        self.writer.write_table(pa.Table.from_arrays(table.columns, schema=self.schema))
        self.pending = []

    def __exit__(self, kind, error, trace) -> None:
        if error is None and self.pending:
            self._flush()
        self.writer.close()
        if error is None:
            os.replace(self.temporary, self.path)
        else:
            self.temporary.unlink(missing_ok=True)


def empty_index() -> pl.DataFrame:
    return pl.DataFrame(schema=INDEX_SCHEMA)


def scan_index(layout: ArtifactLayout) -> pl.LazyFrame:
    """The index as a LazyFrame in `INDEX_SCHEMA` (columns an older index lacks are null; empty
    when there is no index yet): read only what a query needs."""
    if not layout.index_path.exists():
        return empty_index().lazy()
    columns = pl.read_parquet_schema(layout.index_path)
    return pl.scan_parquet(layout.index_path).select(
        [pl.col(c).cast(t) if c in columns else pl.lit(None, dtype=t).alias(c) for c, t in INDEX_SCHEMA.items()]
    )


def read_patient_signals(layout: ArtifactLayout, file_number: int) -> pl.DataFrame:
    """A patient's signal file in `SIGNAL_SCHEMA` (columns a file written before them lacks are null)."""
    path = layout.signal_path(file_number)
    if not path.exists():
        return pl.DataFrame(schema=SIGNAL_SCHEMA)
    frame = pl.read_parquet(path)
    return frame.select([pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c) for c, t in SIGNAL_SCHEMA.items()])
