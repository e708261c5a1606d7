"""`cardioml` command line: demo-data (and, as later issues land, sql, tables, export)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def demo_data(args: argparse.Namespace) -> int:
    from cardioml_pipeline.demo.clinical import write_demo_dataset

    started = time.perf_counter()
    try:
        summary = write_demo_dataset(Path(args.out), patients=args.patients, seed=args.seed)
    except ValueError as error:
        print(f"cardioml demo-data: {error}", file=sys.stderr)
        return 2
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
    demo.set_defaults(handler=demo_data)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
