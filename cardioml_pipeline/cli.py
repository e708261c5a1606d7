"""`cardioml` command line: demo-data, measure (WFDB ECG records), and the analyst commands sql, tables, export, export-wfdb."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import sys
import time
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from cardioml_pipeline.demo.errors import DEFAULT_ERROR_RATE


def demo_data(args: argparse.Namespace) -> int:
    from cardioml_pipeline.demo.clinical import write_demo_dataset

    started = time.perf_counter()
    out = Path(args.out)
    if args.pages is not None:
        from cardioml_pipeline.demo.pages import LAYOUTS

        if args.pages not in LAYOUTS:
            print(f"cardioml demo-data: unknown page layout {args.pages!r}: expected one of {', '.join(LAYOUTS)}", file=sys.stderr)
            return 2
    elif args.page_lead_order != "standard":
        print("cardioml demo-data: --page-lead-order applies to whole pages: add --pages", file=sys.stderr)
        return 2
    try:
        summary = write_demo_dataset(out, patients=args.patients, seed=args.seed, error_rate=args.error_rate)
    except ValueError as error:
        print(f"cardioml demo-data: {error}", file=sys.stderr)
        return 2
    if args.images:
        from cardioml_pipeline.demo.clinical import generate_demo_patients
        from cardioml_pipeline.demo.images import write_demo_images

        def progress(done: int, total: int) -> None:
            if done == total or done % 50 == 0:
                print(f"  rendering ECG images: {done}/{total} patients", flush=True)

        try:
            summary |= write_demo_images(
                out,
                generate_demo_patients(args.patients, args.seed),
                seed=args.seed,
                processed_style=args.processed_images,
                workers=args.workers,
                progress=progress,
                page_layout=args.pages,
                page_lead_order=args.page_lead_order,
            )
        except ValueError as error:
            print(f"cardioml demo-data: {error}", file=sys.stderr)
            return 2
    elapsed = time.perf_counter() - started
    print(f"demo dataset: {args.patients} patients (seed {args.seed}) written to {Path(args.out).resolve()} in {elapsed:.1f}s")
    for key, value in summary.items():
        if key not in ("paths",):
            print(f"  {key}: {value}")
    return 0


# ---------------------------------------------------------------------------------------------
# The Dagster home: created once, under a lock, before any run uses it.

HOME_READY_MARKER = ".cardioml-home-ready"


def init_home(args: argparse.Namespace) -> int:
    """Create the Dagster instance's SQLite storage in DAGSTER_HOME, once. Two runs started at once
    on a fresh home would both create the schema inside Dagster's own start-up and one fails
    ("table runs already exists"); `make` targets call this first, and the file lock makes
    concurrent callers wait for the first one. Cheap when the home is ready (a marker file)."""
    import fcntl

    value = args.home or os.environ.get("DAGSTER_HOME")
    if not value:
        print("cardioml init-home: set DAGSTER_HOME or pass --home", file=sys.stderr)
        return 1
    home = Path(value).expanduser().absolute()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".cardioml-home.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if not (home / HOME_READY_MARKER).exists():
            os.environ["DAGSTER_HOME"] = str(home)
            import dagster as dg

            with dg.DagsterInstance.get():  # creates (or migrates) every storage the instance uses
                pass
            (home / HOME_READY_MARKER).write_text("the Dagster instance storage in this folder was created by `cardioml init-home`\n")
    print(f"Dagster home ready: {home}")
    return 0


# ---------------------------------------------------------------------------------------------
# Analyst commands: sql, tables, export. They read the published snapshot of the warehouse
# (WarehouseResource.read), which runs never lock, so they work while a run is writing.


class CliError(Exception):
    """A problem to report in one line on stderr, exit code 1."""


def _warehouse(args: argparse.Namespace):
    from cardioml_pipeline.resources import WarehouseResource

    return WarehouseResource(database=args.warehouse)


@contextmanager
def _reading(args: argparse.Namespace, writable_files: tuple[Path, ...] = ()):
    """A locked-down read-only connection (see cardioml_pipeline.readonly) to the snapshot, or the
    live file with --live."""
    import duckdb

    warehouse = _warehouse(args)
    try:
        with warehouse.read(live=args.live, writable_files=writable_files) as conn:
            yield conn
    except FileNotFoundError:
        raise CliError(
            f"warehouse {warehouse.path} does not exist: materialize the assets first, or point "
            "--warehouse / CARDIOML_WAREHOUSE at an existing DuckDB file"
        ) from None
    except duckdb.IOException as error:
        if "lock" not in str(error).lower():
            raise
        raise CliError(f"{warehouse.path} stayed locked by a running materialization; retry, or read the published snapshot (drop --live)") from None


def _one_line(message: str) -> str:
    """DuckDB's message on one line: its first line, plus the LINE/caret context dropped."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    kept = [line for line in lines if not line.startswith("LINE ") and set(line) != {"^"}]
    return " ".join(kept) if kept else message.strip()


