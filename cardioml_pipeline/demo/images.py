"""Demo ECG images: 12 lead images per patient, rendered from a synthetic 12-lead signal that is
consistent with the patient's labels, in the dataset's layout (`ECG_Images/Patient_<n>_lead_<lead>.png`).

The signal each image was drawn from is saved for evaluation only, outside ECG_Images/, in
`demo_truth/signals/patient_<n>.parquet` (one row per lead: the signal and how it was rendered).

With a page layout (`cardioml demo-data --pages`), each patient gets one whole 12-lead page instead,
`ECG_Images/Patient_<n>.png` (3x4 + a lead II rhythm strip by default, `demo.pages`), drawn from a 10 s
signal; `demo_truth/signals/` holds those signals and `demo_truth/pages/patient_<n>.parquet` one row
per lead segment drawn (lead, start and end sample, rhythm strip or not, its box on the page).
"""

from __future__ import annotations

import os
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
import polars as pl

from cardioml_pipeline.parallel import bounded_map

TRUTH_DIR = "demo_truth/signals"
PAGE_TRUTH_DIR = "demo_truth/pages"
SIGNAL_FS = 500
# Per-lead strips like a printed 12-lead ECG: 5 s, longer when the rate is slow, so that every
# strip holds at least four beats (the published images are cropped to >= 4 beats).
MIN_SECONDS, MAX_SECONDS, MIN_BEATS = 5.0, 10.0, 4.5
# Scan-style PNGs are stored at 32 levels per channel: 8-bit scanner gradients made each image
# ~0.9 MB (6 GB for 574 patients); posterized they are ~4x smaller and digitize the same.
POSTERIZE_STEP = 8


def strip_seconds(heart_rate_bpm: float | None) -> float:
    if not heart_rate_bpm or heart_rate_bpm <= 0:
        return MAX_SECONDS
    return float(min(MAX_SECONDS, max(MIN_SECONDS, MIN_BEATS * 60.0 / heart_rate_bpm)))


@dataclass(frozen=True)
class PatientImageTask:
    out_dir: str
    file_number: int
    findings: tuple[str, ...]
    heart_rate_bpm: float | None
    seed: int
    processed_style: bool
    page_layout: str | None = None  # a whole page in this layout instead of 12 lead images
    page_lead_order: str = "standard"  # the page's limb-lead order ("standard" or "cabrera", `demo.pages`)


def patient_seed(seed: int, file_number: int) -> int:
    return zlib.crc32(f"{seed}:{file_number}".encode())


