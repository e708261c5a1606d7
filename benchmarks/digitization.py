"""Digitization accuracy of the image stage on images with known signals, per condition.

    .venv/bin/python benchmarks/digitization.py DATASET_DIR TRUTH_DIR [--workers N] [--per-lead FILE.csv]
    .venv/bin/python benchmarks/digitization.py --demo 20 [--seed 2024]

DATASET_DIR holds `ECG_Images/Patient_<fn>_lead_<LEAD>.png` (the dataset's layout); TRUTH_DIR holds
`<fn>_<LEAD>.npy` (the signal each image shows, mV at 500 Hz) and `meta.json` (one entry per
"<fn>_<LEAD>" with its conditions: `grid`, `dpi`, `distortion`, ...), as in
`../shared/datasets/ecg-image-kit-renders/`. `--demo N` first draws N patients x 12 leads with the
project's own renderer (random scan artefacts, a quarter grid-free as published) into a temporary
folder in that layout, then measures them the same way.

The image stage runs as the pipeline runs it (`run_image_stage`: discovery, processing in worker
processes, index and signal files). For each condition value and overall it prints: leads
digitized (a signal came out), median Pearson r and median SNR (PhysioNet/CinC 2024 definition,
after the best alignment within +/-0.2 s and removal of the constant offset, `signal_agreement`; a
lead without a signal counts as r 0 and SNR -inf), QC precision (share of QC-passed leads with SNR
>= 10 dB) and QC recall (share of leads with SNR >= 15 dB that pass QC).

It also prints the median SNR with the timing phase removed (`phase_free_snr`): the whole-sample
alignment leaves the estimate up to half a sample (1 ms) early or late against the reference, by
chance (where the trace starts in the image against where the reference's first sample was drawn:
nothing in the image says), and on a steep QRS stroke that costs dB. The reference shifted by the
best of ten sub-sample steps shows what the reading itself is worth; the target figures stay the
whole-sample ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

FS = 500


def phase_free_snr(reference: np.ndarray, estimate: np.ndarray, lag_s: float) -> float:
    """SNR (dB, as `signal_agreement` computes it) at the best sub-sample alignment: the reference
    shifted by 0, 0.1, ..., 0.9 samples (linear interpolation), each at the whole-sample lag found and
    the one before it, so that every shift within a sample of that lag is tried."""
    from cardioml_pipeline.ecg_images.digitize import centred_overlap, snr_db

    ref = np.asarray(reference, np.float64)
    est = np.asarray(estimate, np.float64)
    lag = int(round(lag_s * FS))
    grid = np.arange(ref.size, dtype=np.float64)
    best = float("-inf")
    for fraction in np.arange(10) / 10:
        shifted = np.interp(grid + fraction, grid, ref)
        for whole in (lag - 1, lag):
            if (pair := centred_overlap(shifted, est, whole, FS // 2)) is not None:
                best = max(best, snr_db(*pair))
    return best


def dpi_band(dpi: float) -> str:
    return "100-149 dpi" if dpi < 150 else ("150-224 dpi" if dpi < 225 else "225-300 dpi")


def write_demo_truth_set(root: Path, patients: int, seed: int) -> tuple[Path, Path]:
    """N demo patients drawn by the project's renderer, with their truth, in the shared set's layout."""
    import cv2

    from cardioml_pipeline.demo.render import random_render_spec, render_lead
    from cardioml_pipeline.demo.synth import LEADS, synthesize_12_lead

    images, truth = root / "ECG_Images", root / "truth"
    images.mkdir(parents=True, exist_ok=True)
    truth.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    meta = {}
    findings = [[], ["atrial_fibrillation"], ["left_bundle_branch_block"], ["myocardial_infarction"], ["ischemia"], ["low_qrs_voltage"]]
    for p in range(patients):
        fn = 1001 + p
        signals = synthesize_12_lead(findings[p % len(findings)], float(rng.uniform(55, 100)), seed=seed + p)
        for lead in LEADS:
            spec = random_render_spec(rng, processed_style=bool(rng.random() < 0.25))
            cv2.imwrite(str(images / f"Patient_{fn}_lead_{lead}.png"), render_lead(signals[lead], FS, spec))
            np.save(truth / f"{fn}_{lead}.npy", np.asarray(signals[lead], np.float32))
            meta[f"{fn}_{lead}"] = {
                "grid": "none (processed)" if spec.processed_style else spec.grid_colour,
                "dpi": spec.dpi,
                "distortion": "rotation" if abs(spec.rotation_deg) > 0.5 else "clean",
                "lead": lead,
            }
    (truth / "meta.json").write_text(json.dumps(meta))
    return root, truth


def score(dataset: Path, truth: Path, workers: int | None) -> pl.DataFrame:
    from cardioml_pipeline.ecg_images.digitize import signal_agreement
    from cardioml_pipeline.ecg_images.index import ArtifactLayout, read_patient_signals
    from cardioml_pipeline.ecg_images.processing import run_image_stage

    meta = json.loads((truth / "meta.json").read_text())
    with tempfile.TemporaryDirectory(prefix="cardioml-digitization-") as artifacts:
        started = time.perf_counter()
        index, summary = run_image_stage(dataset / "ECG_Images", Path(artifacts), known_patients=None, workers=workers)
        index = index.collect()
        print(f"image stage: {summary.processed} processed, {summary.rejected} rejected in {time.perf_counter() - started:.1f} s")
        layout = ArtifactLayout(Path(artifacts))
        signals = {}
        for fn in sorted(set(index["file_number"].to_list())):
            for row in read_patient_signals(layout, fn).iter_rows(named=True):
                signals[(fn, row["lead"])] = np.asarray(row["signal_mv"], np.float32)
    passed = {(r["file_number"], r["lead"]): bool(r["qc_passed"]) for r in index.iter_rows(named=True)}
    reasons = {(r["file_number"], r["lead"]): "; ".join(r["qc_reasons"] or []) for r in index.iter_rows(named=True)}
    rows = []
    for key, conditions in sorted(meta.items()):
        fn_text, lead = key.split("_", 1)
        fn = int(fn_text)
        reference = np.load(truth / f"{key}.npy")
        estimate = signals.get((fn, lead))
        if estimate is not None and estimate.size >= 10:
            r, snr, lag = signal_agreement(reference, estimate, FS)
            snr_phase_free = phase_free_snr(reference, estimate, lag) if np.isfinite(lag) else float("-inf")
        else:
            r, snr, snr_phase_free = 0.0, float("-inf"), float("-inf")
        rows.append(
            {
                "key": key,
                "grid": str(conditions.get("grid")),
                "dpi band": dpi_band(float(conditions.get("dpi", 200))),
                "distortion": str(conditions.get("distortion")),
                "lead": lead,
                "digitized": estimate is not None and estimate.size >= 10,
                "r": float(r) if np.isfinite(r) else 0.0,
                "snr": float(snr) if not np.isnan(snr) else float("-inf"),
                "snr_phase_free": float(snr_phase_free) if not np.isnan(snr_phase_free) else float("-inf"),
                "qc_passed": passed.get((fn, lead), False),
                "qc_reasons": reasons.get((fn, lead), ""),
            }
        )
    return pl.DataFrame(rows)


def summarize(frame: pl.DataFrame, by: str | None) -> pl.DataFrame:
    good10, good15 = pl.col("snr") >= 10, pl.col("snr") >= 15
    aggregations = [
        pl.len().alias("leads"),
        pl.col("digitized").mean().alias("digitized"),
        pl.col("r").median().alias("median r"),
        pl.col("snr").median().alias("median SNR dB"),
        pl.col("snr_phase_free").median().alias("median SNR dB, phase removed"),
        (good10 & pl.col("qc_passed")).sum().truediv(pl.col("qc_passed").sum()).alias("QC precision"),
        (good15 & pl.col("qc_passed")).sum().truediv(good15.sum()).alias("QC recall"),
    ]
    if by is None:
        return frame.select(pl.lit("all").alias("condition"), *aggregations)
    return frame.group_by(by).agg(*aggregations).sort(by).rename({by: "condition"}).with_columns(pl.format(f"{by}={{}}", "condition").alias("condition"))


def print_table(frame: pl.DataFrame) -> None:
    parts = [summarize(frame, None)] + [summarize(frame, by) for by in ("grid", "dpi band", "distortion")]
    table = pl.concat(parts, how="vertical")
    print("| condition | leads | digitized | median r | median SNR (dB) | QC precision | QC recall | median SNR, timing phase removed (dB) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in table.iter_rows(named=True):
        def fmt(value: float | None, pattern: str) -> str:
            return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else pattern.format(value)

        print(
            f"| {row['condition']} | {row['leads']} | {fmt(row['digitized'], '{:.1%}')} | {fmt(row['median r'], '{:.3f}')} | "
            f"{fmt(row['median SNR dB'], '{:.1f}')} | {fmt(row['QC precision'], '{:.2f}')} | {fmt(row['QC recall'], '{:.2f}')} | "
            f"{fmt(row['median SNR dB, phase removed'], '{:.1f}')} |"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", nargs="?", type=Path, help="dataset root holding ECG_Images/")
    parser.add_argument("truth", nargs="?", type=Path, help="folder of <fn>_<LEAD>.npy and meta.json")
    parser.add_argument("--demo", type=int, default=0, help="draw this many demo patients with known signals and measure them")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--per-lead", type=Path, default=None, help="also write each lead's r, SNR and QC verdict to this CSV")
    args = parser.parse_args()
    if args.demo:
        with tempfile.TemporaryDirectory(prefix="cardioml-demo-truth-") as folder:
            dataset, truth = write_demo_truth_set(Path(folder), args.demo, args.seed)
            frame = score(dataset, truth, args.workers)
    elif args.dataset and args.truth:
        for path in (args.dataset / "ECG_Images", args.truth / "meta.json"):
            if not path.exists():
                parser.error(f"{path} does not exist")
        frame = score(args.dataset, args.truth, args.workers)
    else:
        parser.error("give DATASET_DIR TRUTH_DIR, or --demo N")
    print_table(frame)
    if args.per_lead:
        frame.write_csv(args.per_lead)
        all_passed = frame.filter(pl.col("qc_passed"))
        good = frame.filter(pl.col("snr") >= 15)
        precision = float((all_passed["snr"] >= 10).mean()) if all_passed.height else float("nan")
        recall = float(good["qc_passed"].mean()) if good.height else float("nan")
        print(
            f"per-lead results: {args.per_lead} (QC precision {precision:.4f}, recall {recall:.4f}, median SNR {frame['snr'].median():.2f} dB, "
            f"{int((frame['snr'] >= 18).sum())} leads >= 18 dB; timing phase removed {frame['snr_phase_free'].median():.2f} dB, "
            f"{int((frame['snr_phase_free'] >= 18).sum())} >= 18)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
