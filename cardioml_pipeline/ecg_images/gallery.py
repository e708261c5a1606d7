"""The QC gallery: one self-contained HTML page per run of the image stage, for people who would
rather look than read. For every lead that failed QC or was rejected, and a sample of passing
ones: the source image, the processed image and the digitized signal drawn on ECG paper, with the
QC metrics and reasons. Every picture is inlined as a data URI, so the page needs no server and
no network: open the file in a browser.

Written to `<artifacts>/ecg_images/qc_gallery/run_<run id>.html` (the last few runs are kept).
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import polars as pl

from cardioml_pipeline.ecg_images.index import ArtifactLayout, read_patient_signals

MAX_FAILED = 150  # failed or rejected leads shown (the page stays a few MB); the rest are counted
PASSING_SAMPLE = 12
THUMB_WIDTH = 720
KEEP_RUNS = 5
PLOT_PX_PER_MM = 4  # ECG paper: 25 mm/s, 10 mm/mV
METRICS = ("trace_coverage", "grid_residue", "noise", "beats_found", "clipping", "heart_rate_bpm", "skew_deg", "px_per_mm_x", "px_per_mm_y")


@dataclass(frozen=True)
class Gallery:
    path: Path
    failed_shown: int
    failed_total: int
    passing_shown: int


def _data_uri(image: np.ndarray | None, quality: int = 80) -> str | None:
    if image is None or image.size == 0:
        return None
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality]) if image.ndim == 3 else cv2.imencode(".png", image)
    return "data:image/" + ("jpeg" if image.ndim == 3 else "png") + ";base64," + base64.b64encode(encoded.tobytes()).decode() if ok else None


def _thumbnail(path: Path) -> np.ndarray | None:
    """The image scaled to THUMB_WIDTH (never enlarged); None when it cannot be decoded."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        return None
    if image.dtype != np.uint8:
        image = (image / 257).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    scale = min(1.0, THUMB_WIDTH / image.shape[1])
    if scale < 1.0:
        image = cv2.resize(image, (THUMB_WIDTH, max(1, round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    return image


def plot_on_ecg_grid(signal_mv: np.ndarray, fs: float) -> np.ndarray:
    """The signal drawn on ECG paper (1 mm and 5 mm lines, 25 mm/s, 10 mm/mV) as a BGR image."""
    signal = np.asarray(signal_mv, dtype=np.float64)
    signal = signal[np.isfinite(signal)]
    seconds = len(signal) / fs if len(signal) else 1.0
    mm_wide = max(25.0, seconds * 25.0)
    low, high = (float(signal.min()), float(signal.max())) if len(signal) else (-1.0, 1.0)
    low, high = min(low, -0.5) - 0.25, max(high, 0.5) + 0.25
    mm_high = (high - low) * 10.0
    width, height = int(mm_wide * PLOT_PX_PER_MM) + 1, int(mm_high * PLOT_PX_PER_MM) + 1
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    for mm in range(int(mm_wide) + 1):
        cv2.line(canvas, (mm * PLOT_PX_PER_MM, 0), (mm * PLOT_PX_PER_MM, height), (190, 190, 250) if mm % 5 else (120, 120, 235), 1)
    for mm in range(int(mm_high) + 1):
        y = height - 1 - mm * PLOT_PX_PER_MM
        cv2.line(canvas, (0, y), (width, y), (190, 190, 250) if mm % 5 else (120, 120, 235), 1)
    if len(signal) > 1:
        x = np.arange(len(signal)) / fs * 25.0 * PLOT_PX_PER_MM
        y = height - 1 - (signal - low) * 10.0 * PLOT_PX_PER_MM
        points = np.stack([x, y], axis=1).round().astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [points], False, (0, 0, 0), 1, cv2.LINE_AA)
    scale = min(1.0, THUMB_WIDTH / width)
    if scale < 1.0:
        canvas = cv2.resize(canvas, (THUMB_WIDTH, max(1, round(height * scale))), interpolation=cv2.INTER_AREA)
    return canvas


def select_leads(index: pl.DataFrame, sample: int = PASSING_SAMPLE, max_failed: int = MAX_FAILED, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """(failed or rejected rows to show, passing sample, failed total): rejected first, then failed
    QC, in file order; the passing sample is random but the same for the same index."""
    problem = pl.col("reject_reason").is_not_null() | ~pl.col("qc_passed").fill_null(False)
    failed = index.filter(problem).sort(pl.col("reject_reason").is_null(), "file_number", "lead", nulls_last=True)
    passing = index.filter(~problem)
    if passing.height > sample:
        passing = passing.sample(sample, seed=seed).sort("file_number", "lead")
    return failed.head(max_failed), passing, failed.height


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "–"
    return str(value)


def _figure(label: str, uri: str | None, missing: str) -> str:
    if uri is None:
        return f'<figure><figcaption>{label}</figcaption><div class="none">{html.escape(missing)}</div></figure>'
    return f'<figure><figcaption>{label}</figcaption><img alt="{label}" src="{uri}"></figure>'


def _card(row: dict, images_dir: Path, layout: ArtifactLayout, signals: dict[tuple[int, str], tuple[np.ndarray, float]]) -> str:
    number, lead = row["file_number"], row["lead"]
    rejected = row["reject_reason"] is not None
    verdict = f"rejected: {row['reject_reason']}" if rejected else ("QC passed" if row["qc_passed"] else "QC failed: " + "; ".join(row["qc_reasons"] or []))
    css = "rejected" if rejected else ("passed" if row["qc_passed"] else "failed")
    source = _data_uri(_thumbnail(images_dir / row["source_path"]))
    processed = _data_uri(_thumbnail(layout.root / row["processed_path"])) if row["processed_path"] else None
    signal = signals.get((number, lead))
    plotted = _data_uri(plot_on_ecg_grid(*signal)) if signal is not None else None
    metrics = "".join(f"<tr><th>{name}</th><td>{_cell(row.get(name))}</td></tr>" for name in METRICS)
    title = f"patient {number if number is not None else '?'} · lead {lead or '?'}"
    return (
        f'<section class="card {css}"><h2>{html.escape(title)}</h2><p class="verdict">{html.escape(verdict)}</p>'
        f'<p class="source">{html.escape(row["source_path"])} · calibration {html.escape(_cell(row.get("calibration_source")))}</p>'
        f'<div class="row">{_figure("source image", source, "could not be decoded")}'
        f'{_figure("processed image", processed, "not processed")}'
        f'{_figure("digitized signal on ECG paper (25 mm/s, 10 mm/mV)", plotted, "no signal")}</div>'
        f"<table>{metrics}</table></section>"
    )


STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}h1{margin-bottom:.2em}
.card{border:1px solid #ccc;border-left:6px solid #999;margin:1em 0;padding:.6em 1em;border-radius:4px}
.card.failed{border-left-color:#d08000}.card.rejected{border-left-color:#c00}.card.passed{border-left-color:#2a2}
.card h2{font-size:1.05em;margin:.2em 0}.verdict{font-weight:bold;margin:.2em 0}.source{color:#666;font-size:.85em;margin:.2em 0}
.row{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0}figcaption{font-size:.8em;color:#555}
figure img{max-width:720px;border:1px solid #ddd;display:block}.none{width:200px;height:60px;background:#f4f4f4;color:#888;font-size:.85em;padding:.5em}
table{font-size:.8em;border-collapse:collapse;margin-top:.4em}th{text-align:left;padding-right:1em;font-weight:normal;color:#555}"""


def write_gallery(index: pl.DataFrame, images_dir: Path, layout: ArtifactLayout, run_id: str, seed: int = 0) -> Gallery:
    """Write the run's gallery page (and prune older pages); returns where and what it shows."""
    failed, passing, failed_total = select_leads(index, seed=seed)
    shown = pl.concat([failed, passing], how="vertical_relaxed")
    signals: dict[tuple[int, str], tuple[np.ndarray, float]] = {}
    for number in shown.filter(pl.col("reject_reason").is_null())["file_number"].unique().to_list():
        for record in read_patient_signals(layout, number).iter_rows(named=True):
            signals[(number, record["lead"])] = (np.asarray(record["signal_mv"], dtype=np.float64), float(record["sampling_rate_hz"]))
    total = index.height
    rejected = index.filter(pl.col("reject_reason").is_not_null()).height
    summary = (
        f"{total} images: {rejected} rejected, {failed_total - rejected} failed QC, {total - failed_total} passed. "
        f"Shown: {failed.height} of {failed_total} rejected or failed leads"
        + (f" (the first {failed.height})" if failed.height < failed_total else "")
        + f", and {passing.height} passing leads at random."
    )
    body = [f"<h1>ECG image QC gallery</h1><p>run {html.escape(run_id)} · {html.escape(summary)}</p>"]
    body.append("<h1>Rejected or failed QC</h1>" if failed.height else "<p>No lead was rejected or failed QC.</p>")
    body += [_card(row, images_dir, layout, signals) for row in failed.iter_rows(named=True)]
    body.append("<h1>Passing sample</h1>")
    body += [_card(row, images_dir, layout, signals) for row in passing.iter_rows(named=True)]
    page = f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>ECG QC gallery · run {html.escape(run_id)}</title><style>{STYLE}</style></head><body>{"".join(body)}</body></html>'
    directory = layout.base / "qc_gallery"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"run_{run_id}.html"
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    temporary.write_text(page, encoding="utf-8")
    os.replace(temporary, path)
    pages = sorted(directory.glob("run_*.html"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in pages[KEEP_RUNS:]:
        old.unlink(missing_ok=True)
    return Gallery(path, failed.height, failed_total, passing.height)