def _cell(value: object, null: str) -> str:
    if value is None:
        return null
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_cell(v, "NULL") for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_cell(v, 'NULL')}" for k, v in value.items()) + "}"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def render_table(columns: list[str], rows: list[tuple], max_width: int = 60) -> str:
    """An aligned text table: numbers right-aligned, long cells cut with an ellipsis."""

    def clip(text: str) -> str:
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[clip(_cell(v, "NULL")) for v in row] for row in rows]
    numeric = [
        bool(rows) and all(isinstance(row[i], (int, float, Decimal)) and not isinstance(row[i], bool) for row in rows if row[i] is not None)
        for i in range(len(columns))
    ]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))).rstrip()

    out = [line(list(columns)), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def write_result(columns: list[str], rows: list[tuple], fmt: str, max_width: int = 60) -> None:
    if fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(v, "") for v in row] for row in rows)
    else:
        print(render_table(columns, rows, max_width))


def sql_command(args: argparse.Namespace) -> int:
    import duckdb

    from cardioml_pipeline.readonly import StatementRefused, single_query

    try:
        with _reading(args) as conn:
            try:
                relation = conn.sql(single_query(conn, args.query))
                if relation is None:
                    return 0
                columns, rows = list(relation.columns), relation.fetchall()
            except StatementRefused as refused:
                raise CliError(f"refused: {refused}") from None
            except duckdb.Error as error:
                raise CliError(_one_line(str(error))) from None
    except CliError as error:
        print(f"cardioml sql: {error}", file=sys.stderr)
        return 1
    write_result(columns, rows, args.format, args.max_width)
    return 0


_LIST_RELATIONS = """
SELECT schema_name, table_name, column_count, 'table' AS kind FROM duckdb_tables() WHERE NOT internal AND NOT temporary
UNION ALL
SELECT schema_name, view_name, (SELECT count(*) FROM duckdb_columns() c WHERE c.schema_name = v.schema_name AND c.table_name = v.view_name), 'view'
FROM duckdb_views() v WHERE NOT internal AND NOT temporary AND database_name = current_database()
ORDER BY 1, 2
"""


def _relations(conn) -> list[tuple[str, str, int, str]]:
    return conn.execute(_LIST_RELATIONS).fetchall()


def _source_note(conn, args: argparse.Namespace) -> str:
    warehouse = _warehouse(args)
    has_snapshot = conn.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' AND table_name = 'snapshot'").fetchall()[0][0]
    if has_snapshot and not args.live:
        published_at, run_id = conn.execute("SELECT published_at, run_id FROM meta.snapshot").fetchall()[0]
        return f"read from the snapshot {warehouse.snapshot_path.name}, published {published_at:%Y-%m-%d %H:%M:%S %Z} by run {run_id or '-'}"
    return f"read from the live warehouse {warehouse.path}"


def tables_command(args: argparse.Namespace) -> int:
    from cardioml_pipeline.warehouse import qualified

    try:
        with _reading(args) as conn:
            rows = []
            for schema, table, column_count, _kind in _relations(conn):
                count = conn.execute(f"SELECT count(*) FROM {qualified(schema, table)}").fetchall()[0][0]
                rows.append((schema, table, count, column_count))
            note = _source_note(conn, args)
    except CliError as error:
        print(f"cardioml tables: {error}", file=sys.stderr)
        return 1
    write_result(["schema", "table", "rows", "columns"], rows, args.format)
    if args.format == "table":
        print(note)
    return 0


