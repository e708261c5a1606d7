"""Compare the image stage's per-lead outputs of two versions of the code, image by image.

    # 1. dump each version's results (run once with each code tree on the path)
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/compare_outputs.py dump OUT_A.pkl DIR [DIR ...] [--limit N]
    .venv/bin/python benchmarks/compare_outputs.py dump OUT_B.pkl DIR [DIR ...] [--limit N]
    # 2. diff them
    .venv/bin/python benchmarks/compare_outputs.py diff OUT_A.pkl OUT_B.pkl

`dump` runs `pipeline.process_lead_image` (as the image stage does, on the decoded file) on every PNG
under each DIR's `ECG_Images/` (sorted; `--limit N` takes every k-th file so N are left), single
process, OpenCV single-threaded, and pickles per image: the signal, the QC metrics and verdict, the
calibration and the sha256 of the processed PNG as the stage encodes it. `diff` prints the largest
signal difference (mV), the largest metric difference, and every image whose length, verdict,
reasons, calibration source or processed image differ (images in both dumps). Used to show that a speed-up leaves the
outputs as they were.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import pickle
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def dump(out: Path, dirs: list[Path], limit: int | None) -> None:
    cv2.setNumThreads(1)
    from cardioml_pipeline.ecg_images import pipeline
    from cardioml_pipeline.ecg_images.discovery import decode_image

    print(f"code: {Path(pipeline.__file__).resolve()}", file=sys.stderr)
    results = {}
    started = time.process_time()
    for folder in dirs:
        paths = sorted((folder / "ECG_Images").glob("*.png"))
        if limit and len(paths) > limit:
            paths = paths[:: max(1, len(paths) // limit)][:limit]
        for path in paths:
            image, reason = decode_image(path.read_bytes())
            if reason is not None:
                continue
            r = pipeline.process_lead_image(image)
            ok, encoded = cv2.imencode(".png", r.processed_image, [cv2.IMWRITE_PNG_BILEVEL, 1])
            results[f"{folder.name}/{path.name}"] = {
                "signal": np.asarray(r.signal_mv, np.float32),
                "metrics": {k: (None if v is None else float(v)) for k, v in r.qc_metrics.items()},
                "qc_passed": bool(r.qc_passed),
                "qc_reasons": list(r.qc_reasons),
                "calibration": (r.calibration_source, r.px_per_mm_x, r.px_per_mm_y),
                "processed_shape": r.processed_image.shape,
                "processed_sha": hashlib.sha256(encoded.tobytes()).hexdigest() if ok else None,
            }
    cpu = time.process_time() - started
    print(f"{len(results)} images, {cpu / max(1, len(results)) * 1000:.1f} ms CPU per image", file=sys.stderr)
    out.write_bytes(pickle.dumps(results))


def _close(a: float | None, b: float | None) -> float:
    """Absolute difference of two metric values (0 when both are NaN or both None)."""
    if a is None or b is None:
        return 0.0 if a is b else math.inf
    if math.isnan(a) and math.isnan(b):
        return 0.0
    if math.isinf(a) or math.isinf(b):
        return 0.0 if a == b else math.inf
    return abs(a - b)


def diff(a_path: Path, b_path: Path) -> int:
    a, b = pickle.loads(a_path.read_bytes()), pickle.loads(b_path.read_bytes())
    keys = sorted(set(a) & set(b))  # one dump may hold a subset (`--limit`)
    if len(keys) < max(len(a), len(b)):
        print(f"images in the first dump: {len(a)}, in the second: {len(b)}; compared: those in both")
    max_signal, max_signal_key = 0.0, None
    max_metric, max_metric_at = 0.0, None
    problems = []
    for key in keys:
        x, y = a[key], b[key]
        if x["signal"].shape != y["signal"].shape:
            problems.append(f"{key}: signal length {x['signal'].size} vs {y['signal'].size}")
        elif x["signal"].size:
            d = float(np.max(np.abs(x["signal"].astype(np.float64) - y["signal"])))
            if d > max_signal:
                max_signal, max_signal_key = d, key
        for name in sorted(set(x["metrics"]) | set(y["metrics"])):
            d = _close(x["metrics"].get(name), y["metrics"].get(name))
            if d > max_metric:
                max_metric, max_metric_at = d, f"{key} {name}"
        for field in ("qc_passed", "qc_reasons", "processed_shape", "processed_sha"):
            if x[field] != y[field]:
                problems.append(f"{key}: {field} {x[field]!r} vs {y[field]!r}")
        if x["calibration"][0] != y["calibration"][0] or any(_close(p, q) > 1e-9 for p, q in zip(x["calibration"][1:], y["calibration"][1:])):
            problems.append(f"{key}: calibration {x['calibration']} vs {y['calibration']}")
    print(f"images compared: {len(keys)}")
    print(f"max |signal difference|: {max_signal:.3g} mV ({max_signal_key})")
    print(f"max |metric difference|: {max_metric:.3g} ({max_metric_at})")
    print(f"images with other differences: {len({p.split(':')[0] for p in problems})}")
    for p in problems[:40]:
        print("  " + p)
    return 0 if not problems and max_signal <= 1e-6 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("out", type=Path)
    d.add_argument("dirs", type=Path, nargs="+")
    d.add_argument("--limit", type=int, default=None)
    c = sub.add_parser("diff")
    c.add_argument("first", type=Path)
    c.add_argument("second", type=Path)
    args = parser.parse_args()
    if args.command == "dump":
        dump(args.out, args.dirs, args.limit)
        return 0
    return diff(args.first, args.second)


if __name__ == "__main__":
    sys.exit(main())
