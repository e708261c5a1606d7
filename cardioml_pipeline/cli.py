"""`cardioml` command line: demo-data (and, as later issues land, sql, tables, export)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def demo_data(args: argparse.Namespace) -> int:
    from cardioml_pipeline.demo.clinical import write_demo_dataset

    started = time.perf_counter()
    out = Path(args.out)
    try:
        summary = write_demo_dataset(out, patients=args.patients, seed=args.seed)
    except ValueError as error:
        print(f"cardioml demo-data: {error}", file=sys.stderr)
        return 2
    if args.images:
        from cardioml_pipeline.demo.clinical import generate_demo_patients
        from cardioml_pipeline.demo.images import write_demo_images

        def progress(done: int, total: int) -> None:
            if done == total or done % 50 == 0:
                print(f"  rendering ECG images: {done}/{total} patients", flush=True)

        summary |= write_demo_images(
            out, generate_demo_patients(args.patients, args.seed), seed=args.seed, processed_style=args.processed_images, workers=args.workers, progress=progress
        )
    elapsed = time.perf_counter() - started
    print(f"demo dataset: {args.patients} patients (seed {args.seed}) written to {Path(args.out).resolve()} in {elapsed:.1f}s")
    for key, value in summary.items():
        if key not in ("paths",):
            print(f"  {key}: {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cardioml", description="CARDIO-ML pipeline tools")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo-data", help="write a realistic demo dataset in the CARDIO-ML layout")
    demo.add_argument("--patients", type=int, default=574, help="number of patients, 1 to 100000 (default 574)")
    demo.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same bytes (default 0)")
    demo.add_argument("--out", required=True, help="output folder (gets Clinical_Data/, ECG_Images/, 'ECG Labels.csv')")
    demo.add_argument("--images", action=argparse.BooleanOptionalAction, default=True, help="render the 12 lead images per patient (default: yes)")
    demo.add_argument("--processed-images", action="store_true", help="write already-processed (binarized, grid-free) images like the published dataset instead of raw scans")
    demo.add_argument("--workers", type=int, default=None, help="processes for image rendering (default: every core)")
    demo.set_defaults(handler=demo_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