EXPORT_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def _resolve_table(name: str, relations: list[tuple[str, str, int, str]]) -> tuple[str, str]:
    available = [f"{schema}.{table}" for schema, table, _, _ in relations]
    schema, dot, table = name.partition(".")
    matches = [(s, t) for s, t, _, _ in relations if (s, t) == (schema, table)] if dot else [(s, t) for s, t, _, _ in relations if t == name]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CliError(f"table name {name!r} is ambiguous: {', '.join(f'{s}.{t}' for s, t in matches)}")
    raise CliError(f"unknown table {name!r}; available tables: {', '.join(available) or '(none)'}")


def export_command(args: argparse.Namespace) -> int:
    import duckdb

    from cardioml_pipeline.warehouse import qualified

    target = Path(args.to)
    fmt = EXPORT_FORMATS.get(target.suffix.lower())
    try:
        if fmt is None:
            raise CliError(f"--to {args.to}: the file name must end in .parquet or .csv")
        if not target.parent.exists():
            raise CliError(f"--to {args.to}: folder {target.parent} does not exist")
        temp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        with _reading(args, writable_files=(temp,)) as conn:  # the only file this connection may write
            schema, table = _resolve_table(args.table, _relations(conn))
            options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER true"
            try:
                rows = conn.execute(f"SELECT count(*) FROM {qualified(schema, table)}").fetchall()[0][0]
                conn.execute(f"COPY (SELECT * FROM {qualified(schema, table)}) TO '{str(temp).replace(chr(39), chr(39) * 2)}' ({options})")
                os.replace(temp, target)
            except duckdb.Error as error:
                raise CliError(str(error).strip()) from None
            finally:
                temp.unlink(missing_ok=True)
    except CliError as error:
        print(f"cardioml export: {error}", file=sys.stderr)
        return 1
    print(f"exported {rows} rows of {schema}.{table} to {target} ({fmt})")
    return 0


def export_wfdb_command(args: argparse.Namespace) -> int:
    """Each patient's digitized ECG as a WFDB record (the format ECG tools read)."""
    from cardioml_pipeline.ecg_images.index import ArtifactLayout
    from cardioml_pipeline.exports.wfdb_export import export_wfdb, read_clinical_context
    from cardioml_pipeline.resources import ArtifactStoreResource

    started = time.perf_counter()
    layout = ArtifactLayout(ArtifactStoreResource(artifacts_dir=args.artifacts).root)
    try:
        if not layout.index_path.exists():
            raise CliError(f"no image index at {layout.index_path}: materialize the image stage first, or point --artifacts / CARDIOML_ARTIFACTS_DIR at its artifacts")
        with _reading(args) as conn:
            clinical = read_clinical_context(conn)
        records = export_wfdb(layout, clinical, Path(args.to), file_numbers=args.file_number)
        if args.file_number:
            missing = sorted(set(args.file_number) - {int(p.name.removeprefix("patient_")) for p in records})
            if missing:
                raise CliError(f"no ECG images for file number(s) {', '.join(map(str, missing))} in {layout.index_path}")
    except CliError as error:
        print(f"cardioml export-wfdb: {error}", file=sys.stderr)
        return 1
    print(f"wrote {len(records)} WFDB record{'s' if len(records) != 1 else ''} (12 leads, 500 Hz) to {Path(args.to).resolve()} in {time.perf_counter() - started:.1f}s")
    return 0


# ---------------------------------------------------------------------------------------------
# measure: ECG measurements of WFDB records, with the feature layer's code.