def render_patient_page(task: PatientImageTask) -> int:
    """Render and write one patient's whole page and its truth files; returns the bytes written."""
    from cardioml_pipeline.demo.pages import render_page
    from cardioml_pipeline.demo.synth import LEADS, synthesize_12_lead

    out = Path(task.out_dir)
    signals = synthesize_12_lead(list(task.findings), task.heart_rate_bpm, seed=task.seed, duration_s=10.0, fs=SIGNAL_FS)
    rng = np.random.default_rng(task.seed)
    dpi = int(rng.choice([100, 150, 200]))
    grid_colour = str(rng.choice(["pink", "red", "grey"]))
    rotation = float(rng.uniform(-1.5, 1.5))
    page, segments = render_page(
        signals, SIGNAL_FS, layout=task.page_layout, dpi=dpi, grid_colour=grid_colour, rotation_deg=rotation, seed=task.seed, lead_order=task.page_lead_order
    )
    page = (page // POSTERIZE_STEP * POSTERIZE_STEP + POSTERIZE_STEP // 2).astype(np.uint8)  # as the lead images (smaller PNGs)
    ok, encoded = cv2.imencode(".png", page)
    if not ok:
        raise RuntimeError(f"could not encode the page of patient {task.file_number}")
    (out / "ECG_Images" / f"Patient_{task.file_number}.png").write_bytes(encoded.tobytes())
    spec = {"page_layout": task.page_layout, "dpi": dpi, "grid_colour": grid_colour, "rotation_deg": rotation}
    if task.page_lead_order != "standard":  # (the standard order's spec reads as it always did)
        spec["lead_order"] = task.page_lead_order
    spec = str(spec)
    truth = pl.DataFrame(
        [
            {"file_number": task.file_number, "lead": lead, "sampling_rate_hz": SIGNAL_FS, "signal_mv": signals[lead].astype(np.float32).tolist(), "findings": list(task.findings), "render_spec": spec}
            for lead in LEADS
        ],
        schema_overrides={"signal_mv": pl.List(pl.Float32), "sampling_rate_hz": pl.Int32},
    )
    truth.write_parquet(out / TRUTH_DIR / f"patient_{task.file_number}.parquet", compression="zstd")
    pl.DataFrame(
        [
            {
                "file_number": task.file_number, "lead": s.lead, "start_sample": s.start_sample, "end_sample": s.end_sample,
                "start_s": s.start_sample / SIGNAL_FS, "duration_s": (s.end_sample - s.start_sample) / SIGNAL_FS, "is_rhythm_strip": s.is_rhythm_strip,
                "box_x0": s.box[0], "box_y0": s.box[1], "box_x1": s.box[2], "box_y1": s.box[3], "page_layout": task.page_layout,
                "printed_label": s.printed_label, "inverted": s.inverted,
            }
            for s in segments
        ]
    ).write_parquet(out / PAGE_TRUTH_DIR / f"patient_{task.file_number}.parquet", compression="zstd")
    return len(encoded)


def render_patient(task: PatientImageTask) -> int:
    """Render and write one patient's 12 images and truth file; returns the bytes written."""
    from cardioml_pipeline.demo.render import random_render_spec, render_lead
    from cardioml_pipeline.demo.synth import LEADS, synthesize_12_lead

    if task.page_layout is not None:
        return render_patient_page(task)

    out = Path(task.out_dir)
    signals = synthesize_12_lead(list(task.findings), task.heart_rate_bpm, seed=task.seed, duration_s=strip_seconds(task.heart_rate_bpm), fs=SIGNAL_FS)
    rng = np.random.default_rng(task.seed)
    truth_rows = []
    written = 0
    for lead in LEADS:
        spec = random_render_spec(rng, processed_style=task.processed_style)
        image = render_lead(signals[lead], SIGNAL_FS, spec)
        if not spec.processed_style:
            image = (image // POSTERIZE_STEP * POSTERIZE_STEP + POSTERIZE_STEP // 2).astype(np.uint8)
        ok, encoded = cv2.imencode(".png", image)
        if not ok:
            raise RuntimeError(f"could not encode the image of patient {task.file_number}, lead {lead}")
        path = out / "ECG_Images" / f"Patient_{task.file_number}_lead_{lead}.png"
        path.write_bytes(encoded.tobytes())
        written += len(encoded)
        truth_rows.append(
            {
                "file_number": task.file_number,
                "lead": lead,
                "sampling_rate_hz": SIGNAL_FS,
                "signal_mv": signals[lead].astype(np.float32).tolist(),
                "findings": list(task.findings),
                "render_spec": str(asdict(spec)),
            }
        )
    truth = pl.DataFrame(truth_rows, schema_overrides={"signal_mv": pl.List(pl.Float32), "sampling_rate_hz": pl.Int32})
    truth.write_parquet(out / TRUTH_DIR / f"patient_{task.file_number}.parquet", compression="zstd")
    return written


def write_demo_images(
    out_dir: Path,
    patients: pl.DataFrame,
    seed: int,
    processed_style: bool = False,
    workers: int | None = None,
    progress=None,
    page_layout: str | None = None,
    page_lead_order: str = "standard",
) -> dict:
    """Write every patient's 12 lead images, or one whole page each in `page_layout` with its limb
    leads in `page_lead_order` (in parallel over `workers` processes)."""
    if page_layout is not None:
        from cardioml_pipeline.demo.pages import LAYOUTS, LEAD_ORDERS

        if page_layout not in LAYOUTS:
            raise ValueError(f"unknown page layout {page_layout!r}: expected one of {', '.join(LAYOUTS)}")
        if page_lead_order not in LEAD_ORDERS:
            raise ValueError(f"unknown page lead order {page_lead_order!r}: expected one of {', '.join(LEAD_ORDERS)}")
        (out_dir / PAGE_TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    (out_dir / "ECG_Images").mkdir(parents=True, exist_ok=True)
    (out_dir / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    tasks = [
        PatientImageTask(
            str(out_dir),
            int(row["file_number"]),
            tuple(row["findings"] or ()),
            float(row["pulse_rate"]) if row.get("pulse_rate") is not None else None,
            patient_seed(seed, int(row["file_number"])),
            processed_style,
            page_layout,
            page_lead_order,
        )
        for row in patients.select("file_number", "findings", "pulse_rate").iter_rows(named=True)
    ]
    workers = workers or max(1, os.cpu_count() or 1)
    total_bytes = 0
    for done, (_, written) in enumerate(bounded_map(render_patient, tasks, workers), start=1):
        total_bytes += written
        if progress is not None:
            progress(done, len(tasks))
    if page_layout is not None:
        return {"pages": len(tasks), "page_layout": page_layout, "page_lead_order": page_lead_order, "image_bytes": total_bytes}
    return {"images": len(tasks) * 12, "image_bytes": total_bytes, "processed_style": processed_style}
