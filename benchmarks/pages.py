"""Whole 12-lead pages: ours side by side with ECGMiner, and the ecg-image-kit pages.

    .venv/bin/python benchmarks/pages.py [--shared ../shared/datasets] [--limit N]

1. `ecgminer-ludb-pages/`: ECGMiner's own validation pages (3x4 + lead II, LUDB records 1-20). Each
   page goes through `pages.process_page` (layout, crops, `process_lead_image` per crop). Ours and
   ECGMiner's digitization (`ecgminer_digitized/`) are scored the same way, per lead segment, against
   the part of the signal that segment shows (`signal/`: a 2.5 s window for the 3x4 leads, 10 s for
   the lead II strip): Pearson r and PhysioNet 2024 SNR after the best alignment within +/-0.2 s with
   the constant offset removed (`digitize.signal_agreement`, as benchmarks/digitization.py). A lead
   without a signal counts as r 0 and SNR -inf (it pulls the median down, as it should).
2. `ecg-image-kit-renders/pages/`: 3x4 + II and 6x2 + II pages with the kit's truth per segment
   (`_truth.npz`: I..V6 and II_rhythm): every lead found, median r and SNR.
3. Cost: a page through `process_page` vs its lead crops each through `process_lead_image` alone
   (what the twelve leads cost as separate images), CPU time on one OpenCV thread (`cost`); and the
   same two through the image stage's own per-patient path (`processing.process_patient`: reading,
   hashing, digitizing, the patient's pitch and skew re-checks of separate lead images, processed
   PNGs and the signal file written; `stage_cost`), page by page.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

FS = 500
ECGMINER_WINDOWS = {  # the 2.5 s window each 3x4 lead shows (rows of signal/NNN.csv)
    **{lead: (0, 1250) for lead in ("I", "II", "III")},
    **{lead: (1250, 2500) for lead in ("aVR", "aVL", "aVF")},
    **{lead: (2500, 3750) for lead in ("V1", "V2", "V3")},
    **{lead: (3750, 5000) for lead in ("V4", "V5", "V6")},
}


def _score(reference: np.ndarray, estimate: np.ndarray | None) -> tuple[float, float]:
    from cardioml_pipeline.ecg_images.digitize import signal_agreement

    if estimate is None or np.asarray(estimate).size < FS // 2:
        return 0.0, float("-inf")
    r, snr, _ = signal_agreement(reference, estimate, FS)
    return (0.0, float("-inf")) if not np.isfinite(r) else (r, snr)


def _segment_key(box) -> str:
    return f"{box.lead}_rhythm" if box.is_rhythm_strip else box.lead


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def ecgminer_side_by_side(root: Path, limit: int | None) -> dict:
    import cv2
    import polars as pl

    from cardioml_pipeline.ecg_images.pages import process_page

    ours: dict[str, list[tuple[float, float]]] = {}
    theirs: dict[str, list[tuple[float, float]]] = {}
    pages = sorted((root / "img").glob("*.png"))[:limit]
    layouts, orders = [], []
    for path in pages:
        signal = pl.read_csv(root / "signal" / f"{path.stem}.csv")
        miner = pl.read_csv(root / "ecgminer_digitized" / f"{path.stem}.csv")
        layout, leads = process_page(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
        layouts.append(layout.layout)
        orders.append(layout.lead_order)
        found = {_segment_key(lead.box): lead.result for lead in leads}
        for lead, (a, b) in ECGMINER_WINDOWS.items():
            reference = signal[lead].to_numpy()[a:b]
            result = found.get(lead)
            ours.setdefault(lead, []).append(_score(reference, result.signal_mv if result is not None else None))
            theirs.setdefault(lead, []).append(_score(reference, miner[lead].to_numpy()[a:b]))
        reference = signal["II"].to_numpy()
        result = found.get("II_rhythm")
        ours.setdefault("II_rhythm", []).append(_score(reference, result.signal_mv if result is not None else None))
        theirs.setdefault("II_rhythm", []).append(_score(reference, miner["II"].to_numpy()))
    return {"pages": len(pages), "layouts": layouts, "lead_orders": orders, "ours": ours, "theirs": theirs}


def kit_pages(root: Path, limit: int | None) -> dict:
    import cv2

    from cardioml_pipeline.ecg_images.pages import process_page

    rows = []
    for path in sorted(root.glob("Patient_*.png"))[:limit]:
        truth = np.load(path.with_name(path.stem + "_truth.npz"))
        layout, leads = process_page(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
        found = {_segment_key(lead.box): lead.result for lead in leads}
        for key in truth.files:
            result = found.get(key)
            r, snr = _score(truth[key], result.signal_mv if result is not None else None)
            rows.append({"page": path.stem, "layout": layout.layout, "lead_order": layout.lead_order, "segment": key, "found": result is not None and result.signal_mv.size > 0, "r": r, "snr": snr})
    return {"rows": rows}


def cost(paths: list[Path], lead_images: Path, repeats: int = 3) -> dict:
    """CPU seconds per page (decode + `process_page`) against (a) its own lead crops each through
    `process_lead_image` (in memory, as before), (a') the same crops each decoded from a PNG first
    (what they cost as separate image files) and (b) for an ecg-image-kit page, the same patient's 12
    per-lead images (`ECG_Images/Patient_<fn>_lead_<LEAD>.png`, 10 s strips; decode +
    `process_lead_image` each): what the twelve leads cost as separate images. CPU time of this
    process on one OpenCV thread, best of `repeats`: wall time on 2 cores shared with other jobs
    varied by 2x between runs."""
    import cv2

    from cardioml_pipeline.ecg_images.pages import detect_layout, process_page
    from cardioml_pipeline.ecg_images.pipeline import process_lead_image

    cv2.setNumThreads(1)
    clock = time.process_time
    page_s, crops_s, crop_files_s, files_s, files_page_s = [], [], [], [], []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        page, layout = detect_layout(image)
        crops = [np.ascontiguousarray(page[b.y0 : b.y1, b.x0 : b.x1]) for b in layout.boxes]
        encoded = [cv2.imencode(".png", crop)[1] for crop in crops]
        files = sorted(lead_images.glob(f"Patient_{path.stem.split('_')[1]}_lead_*.png")) if path.stem.startswith("Patient_") else []
        best = {"page": float("inf"), "crops": float("inf"), "crop_files": float("inf"), "files": float("inf")}
        for _ in range(repeats):
            t = clock()
            process_page(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
            best["page"] = min(best["page"], clock() - t)
            t = clock()
            for crop in crops:
                process_lead_image(crop)
            best["crops"] = min(best["crops"], clock() - t)
            t = clock()
            for data in encoded:
                process_lead_image(cv2.imdecode(data, cv2.IMREAD_UNCHANGED))
            best["crop_files"] = min(best["crop_files"], clock() - t)
            if files:
                t = clock()
                for file in files:
                    process_lead_image(cv2.imread(str(file), cv2.IMREAD_UNCHANGED))
                best["files"] = min(best["files"], clock() - t)
        page_s.append(best["page"])
        crops_s.append(best["crops"])
        crop_files_s.append(best["crop_files"])
        if files:
            files_s.append(best["files"])
            files_page_s.append(best["page"])
    return {
        "page_s": _median(page_s), "crops_s": _median(crops_s), "crop_files_s": _median(crop_files_s), "pages": len(paths),
        "ratio": _median([p / c for p, c in zip(page_s, crops_s)]), "ratio_files": _median([p / c for p, c in zip(page_s, crop_files_s)]),
        "files_s": _median(files_s), "files_page_s": _median(files_page_s), "file_pages": len(files_s),
    }


def stage_cost(paths: list[Path], repeats: int = 5) -> list[dict]:
    """Per page, CPU seconds of the image stage's per-patient step (`processing.process_patient`, one
    process, one OpenCV thread, best of `repeats`, the two alternating) on (a) the page as one file
    `Patient_<n>.png` and (b) its lead crops (cut from the deskewed page, as `cost` cuts them) as
    that patient's separate lead images `Patient_<n>_lead_<LEAD>.png`, a rhythm strip in a folder of
    its own. (b) is what the stage does with separate images: each read, hashed, digitized and
    written, then the patient's re-checks (`recheck_pitch_outliers`: a lead whose own grid was not
    found, or whose pitch disagrees with its sisters', is read again at their pitch;
    `recheck_skew_outliers`), which a page's crops need not (they are handed the page's grid). Also
    how many of (b)'s leads the re-checks read again."""
    import shutil
    import tempfile

    import cv2

    from cardioml_pipeline.ecg_images.discovery import ImageFile
    from cardioml_pipeline.ecg_images.pages import detect_layout
    from cardioml_pipeline.ecg_images.processing import ImageTask, PatientTask, process_one, process_patient, recheck_pitch_outliers, recheck_skew_outliers

    cv2.setNumThreads(1)
    clock = time.process_time
    rows = []
    for number, path in enumerate(paths, start=1):
        with tempfile.TemporaryDirectory(prefix="cardioml-stage-cost-") as tmp:
            root = Path(tmp)
            page_dir, files_dir = root / "page", root / "files"
            page_dir.mkdir()
            shutil.copyfile(path, page_dir / f"Patient_{number}{path.suffix}")
            page_items = (ImageFile(f"Patient_{number}{path.suffix}", number, None, path.stat().st_size, 0, is_page=True),)
            page, layout = detect_layout(cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
            file_items = []
            for k, box in enumerate(layout.boxes):
                relative = (f"rhythm{k}/" if box.is_rhythm_strip else "") + f"Patient_{number}_lead_{box.lead}.png"
                target = files_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(target), np.ascontiguousarray(page[box.y0 : box.y1, box.x0 : box.x1]))
                file_items.append(ImageFile(relative, number, box.lead, target.stat().st_size, 0))
            tasks = {
                "page": PatientTask(str(page_dir), str(root / "artifacts_page"), number, page_items, tuple(i.relative_path for i in page_items), None),
                "files": PatientTask(str(files_dir), str(root / "artifacts_files"), number, tuple(file_items), tuple(i.relative_path for i in file_items), None),
            }
            best = {"page": float("inf"), "files": float("inf")}
            for repeat in range(repeats):
                # each goes first in turn: the one run after the other finds the allocator's memory warm
                for name in ("page", "files") if repeat % 2 == 0 else ("files", "page"):
                    t = clock()
                    process_patient(tasks[name])
                    best[name] = min(best[name], clock() - t)
            files_task = tasks["files"]
            results = [process_one(ImageTask(files_task.images_dir, files_task.artifacts_root, item, None)) for item in files_task.items]
            read_again = recheck_pitch_outliers(files_task, results) + recheck_skew_outliers(files_task, results)
            rows.append(
                {"page": path.stem, "size": f"{page.shape[1]} x {page.shape[0]}", "px_per_mm": layout.px_per_mm, "page_s": best["page"], "files_s": best["files"], "files": len(file_items), "read_again": read_again}
            )
    return rows