def measure_command(args: argparse.Namespace) -> int:
    import json

    from cardioml_pipeline.features.ecg_measure import GLOBAL_FIELDS, LEAD_FIELDS, STANDARD_LEADS, RecordError, measure_record

    results, failed = [], 0
    for record in args.records:
        try:
            results.append(measure_record(record))
        except RecordError as error:
            failed += 1
            print(f"cardioml measure: {error}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        leads = [lead for lead in STANDARD_LEADS if any(lead in r["leads"] for r in results)]
        leads += sorted({lead for r in results for lead in r["leads"]} - set(leads))
        header = ["record", *GLOBAL_FIELDS]
        if args.format == "csv":
            header += [f"{lead}_{field}" for lead in leads for field in LEAD_FIELDS]
        rows = []
        for r in results:
            row = [r["record"], *[r[f] for f in GLOBAL_FIELDS]]
            if args.format == "csv":
                row += [r["leads"].get(lead, {}).get(field) for lead in leads for field in LEAD_FIELDS]
            rows.append(tuple(row))
        write_result(header, rows, args.format, max_width=80)
    return 1 if failed else 0


def add_analyst_commands(commands) -> None:
    def reader_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--warehouse", default=None, help="DuckDB warehouse file (default: $CARDIOML_WAREHOUSE, else data/warehouse/cardioml.duckdb)")
        command.add_argument(
            "--live",
            action="store_true",
            help="read the live warehouse instead of the snapshot published by the last successful run (waits while a run holds the write lock)",
        )

    sql = commands.add_parser("sql", help="run a read-only SQL query against the warehouse")
    sql.add_argument("query", help='the SQL, e.g. "SELECT count(*) FROM staging.patients"')
    sql.add_argument("--format", choices=["table", "csv"], default="table", help="aligned table (default) or CSV with a header")
    sql.add_argument("--max-width", type=int, default=60, help="cut table cells longer than this (default 60; CSV is never cut)")
    reader_options(sql)
    sql.set_defaults(handler=sql_command)

    tables = commands.add_parser("tables", help="list the warehouse tables: schema, table, rows, columns")
    tables.add_argument("--format", choices=["table", "csv"], default="table")
    reader_options(tables)
    tables.set_defaults(handler=tables_command)

    export = commands.add_parser("export", help="write one table to a Parquet or CSV file")
    export.add_argument("table", help="schema.table, or a table name that exists in one schema only")
    export.add_argument("--to", required=True, help="output file, .parquet or .csv")
    reader_options(export)
    export.set_defaults(handler=export_command)

    wfdb = commands.add_parser("export-wfdb", help="write each patient's digitized ECG as a WFDB record (.hea + .dat)")
    wfdb.add_argument("--to", required=True, help="output folder (created if missing)")
    wfdb.add_argument("--file-number", type=int, nargs="+", default=None, metavar="N", help="only these patients (default: every patient with images)")
    wfdb.add_argument("--artifacts", default=None, help="artifacts root holding the image index and signals (default: $CARDIOML_ARTIFACTS_DIR, else data/artifacts)")
    reader_options(wfdb)
    wfdb.set_defaults(handler=export_wfdb_command)


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
    demo.add_argument(
        "--pages",
        nargs="?",
        const="3x4+1",
        default=None,
        metavar="LAYOUT",
        help="one whole 12-lead page per patient (ECG_Images/Patient_<n>.png) instead of 12 lead images: 3x4+1 (3x4 + a lead II rhythm strip, "
        "the default), 3x4+0, 3x4+2, 3x4+3, 6x2+1 or 12x1+0; the signals drawn go to demo_truth/signals/, the segments to demo_truth/pages/",
    )
    demo.add_argument(
        "--page-lead-order",
        choices=("standard", "cabrera"),
        default="standard",
        help="with --pages: the limb leads in the standard order (I, II, III, aVR, aVL, aVF; the default) or in Cabrera order "
        "(aVL, I, -aVR, II, aVF, III in their places, -aVR drawn as the negated aVR and printed so)",
    )
    demo.add_argument(
        "--error-rate",
        type=float,
        default=DEFAULT_ERROR_RATE,
        help=f"share of each clinical table's rows given a realistic data-entry error (mistyped number, unit slip, impossible vital sign, unknown category, duplicated row), "
        f"so the quarantine has something to show; 0 writes clean tables (default {DEFAULT_ERROR_RATE})",
    )
    demo.set_defaults(handler=demo_data)
    home = commands.add_parser("init-home", help="create the Dagster home's storage once (safe when several runs start at once)")
    home.add_argument("--home", default=None, help="the Dagster home folder (default: $DAGSTER_HOME)")
    home.set_defaults(handler=init_home)


    measure = commands.add_parser("measure", help="ECG measurements (intervals, axes, per-lead amplitudes) of WFDB records")
    measure.add_argument("records", nargs="+", metavar="RECORD.hea", help="WFDB header files (any sampling rate, 1-12 leads)")
    measure.add_argument("--format", choices=["json", "csv", "table"], default="json", help="JSON list (default), CSV (one row per record, per-lead columns LEAD_field) or an aligned table of the global measurements")
    measure.set_defaults(handler=measure_command)
    add_analyst_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
