"""Benchmark the image stage against a bare OpenCV loop over the same files, in one run.

    .venv/bin/python benchmarks/image_stage.py --patients 574 [--workdir DIR] [--workers N]

Generates N demo patients with images (unless the workdir already has them), then times
  1. the bare loop: decode, grayscale, threshold, encode, one process;
  2. the image stage (preprocess, calibrate, digitize, QC, index, signals) on every core, cold;
and prints images/s for both, their ratio, and peak memory (resident set) of the stage's parent
and of its largest worker. Run it at 574 and at 5,740 patients to see memory stay flat.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def bare_opencv_loop(paths: list[Path]) -> float:
    started = time.perf_counter()
    for path in paths:
        image = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
        _, binary = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        ok, _ = cv2.imencode(".png", binary)
        assert ok
    return time.perf_counter() - started


def main() -> int:
    from cardioml_pipeline.demo.clinical import generate_demo_patients, write_demo_dataset
    from cardioml_pipeline.demo.images import write_demo_images
    from cardioml_pipeline.ecg_images.processing import run_image_stage

    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=574)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cardioml-bench-"))
    data = workdir / f"demo_{args.patients}_{args.seed}"
    if not (data / "ECG_Images").exists() or not any((data / "ECG_Images").iterdir()):
        started = time.perf_counter()
        write_demo_dataset(data, patients=args.patients, seed=args.seed)
        write_demo_images(data, generate_demo_patients(args.patients, args.seed), seed=args.seed, workers=args.workers)
        print(f"generated {args.patients} patients with images in {time.perf_counter() - started:.1f}s")
    paths = sorted((data / "ECG_Images").glob("*.png"))
    megapixels = sum(int(np.prod(cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape[:2])) for p in paths[:50]) / max(1, min(50, len(paths))) / 1e6

    bare_seconds = bare_opencv_loop(paths)
    artifacts = workdir / "artifacts"
    shutil.rmtree(artifacts, ignore_errors=True)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    _, summary = run_image_stage(data / "ECG_Images", artifacts, known_patients=None, workers=args.workers)
    stage_seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    parent_cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    worker_cpu = children.ru_utime + children.ru_stime
    parent_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker_peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    n = len(paths)
    print(f"images: {n} ({args.patients} patients), mean {megapixels:.2f} MP per image")
    print(f"bare OpenCV loop (1 process):    {bare_seconds:8.1f} s  {n / bare_seconds:8.1f} images/s")
    print(f"image stage ({summary.workers} workers):         {stage_seconds:8.1f} s  {n / stage_seconds:8.1f} images/s")
    print(f"stage time / bare loop time:     {stage_seconds / bare_seconds:8.2f}x")
    print(f"processed {summary.processed}, rejected {summary.rejected}, failed QC {summary.qc_failed}")
    print(f"stage CPU: parent {parent_cpu:.1f} s, workers {worker_cpu:.1f} s ({worker_cpu / max(n, 1) * 1000:.1f} ms per image)")
    print(f"peak RSS: parent {parent_peak_mb:.0f} MB, largest worker {worker_peak_mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