def _summary(scores: list[tuple[float, float]]) -> tuple[int, int, float, float]:
    digitized = sum(1 for r, s in scores if np.isfinite(s))
    return digitized, len(scores), _median([r for r, _ in scores]), _median([s for _, s in scores])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets")
    parser.add_argument("--limit", type=int, default=None, help="pages per set (default: all)")
    parser.add_argument("--cost-only", action="store_true", help="only the cost figures (section 3)")
    args = parser.parse_args(argv)
    shared = args.shared.resolve()
    if args.cost_only:
        _print_cost(shared)
        return 0

    started = time.perf_counter()
    miner = ecgminer_side_by_side(shared / "ecgminer-ludb-pages", args.limit)
    print(f"ECGMiner's pages ({miner['pages']} pages, layouts found: {sorted(set(map(str, miner['layouts'])))}, lead orders: {sorted(set(miner['lead_orders']))})")
    print("| lead | ours: digitized | ours: median r | ours: median SNR dB | ECGMiner: digitized | ECGMiner: median r | ECGMiner: median SNR dB |")
    print("|---|---|---|---|---|---|---|")
    all_ours, all_theirs = [], []
    for lead in list(ECGMINER_WINDOWS) + ["II_rhythm"]:
        o, t = miner["ours"][lead], miner["theirs"][lead]
        all_ours += o
        all_theirs += t
        od, on, orr, osnr = _summary(o)
        td, tn, tr, tsnr = _summary(t)
        print(f"| {lead} | {od}/{on} | {orr:.3f} | {osnr:.1f} | {td}/{tn} | {tr:.3f} | {tsnr:.1f} |")
    od, on, orr, osnr = _summary(all_ours)
    td, tn, tr, tsnr = _summary(all_theirs)
    print(f"| **all** | {od}/{on} | {orr:.3f} | {osnr:.1f} | {td}/{tn} | {tr:.3f} | {tsnr:.1f} |")

    kit = kit_pages(shared / "ecg-image-kit-renders" / "pages", args.limit)
    rows = kit["rows"]
    print(f"\necg-image-kit pages ({len({r['page'] for r in rows})} pages, {len(rows)} lead segments, lead orders: {sorted({r['lead_order'] for r in rows})})")
    print("| page | layout found | leads found | median r | median SNR dB |")
    print("|---|---|---|---|---|")
    for page in sorted({r["page"] for r in rows}):
        mine = [r for r in rows if r["page"] == page]
        print(
            f"| {page} | {mine[0]['layout']} | {sum(r['found'] for r in mine)}/{len(mine)} | "
            f"{_median([r['r'] for r in mine]):.3f} | {_median([r['snr'] for r in mine]):.1f} |"
        )
    print(
        f"| **all** | | {sum(r['found'] for r in rows)}/{len(rows)} | {_median([r['r'] for r in rows]):.3f} | "
        f"{_median([r['snr'] for r in rows]):.1f} |"
    )

    _print_cost(shared)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    return 0


