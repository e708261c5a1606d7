"""Run the image stage over a dataset: incremental, parallel, streaming.

Only new or changed images (by content hash and processing version) are processed; the rest keep
their index rows. The unit of work is one patient: a worker processes that patient's new or changed
images, writes the patient's signal file itself and sends back only the index rows. So signals
never cross process boundaries, and with a bounded number of patients in flight the workers' memory
does not grow with the number of images. The parent holds the file listing (~0.25 KB per image)
and writes the index in file order as rows become available, so it never holds the whole index.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import polars as pl

from cardioml_pipeline.parallel import bounded_map, bounded_map_dask
from cardioml_pipeline.ecg_images.discovery import ImageFile, decode_image, list_image_files, sha256_bytes
from cardioml_pipeline.ecg_images.index import (
    INDEX_SCHEMA,
    QC_METRICS,
    ArtifactLayout,
    IndexWriter,
    atomic_write_arrow,
    atomic_write_bytes,
    atomic_write_parquet,
    read_patient_signals,
    scan_index,
    signal_table,
)
from cardioml_pipeline.ecg_images.qc import backwards_patient_reason, is_pitch_outlier, is_skew_outlier, pitch_consensus, pitch_outlier_reason, skew_consensus
from cardioml_pipeline.ecg_images.version import PROCESSING_VERSION

UNKNOWN_PATIENT = "patient {} is not in the clinical tables (staging.patients)"
# QC findings that mean there is nothing to digitize: the file is rejected, not just flagged.
FATAL_QC_REASONS = ("blank image", "no trace found")


@dataclass(frozen=True)
class ImageTask:
    images_dir: str
    artifacts_root: str
    item: ImageFile
    default_px_per_mm: float | None
    expected_px_per_mm: float | None = None  # measure the grid's pitch near this one (`recheck_pitch_outliers`)
    known_skew_deg: float | None = None  # take the skew as this one (`recheck_skew_outliers`)


@dataclass(frozen=True)
class PatientTask:
    images_dir: str
    artifacts_root: str
    file_number: int
    items: tuple[ImageFile, ...]  # this patient's images to (re)process
    current_sources: tuple[str, ...]  # every file the patient has now (the others' signals are dropped)
    default_px_per_mm: float | None


@dataclass
class StageSummary:
    """What one run of the image stage did. `images_found`, `reused`, `files_processed` and
    `pages_processed` count files; `processed` (kept as it was: index rows processed without a
    reject, i.e. lead segments: a whole page gives 13), `segments_processed` (the same count, named
    for what it is), `rejected` and `qc_failed` count index rows."""

    images_found: int = 0
    processed: int = 0
    reused: int = 0
    rejected: int = 0
    qc_failed: int = 0
    patients_written: int = 0
    workers: int = 1
    seconds: float = 0.0
    reject_reasons: dict[str, int] = field(default_factory=dict)
    files_processed: int = 0  # files read and processed this run (per-lead images and whole pages)
    pages_processed: int = 0  # ... of which whole pages
    segments_processed: int = 0  # lead segments they gave (index rows without a reject) = `processed`


def processing_version() -> str:
    return PROCESSING_VERSION


def _base_row(item: ImageFile) -> dict:
    row = {name: None for name in INDEX_SCHEMA}
    row.update(
        {
            "file_number": item.file_number,
            "lead": item.lead,
            "source_path": item.relative_path,
            "source_size_bytes": item.size_bytes,
            "source_mtime_ns": item.mtime_ns,
            "qc_reasons": [],
            "processing_version": processing_version(),
            "processed_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        }
    )
    return row


def reject_row(item: ImageFile, reason: str, sha: str | None = None) -> dict:
    row = _base_row(item)
    row.update({"reject_reason": reason, "source_sha256": sha, "qc_passed": False})
    return row


def _read_source(task: ImageTask) -> tuple[np.ndarray | None, str | None, dict | None]:
    """(decoded image, sha256, None) or (None, sha or None, reject row)."""
    item = task.item
    try:
        data = (Path(task.images_dir) / item.relative_path).read_bytes()
    except OSError as error:
        return None, None, reject_row(item, f"unreadable file: {error.strerror or error}")
    sha = sha256_bytes(data)
    image, reason = decode_image(data)
    if reason is not None:
        return None, sha, reject_row(item, reason, sha)
    return image, sha, None


def _lead_row(task: ImageTask, image: np.ndarray, sha: str, result, lead: str | None = None) -> tuple[dict, np.ndarray | None]:
    """The index row (and signal) of one digitized lead: a per-lead image, or one segment of a page
    (`lead` given; the caller adds the page's columns). Writes the processed PNG."""
    item = task.item
    fatal = [r for r in result.qc_reasons if r.startswith(FATAL_QC_REASONS)]
    if fatal:
        row = reject_row(item, "; ".join(fatal), sha)
        row["lead"] = lead or item.lead
        return row, None
    # 1-bit PNG: the processed image is binary; smaller and faster to write than 8-bit, and it
    # decodes to the same 0/255 pixels (OpenCV; Pillow opens it in mode "1")
    ok, encoded = cv2.imencode(".png", result.processed_image, [cv2.IMWRITE_PNG_BILEVEL, 1])
    if not ok:
        row = reject_row(item, "could not encode the processed image", sha)
        row["lead"] = lead or item.lead
        return row, None
    processed_bytes = encoded.tobytes()
    processed_sha = sha256_bytes(processed_bytes)
    layout = ArtifactLayout(Path(task.artifacts_root))
    relative = layout.processed_relative(processed_sha)
    target = layout.root / relative
    if not target.exists():
        atomic_write_bytes(target, processed_bytes)
    row = _base_row(item)
    channels = 1 if image.ndim == 2 else image.shape[2]
    signal = np.asarray(result.signal_mv, dtype=np.float32)
    row.update(
        {
            "lead": lead or item.lead,
            "source_sha256": sha,
            "width_px": image.shape[1],
            "height_px": image.shape[0],
            "channels": channels,
            "bit_depth": 16 if image.dtype == np.uint16 else 8,
            "px_per_mm_x": result.px_per_mm_x,
            "px_per_mm_y": result.px_per_mm_y,
            "calibration_source": result.calibration_source,
            "processed_path": relative,
            "processed_sha256": processed_sha,
            "processed_width_px": result.processed_image.shape[1],
            "processed_height_px": result.processed_image.shape[0],
            "qc_passed": bool(result.qc_passed),
            "qc_reasons": list(result.qc_reasons),
            # a per-lead image is its own recording: it starts at 0 and lasts as long as its trace
            "start_s": 0.0,
            "duration_s": float(signal.size / result.sampling_rate_hz) if result.sampling_rate_hz else None,
            "is_rhythm_strip": False,
            "lead_name_source": "file_name",
        }
    )
    for metric in QC_METRICS:
        value = result.qc_metrics.get(metric)
        row[metric] = None if value is None or not np.isfinite(value) else float(value)
    row["_sampling_rate_hz"] = int(result.sampling_rate_hz)
    return row, signal


def process_one(task: ImageTask) -> tuple[dict, np.ndarray | None]:
    """Decode, preprocess, digitize and QC one image; write its processed PNG. Never raises for bad
    input: problems come back as a reject row."""
    from cardioml_pipeline.ecg_images.pipeline import process_lead_image

    item = task.item
    image, sha, rejected = _read_source(task)
    if rejected is not None:
        return rejected, None
    try:
        result = process_lead_image(
            image, default_px_per_mm=task.default_px_per_mm, expected_px_per_mm=task.expected_px_per_mm, known_skew_deg=task.known_skew_deg
        )
    except Exception as error:  # a bug or an image we cannot handle: keep the run going, say why
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        return reject_row(item, f"processing failed: {detail}", sha), None
    return _lead_row(task, image, sha, result)


def process_page_file(task: ImageTask) -> list[tuple[dict, np.ndarray | None]]:
    """A whole 12-lead page: its layout found, each lead segment digitized like a per-lead image.
    One index row per segment (lead II twice on a 3x4 + II page), each carrying the page's path,
    sha256, layout and the segment's box and times; or one reject row when the layout cannot be
    placed. Never raises for bad input."""
    from cardioml_pipeline.ecg_images.pages import MAX_ROW_CONVERGENCE_DEG, process_page

    item = task.item
    image, sha, rejected = _read_source(task)
    if rejected is not None:
        rejected.update(page_path=item.relative_path, page_sha256=sha, ecg_index=item.ecg_index)
        return [(rejected, None)]
    page_columns = {"page_path": item.relative_path, "page_sha256": sha, "ecg_index": item.ecg_index}
    try:
        layout, leads = process_page(image, task.default_px_per_mm)
    except Exception as error:  # a bug or a page we cannot handle: keep the run going, say why
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        row = reject_row(item, f"processing failed: {detail}", sha)
        row.update(page_columns)
        return [(row, None)]
    page_columns.update(
        page_layout=layout.layout,
        page_layout_confidence=float(layout.confidence),
        page_skew_deg=float(layout.skew_deg),
        page_perspective_deg=float(layout.perspective_deg),
        page_lead_order=layout.lead_order if layout.layout is not None else None,
    )
    if layout.reject_reason is not None:
        row = reject_row(item, layout.reject_reason, sha)
        row.update(page_columns)
        return [(row, None)]
    out = []
    for lead in leads:
        box = lead.box
        row, signal = _lead_row(task, image, sha, lead.result, lead=box.lead)
        row.update(page_columns)
        if layout.perspective_deg > MAX_ROW_CONVERGENCE_DEG:
            # not corrected: the boxes and the scale of a leaning page hold only roughly
            row["qc_reasons"] = [
                *row["qc_reasons"],
                f"page photographed at an angle: its trace rows converge by {layout.perspective_deg:.1f} degrees "
                f"(> {MAX_ROW_CONVERGENCE_DEG}; perspective is not corrected, lead boxes and scale may be off)",
            ]
            row["qc_passed"] = False
        row.update(
            start_s=box.start_s,
            duration_s=box.duration_s,
            is_rhythm_strip=box.is_rhythm_strip,
            lead_name_source=box.lead_name_source,
            lead_box_x0=box.x0,
            lead_box_y0=box.y0,
            lead_box_x1=box.x1,
            lead_box_y1=box.y1,
        )
        out.append((row, signal))
    return out


def signal_record(row: dict, signal: np.ndarray, sampling_rate_hz: int) -> dict:
    """The signal-file row of one processed image (see `index.SIGNAL_SCHEMA`)."""
    return {
        "file_number": row["file_number"],
        "lead": row["lead"],
        "sampling_rate_hz": sampling_rate_hz,
        "n_samples": int(signal.size),
        "signal_mv": np.asarray(signal, dtype=np.float32),
        "calibration_source": row["calibration_source"],
        "qc_passed": row["qc_passed"],
        "qc_reasons": row["qc_reasons"],
        "source_sha256": row["source_sha256"],
        "processing_version": row["processing_version"],
        "source_path": row["source_path"],
        "start_s": row["start_s"],
        "duration_s": row["duration_s"],
        "is_rhythm_strip": row["is_rhythm_strip"],
    }


def write_patient_signals(layout: ArtifactLayout, file_number: int, fresh: list[dict], current_sources: set[str]) -> bool:
    """Merge freshly digitized leads into the patient's signal file, dropping the rows of source files
    processed again or no longer there (a row's source is its `source_path`: a per-lead image, or a
    page with one row per lead segment); delete the file when nothing is left. Returns whether a
    file was written."""
    path = layout.signal_path(file_number)
    fresh = sorted(fresh, key=_signal_order)
    if fresh and not path.exists():  # the common case, a new patient: straight to Arrow, no merge
        atomic_write_arrow(path, signal_table(fresh), use_dictionary=False)
        return True
    fresh_sources = {record["source_path"] for record in fresh}
    # rows written before signal files named their source (null source_path) are dropped: the
    # processing version changed with that, so every current file is processed again
    kept = read_patient_signals(layout, file_number).filter(
        ~pl.col("source_path").is_in(list(fresh_sources)) & pl.col("source_path").is_in(list(current_sources))
    )
    frame = pl.concat([kept, pl.from_arrow(signal_table(fresh))], how="vertical") if fresh else kept
    if frame.height:
        atomic_write_parquet(path, frame.sort("lead", "source_path", "is_rhythm_strip", "start_s"), use_dictionary=False)
        return True
    if path.exists():
        path.unlink()
    return False


def _signal_order(record: dict) -> tuple:
    return (record["lead"], record["source_path"], bool(record["is_rhythm_strip"]), record["start_s"] or 0.0)


def fail_backwards_patient(rows: list[dict]) -> None:
    """All of a patient's processed leads fail QC when together they run backwards
    (`qc.backwards_patient_reason`: an upside-down or mirrored scan). Judged on the leads processed
    in this run (a re-run that reprocesses a single changed image judges that image alone)."""
    processed = [row for row in rows if row["reject_reason"] is None]
    reason = backwards_patient_reason([row.get("time_reversal") for row in processed])
    if reason is None:
        return
    for row in processed:
        row["qc_reasons"] = [*row["qc_reasons"], reason]
        row["qc_passed"] = False


def _read_outliers_again(
    task: PatientTask, results: list[tuple[dict, np.ndarray | None]], metric: str, consensus_of, is_outlier, options_of, gridless_too: bool = False
):
    """For each of the patient's per-lead grid-calibrated images whose `metric` (an index column) is
    an outlier (`is_outlier(value, consensus)`) from what the others agree on (`consensus_of(values)`),
    and with `gridless_too` each per-lead image in which no grid was found: yields (its position in
    `results`, the consensus, the image processed again with the `ImageTask` options
    `options_of(row, consensus)`). Pages are left out: a page has one grid, and one angle, for all
    its leads."""
    per_lead = [i for i, (row, _) in enumerate(results) if row["reject_reason"] is None and row.get("page_path") is None]
    grid_leads = [i for i in per_lead if results[i][0].get("calibration_source") == "grid"]
    consensus = consensus_of([results[i][0].get(metric) for i in grid_leads])
    if consensus is None:
        return
    items = {item.relative_path: item for item in task.items}
    for i in per_lead:
        row = results[i][0]
        gridless = row.get("calibration_source") != "grid"
        if (gridless and gridless_too) or (not gridless and is_outlier(row.get(metric), consensus)):
            item = items[row["source_path"]]
            yield i, consensus, process_one(ImageTask(task.images_dir, task.artifacts_root, item, task.default_px_per_mm, **options_of(row, consensus)))


def recheck_pitch_outliers(task: PatientTask, results: list[tuple[dict, np.ndarray | None]]) -> int:
    """A per-lead image whose grid pitch disagrees with the pitch the patient's other per-lead images
    agree on (`qc.pitch_consensus`; they are cut from one scan) is processed again with its pitch
    sought near the agreed one. The new reading replaces the old when its pitch agrees; otherwise
    the lead fails QC with the disagreement as the reason. A per-lead image in which no grid was
    found while the others agree on one (a grid too faint under the paper's noise to tell from the
    trace's own periodicity) is read again the same way, and keeps its first reading unless a grid
    is found at the agreed pitch. Pages are left out (a page has one grid for all its leads).
    Changes `results` in place; returns how many leads were read again."""
    rechecked = 0
    for i, consensus, again in _read_outliers_again(
        task, results, "px_per_mm_x", pitch_consensus, is_pitch_outlier, lambda row, agreed: dict(expected_px_per_mm=agreed), gridless_too=True
    ):
        rechecked += 1
        new_row = again[0]
        if new_row["reject_reason"] is None and new_row.get("calibration_source") == "grid" and not is_pitch_outlier(new_row.get("px_per_mm_x"), consensus):
            results[i] = again
        elif results[i][0].get("calibration_source") != "grid":
            pass  # no grid either way: the first reading stands
        else:
            row = results[i][0]
            row["qc_reasons"] = [*row["qc_reasons"], pitch_outlier_reason(float(row["px_per_mm_x"]), consensus)]
            row["qc_passed"] = False
    return rechecked


def recheck_skew_outliers(task: PatientTask, results: list[tuple[dict, np.ndarray | None]]) -> int:
    """A per-lead image whose skew disagrees with the angle the patient's other per-lead images agree
    on (`qc.skew_consensus`; cut from one scan, they share its rotation) is processed again at that
    angle: a tenth of a degree of tilt left in a 10 s strip moves its baseline by ~0.05 mV, and a
    short strip's lines can measure a wrong angle (heavy noise, a dark grid at 100 dpi). The new
    reading replaces the old one unless it found no trace. Changes `results` in place; returns how
    many leads were read again."""
    rechecked = 0
    for i, _, again in _read_outliers_again(
        task,
        results,
        "skew_deg",
        skew_consensus,
        is_skew_outlier,
        # the pitch already read (or agreed on by `recheck_pitch_outliers`) is kept
        lambda row, agreed: dict(expected_px_per_mm=row.get("px_per_mm_x"), known_skew_deg=agreed),
    ):
        rechecked += 1
        if again[0]["reject_reason"] is None:
            results[i] = again
    return rechecked


def process_patient(task: PatientTask) -> tuple[list[dict], bool]:
    """Process one patient's images (`process_one` each, `process_page_file` for a whole page) and
    write its signal file. Returns the index rows and whether a signal file was written."""
    results = []
    for item in task.items:
        image_task = ImageTask(task.images_dir, task.artifacts_root, item, task.default_px_per_mm)
        results.extend(process_page_file(image_task) if item.is_page else [process_one(image_task)])
    recheck_pitch_outliers(task, results)
    recheck_skew_outliers(task, results)
    fail_backwards_patient([row for row, _ in results])
    rows, fresh = [], []
    for row, signal in results:
        sampling_rate = row.pop("_sampling_rate_hz", None)
        if signal is not None and row["reject_reason"] is None:
            fresh.append(signal_record(row, signal, sampling_rate))
        rows.append(row)
    written = write_patient_signals(ArtifactLayout(Path(task.artifacts_root)), task.file_number, fresh, set(task.current_sources))
    return rows, written


def run_image_stage(images_dir: Path, artifacts_root: Path, known_patients: set[int] | None, **options) -> tuple[pl.LazyFrame, StageSummary]:
    """Process new or changed images, reuse the rest, write the index and signal files (options:
    workers, default_px_per_mm, progress, engine, dask_scheduler_address; see _run_image_stage).

    One stage at a time per artifacts folder (a file lock; a second run waits): so the temporary
    files a killed run left (`.index.parquet.<hex>.tmp`, half-written signal shards) are known to
    be stale and are removed first."""
    layout = ArtifactLayout(artifacts_root)
    layout.base.mkdir(parents=True, exist_ok=True)
    with open(layout.base / ".stage.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # released when the file closes, or the process dies
        for folder in (layout.base, layout.signals_dir):
            for stale in folder.glob(".*.tmp") if folder.exists() else ():
                stale.unlink(missing_ok=True)
        return _run_image_stage(images_dir, artifacts_root, known_patients, **options)


def _run_image_stage(
    images_dir: Path,
    artifacts_root: Path,
    known_patients: set[int] | None,
    workers: int | None = None,
    default_px_per_mm: float | None = None,
    progress: Callable[[int, int], None] | None = None,
    engine: str = "local",
    dask_scheduler_address: str | None = None,
) -> tuple[pl.LazyFrame, StageSummary]:
    """Returns the new index (one row per source file; a LazyFrame over the written file: collect
    what you need) and a summary of what was done."""
    import time

    started = time.perf_counter()
    layout = ArtifactLayout(artifacts_root)
    version = processing_version()
    # only what the reuse decision needs, as tuples (full row dicts for 70,000 images cost ~200 MB);
    # reused rows are read from the previous index batch by batch while the new one is written
    # a page has one row per lead segment: its first decides (a page is reused whole or not at all)
    previous_by_path: dict[str, _PreviousRow] = {}
    for path, *values in (
        scan_index(layout)
        .select("source_path", "processing_version", "reject_reason", "processed_path", "source_size_bytes", "source_mtime_ns", "source_sha256")
        .collect()
        .iter_rows()
    ):
        if path not in previous_by_path:
            previous_by_path[path] = _PreviousRow(*values)
    files = list_image_files(images_dir)
    summary = StageSummary(images_found=len(files))
    workers = workers or max(1, os.cpu_count() or 1)
    summary.workers = workers

    # Each file's fate, decided up front: rejected (with its reason), reused or processed.
    fates: list[str | None] = []  # the reject reason, _REUSED, or None (processed)
    to_process: dict[int, list[ImageFile]] = {}
    for item in files:
        if item.reject_reason is not None:
            fates.append(item.reject_reason)
        elif known_patients is not None and item.file_number not in known_patients:
            fates.append(UNKNOWN_PATIENT.format(item.file_number))
        elif (old := previous_by_path.get(item.relative_path)) is not None and _reusable(old, item, version, layout, images_dir):
            fates.append(_REUSED)
            summary.reused += 1
        else:
            fates.append(None)
            to_process.setdefault(item.file_number, []).append(item)
    previous_sorted = _sorted_by_path(previous_by_path)
    del previous_by_path

    # Leads each patient has now: a lead that disappeared is dropped from the patient's signal file.
    current_sources: dict[int, set[str]] = {}
    for item in files:
        if item.file_number is not None and (item.lead is not None or item.is_page) and item.reject_reason is None:
            current_sources.setdefault(item.file_number, set()).add(item.relative_path)
    tasks = [
        PatientTask(str(images_dir), str(artifacts_root), file_number, tuple(items), tuple(sorted(current_sources.get(file_number, ()))), default_px_per_mm)
        for file_number, items in to_process.items()
    ]
    total = sum(len(task.items) for task in tasks)

    if engine == "dask":
        results = bounded_map_dask(process_patient, tasks, dask_scheduler_address, local_workers=workers)
    elif engine == "local":
        results = bounded_map(process_patient, tasks, min(workers, max(1, len(tasks))))
    else:
        raise ValueError(f"unknown image engine {engine!r}: expected 'local' or 'dask'")

    # The index is written in the files' (sorted path) order as rows become available: reject rows
    # at once, reused rows from the previous index (sorted the same way), processed rows when their
    # patient's task comes back (tasks go out in file order, so few wait). Nothing is sorted at the
    # end and the whole index is never in memory.
    arrived: dict[str, list[dict]] = {}  # a page gives several rows (one per lead segment)
    done_count = 0

    def processed_rows(path: str) -> list[dict]:
        nonlocal done_count
        while path not in arrived:
            task, (patient_rows, written) = next(results)
            for row in patient_rows:
                arrived.setdefault(row["source_path"], []).append(row)
            summary.patients_written += written
            done_count += len(task.items)
            if progress is not None:
                progress(done_count, total)
        return arrived.pop(path)

    previous_rows = _PreviousRows(layout, previous_sorted)
    reasons: dict[str, int] = {}
    with IndexWriter(layout.index_path) as writer:
        for item, fate in zip(files, fates):
            if fate is None:
                rows = processed_rows(item.relative_path)
                summary.processed += sum(row["reject_reason"] is None for row in rows)
                summary.segments_processed = summary.processed
                summary.files_processed += 1
                summary.pages_processed += int(item.is_page)
            elif fate is _REUSED:
                rows = previous_rows.get(item.relative_path)
                for row in rows:
                    row["source_mtime_ns"] = item.mtime_ns
            else:
                rows = [reject_row(item, fate)]
                if item.is_page:
                    rows[0].update(page_path=item.relative_path, ecg_index=item.ecg_index)
            for row in rows:
                if row["reject_reason"] is not None:
                    summary.rejected += 1
                    reason = row["reject_reason"].split(":", 1)[0]
                    reasons[reason] = reasons.get(reason, 0) + 1
                elif not row["qc_passed"]:
                    summary.qc_failed += 1
                writer.add(row)
        for _ in results:  # every task has rows, so none is left; this closes the worker pool
            pass
    summary.reject_reasons = reasons

    # Signal files of patients whose leads were removed (no processing happened for them).
    for path in sorted(layout.signals_dir.glob("patient_*.parquet")) if layout.signals_dir.exists() else []:
        file_number = int(path.stem.split("_", 1)[1])
        if file_number not in to_process:
            stored = read_patient_signals(layout, file_number)
            if set(stored["source_path"].to_list()) - current_sources.get(file_number, set()):
                summary.patients_written += write_patient_signals(layout, file_number, [], current_sources.get(file_number, set()))
    index = scan_index(layout)
    summary.seconds = time.perf_counter() - started
    return index, summary


@dataclass(frozen=True)
class _PreviousRow:
    processing_version: str | None
    reject_reason: str | None
    processed_path: str | None
    source_size_bytes: int | None
    source_mtime_ns: int | None
    source_sha256: str | None


_REUSED = "<reused>"  # a file's fate: its previous index row is kept (compared by identity)


def _sorted_by_path(previous: dict[str, _PreviousRow]) -> bool:
    paths = list(previous)
    return all(a <= b for a, b in zip(paths, paths[1:]))


class _PreviousRows:
    """Rows of the previous index by path (all of a page's rows), for reused files asked for in path
    order: read batch by batch alongside (the index is written sorted by path, a page's rows
    together). An index that is not sorted (written by an older version) is read whole instead."""

    def __init__(self, layout: ArtifactLayout, in_order: bool):
        self.layout = layout
        self.in_order = in_order
        self.batches = None
        self.rows: dict[str, list[dict]] = {}
        self.last_path: str | None = None  # the last path read: its rows may go on in the next batch
        self.exhausted = False

    def get(self, path: str) -> list[dict]:
        if not self.in_order:
            if not self.rows:
                for row in scan_index(self.layout).collect().iter_rows(named=True):
                    self.rows.setdefault(row["source_path"], []).append(row)
            return [dict(row) for row in self.rows[path]]
        if self.batches is None:
            self.batches = scan_index(self.layout).collect_batches(chunk_size=2000)
        while (path not in self.rows or path == self.last_path) and not self.exhausted:
            try:
                batch = next(self.batches)
            except StopIteration:
                self.exhausted = True
                break
            rows = {self.last_path: self.rows[self.last_path]} if self.last_path in self.rows else {}
            for row in batch.iter_rows(named=True):
                rows.setdefault(row["source_path"], []).append(row)
                self.last_path = row["source_path"]
            self.rows = rows
        return self.rows.pop(path)  # a KeyError here would mean a reused file without a row


def _reusable(old: _PreviousRow, item: ImageFile, version: str, layout: ArtifactLayout, images_dir: Path) -> bool:
    """Same bytes (size and mtime unchanged, or the same sha256) under the same processing version,
    processed before, and its artifacts still on disk."""
    if old.processing_version != version or old.reject_reason is not None:
        return False
    if old.processed_path is None or not (layout.root / old.processed_path).exists():
        return False
    if not layout.signal_path(item.file_number).exists():
        return False
    if old.source_size_bytes != item.size_bytes:
        return False
    source = images_dir / item.relative_path
    # unreadable now (permissions changed since the last run: chmod leaves size and mtime alone):
    # not reusable, so processing turns it into a reject row instead of keeping a stale row
    if not os.access(source, os.R_OK):
        return False
    if old.source_mtime_ns == item.mtime_ns:
        return True
    # touched but maybe not changed: compare content
    try:
        return sha256_bytes(source.read_bytes()) == old.source_sha256
    except OSError:
        return False
