"""Benchmark the image stage against a bare OpenCV loop over the same files, in one run.

    .venv/bin/python benchmarks/image_stage.py --patients 574 [--workdir DIR] [--workers N] [--repeat K]

Generates N demo patients with images (unless the workdir already has them; `cardioml demo-data` in
a subprocess), then times
  1. the bare loop: decode, grayscale, threshold, encode, one process;
  2. the image stage (preprocess, calibrate, digitize, QC, index, signals) on every core, cold, in a
     fresh process, so its CPU and peak memory are its own;
and prints images/s for both, their ratio, and peak memory (resident set) of the stage's parent
and of its largest worker (of the last run). Each stage run is bracketed by two bare loops and
compared with their mean; `--repeat K` runs the stage K times and reports the median ratio.
Run it at 574 and at 5,740 patients to see memory stay flat.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
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


def run_stage_measured(images_dir: Path, artifacts: Path, workers: int | None) -> dict:
    """Run the image stage in this (fresh) process and measure it: wall time, CPU of this process
    and of its workers, peak resident memory of this process and of its largest worker."""
    from cardioml_pipeline.ecg_images.processing import run_image_stage

    started = time.perf_counter()
    _, summary = run_image_stage(images_dir, artifacts, known_patients=None, workers=workers)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "seconds": seconds,
        "workers": summary.workers,
        "processed": summary.processed,
        "rejected": summary.rejected,
        "qc_failed": summary.qc_failed,
        "parent_cpu": own.ru_utime + own.ru_stime,
        "worker_cpu": children.ru_utime + children.ru_stime,
        "parent_peak_mb": own.ru_maxrss / 1024,
        "worker_peak_mb": children.ru_maxrss / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=574)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=1, help="stage runs, each bracketed by bare loops (the median ratio is reported)")
    parser.add_argument("--stage-only", nargs=2, metavar=("IMAGES_DIR", "ARTIFACTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage_only:  # the child process that runs the stage (clean memory and CPU accounting)
        print(json.dumps(run_stage_measured(Path(args.stage_only[0]), Path(args.stage_only[1]), args.workers)))
        return 0

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cardioml-bench-"))
    data = workdir / f"demo_{args.patients}_{args.seed}"
    if not (data / "ECG_Images").exists() or not any((data / "ECG_Images").iterdir()):
        started = time.perf_counter()
        command = [sys.executable, "-m", "cardioml_pipeline.cli", "demo-data", "--patients", str(args.patients), "--seed", str(args.seed), "--out", str(data)]
        subprocess.run(command + (["--workers", str(args.workers)] if args.workers else []), check=True)
        print(f"generated {args.patients} patients with images in {time.perf_counter() - started:.1f}s")
    paths = sorted((data / "ECG_Images").glob("*.png"))
    megapixels = sum(int(np.prod(cv2.imread(str(p), cv2.IMREAD_UNCHANGED).shape[:2])) for p in paths[:50]) / max(1, min(50, len(paths))) / 1e6

    # The machine may be shared: each stage run is bracketed by bare loops (before and after) and
    # compared with their mean, so a drift in machine speed shows up instead of skewing the ratio.
    n = len(paths)
    print(f"images: {n} ({args.patients} patients), mean {megapixels:.2f} MP per image")
    # Each stage run writes into a new, empty artifacts folder (a cold run: every image is processed).
    # Deleting thousands of files, and writing back what a run wrote, keeps the kernel busy for
    # seconds afterwards: old folders are deleted before any timing and the file system is synced
    # between timed phases, so no phase pays for another's disk work.
    artifacts = workdir / "artifacts"
    shutil.rmtree(artifacts, ignore_errors=True)
    os.sync()
    bare = [bare_opencv_loop(paths)]
    ratios = []
    for repeat in range(args.repeat):
        command = [sys.executable, __file__, "--stage-only", str(data / "ECG_Images"), str(artifacts / f"run{repeat + 1}")]
        out = subprocess.run(command + (["--workers", str(args.workers)] if args.workers else []), check=True, capture_output=True, text=True)
        stage = json.loads(out.stdout.strip().splitlines()[-1])
        os.sync()
        bare.append(bare_opencv_loop(paths))
        bare_seconds = (bare[-2] + bare[-1]) / 2
        ratios.append(stage["seconds"] / bare_seconds)
        print(f"run {repeat + 1}/{args.repeat}:")
        print(f"  bare OpenCV loop (1 process):    {bare[-2]:8.1f} s before, {bare[-1]:.1f} s after  {n / bare_seconds:8.1f} images/s")
        print(f"  image stage ({stage['workers']} workers):         {stage['seconds']:8.1f} s  {n / stage['seconds']:8.1f} images/s")
        print(f"  stage time / bare loop time:     {ratios[-1]:8.2f}x")
    if args.repeat > 1:
        print(f"stage time / bare loop time: median {float(np.median(ratios)):.2f}x over {args.repeat} runs ({', '.join(f'{r:.2f}' for r in ratios)})")
    print(f"processed {stage['processed']}, rejected {stage['rejected']}, failed QC {stage['qc_failed']}")
    print(f"stage CPU: parent {stage['parent_cpu']:.1f} s, workers {stage['worker_cpu']:.1f} s ({stage['worker_cpu'] / max(n, 1) * 1000:.1f} ms per image)")
    print(f"peak RSS: parent {stage['parent_peak_mb']:.0f} MB, largest worker {stage['worker_peak_mb']:.0f} MB")
    shutil.rmtree(artifacts, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