def _print_cost(shared: Path) -> None:
    sample = sorted((shared / "ecgminer-ludb-pages" / "img").glob("*.png"))[:3] + sorted((shared / "ecg-image-kit-renders" / "pages").glob("Patient_*_3x4.png"))[:4]
    c = cost(sample, shared / "ecg-image-kit-renders" / "ECG_Images")
    print(
        f"\ncost (CPU time, one OpenCV thread, best of 3, median over {c['pages']} pages): whole page (decode + process_page) "
        f"{c['page_s']:.3f} s vs its 13 lead crops as separate in-memory images {c['crops_s']:.3f} s "
        f"(page / crops = {c['ratio']:.2f}, median of per-page ratios) or each decoded from a PNG first {c['crop_files_s']:.3f} s "
        f"(page / crop files = {c['ratio_files']:.2f}); ecg-image-kit page {c['files_page_s']:.3f} s vs the same patient's "
        f"12 per-lead image files {c['files_s']:.3f} s (page / files = {c['files_page_s'] / c['files_s']:.2f}, {c['file_pages']} patients)"
    )
    pages = sorted((shared / "ecgminer-ludb-pages" / "img").glob("*.png")) + sorted((shared / "ecg-image-kit-renders" / "pages").glob("Patient_*.png"))
    rows = stage_cost(pages)
    print(
        f"\nthe image stage's per-patient step (`processing.process_patient`; CPU time, one OpenCV thread, best of 5, alternating), "
        f"{len(rows)} pages: the page as one file against its lead crops as the patient's separate lead images"
    )
    print("| page | size (px) | px/mm | page s | crops as separate images s | read again by the patient's re-checks | page / separate images |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['page']} | {row['size']} | {row['px_per_mm']:.1f} | {row['page_s']:.3f} | {row['files_s']:.3f} | "
            f"{row['read_again']} of {row['files']} | {row['page_s'] / row['files_s']:.2f} |"
        )
    from cardioml_pipeline.ecg_images.pipeline import UPSAMPLE_BELOW_PX_PER_MM

    groups = {
        "all": rows,
        f"pages at {UPSAMPLE_BELOW_PX_PER_MM:g} px/mm or more": [r for r in rows if r["px_per_mm"] >= UPSAMPLE_BELOW_PX_PER_MM],
        f"pages below {UPSAMPLE_BELOW_PX_PER_MM:g} px/mm (lead crops read enlarged)": [r for r in rows if r["px_per_mm"] < UPSAMPLE_BELOW_PX_PER_MM],
    }
    for name, group in groups.items():
        if not group:
            continue
        ratios = [row["page_s"] / row["files_s"] for row in group]
        print(
            f"| **median, {name}** ({len(group)}) | | | {_median([r['page_s'] for r in group]):.3f} | {_median([r['files_s'] for r in group]):.3f} | "
            f"{sum(r['read_again'] for r in group)} of {sum(r['files'] for r in group)} | **{_median(ratios):.2f}** "
            f"({min(ratios):.2f}-{max(ratios):.2f}; {sum(r > 1.0 for r in ratios)} above 1) |"
        )

if __name__ == "__main__":
    sys.exit(main())
