"""The analyst commands `cardioml sql | tables | export` against a materialized demo warehouse."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from cardioml_pipeline.cli import main
from cardioml_pipeline_tests.conftest import run_pipeline

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def warehouse(demo_dataset, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("analyst") / "cardioml.duckdb"
    assert run_pipeline(demo_dataset, path).success
    assert path.with_name("cardioml.snapshot.duckdb").exists()
    return path


def direct(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_tables_lists_every_table_with_exact_rows_and_columns(warehouse, capsys):
    code, out, err = cli(capsys, "tables", "--warehouse", str(warehouse))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["schema", "table", "rows", "columns"]
    listed = {(p[0], p[1]): (int(p[2]), int(p[3])) for p in (line.split() for line in lines[2:]) if len(p) == 4 and p[2].isdigit()}
    expected = direct(
        warehouse,
        "SELECT schema_name, table_name, column_count FROM duckdb_tables() UNION ALL "
        "SELECT v.schema_name, v.view_name, (SELECT count(*) FROM duckdb_columns() c WHERE c.schema_name = v.schema_name AND c.table_name = v.view_name) "
        "FROM duckdb_views() v WHERE NOT v.internal ORDER BY 1, 2",
    )  # tables and views (the image stage publishes views over its Parquet files)
    assert {k for k in listed if k != ("meta", "snapshot")} == {(s, t) for s, t, _ in expected}
    for schema, table, columns in expected:
        rows = direct(warehouse, f'SELECT count(*) FROM "{schema}"."{table}"')[0][0]
        assert listed[(schema, table)] == (rows, columns), (schema, table)
    assert listed[("staging", "patients")][0] == 60
    assert "snapshot cardioml.snapshot.duckdb" in lines[-1]

    code, out, _ = cli(capsys, "tables", "--warehouse", str(warehouse), "--format", "csv")
    parsed = list(csv.DictReader(io.StringIO(out)))
    assert {"schema": "staging", "table": "patients", "rows": "60", "columns": str(dict(((s, t), c) for s, t, c in expected)[("staging", "patients")])} in parsed


def test_sql_prints_an_aligned_table_or_csv(warehouse, capsys):
    query = "SELECT file_number, gender, age, death FROM staging.patients ORDER BY file_number LIMIT 8"
    code, out, err = cli(capsys, "sql", query, "--warehouse", str(warehouse))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["file_number", "gender", "age", "death"]
    assert lines[-1] == "(8 rows)"
    expected = direct(warehouse, query)
    body = lines[2:-1]
    assert len(body) == 8
    # right-aligned numbers: every row's file_number ends in the same column as the header's
    header_end = lines[0].index("file_number") + len("file_number")
    for line, row in zip(body, expected):
        assert line[:header_end].strip() == str(row[0]) and line[header_end - 1] != " "
        assert line.split()[1] == row[1]
    assert ("NULL" in out) == any(v is None for row in expected for v in row)

    code, out, _ = cli(capsys, "sql", query, "--warehouse", str(warehouse), "--format", "csv")
    assert code == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["file_number", "gender", "age", "death"]
    assert rows[1:] == [["" if v is None else str(v).lower() if isinstance(v, bool) else str(v) for v in row] for row in expected]

    code, out, _ = cli(capsys, "sql", "SELECT ['a', 'b'] AS items, NULL AS nothing, 'x' || repeat('y', 100) AS long", "--warehouse", str(warehouse))
    assert "[a, b]" in out and "NULL" in out and "…" in out


def test_sql_errors_show_duckdbs_message_and_exit_1(warehouse, capsys):
    code, out, err = cli(capsys, "sql", "SELECT * FROM staging.no_such_table", "--warehouse", str(warehouse))
    assert code == 1 and out == ""
    assert "Catalog Error" in err and "no_such_table" in err
    code, _, err = cli(capsys, "sql", "SELEC 1", "--warehouse", str(warehouse))
    assert code == 1 and "Parser Error" in err
    code, _, err = cli(capsys, "sql", "DELETE FROM staging.patients", "--warehouse", str(warehouse))
    assert code == 1 and "read-only" in err
    assert direct(warehouse, "SELECT count(*) FROM staging.patients") == [(60,)]
    code, _, err = cli(capsys, "sql", "SELECT 1", "--warehouse", str(warehouse.parent / "missing.duckdb"))
    assert code == 1 and "does not exist" in err and "materialize" in err


def test_export_writes_parquet_and_csv_and_names_the_tables_on_a_typo(warehouse, tmp_path, capsys):
    code, out, err = cli(capsys, "export", "staging.patients", "--to", str(tmp_path / "patients.parquet"), "--warehouse", str(warehouse))
    assert code == 0, err
    assert "60 rows" in out
    exported = pl.read_parquet(tmp_path / "patients.parquet")
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        original = conn.sql("SELECT * FROM staging.patients").pl()
    assert exported.equals(original)

    code, _, err = cli(capsys, "export", "ecg_findings", "--to", str(tmp_path / "findings.csv"), "--warehouse", str(warehouse))
    assert code == 0, err
    with (tmp_path / "findings.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 1 + direct(warehouse, "SELECT count(*) FROM staging.ecg_findings")[0][0]
    assert rows[0] == [r[0] for r in direct(warehouse, "SELECT column_name FROM duckdb_columns() WHERE table_name = 'ecg_findings' ORDER BY column_index")]

    code, _, err = cli(capsys, "export", "staging.patiens", "--to", str(tmp_path / "x.parquet"), "--warehouse", str(warehouse))
    assert code == 1 and "unknown table 'staging.patiens'" in err and "staging.patients" in err and "raw.urinalysis" in err
    code, _, err = cli(capsys, "export", "urinalysis", "--to", str(tmp_path / "x.parquet"), "--warehouse", str(warehouse))
    assert code == 1 and "ambiguous" in err and "raw.urinalysis" in err and "staging.urinalysis" in err
    code, _, err = cli(capsys, "export", "staging.patients", "--to", str(tmp_path / "x.xlsx"), "--warehouse", str(warehouse))
    assert code == 1 and ".parquet or .csv" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["findings.csv", "patients.parquet"]


def test_console_script_reads_the_snapshot_while_a_writer_holds_the_warehouse(warehouse):
    """CARDIOML_WAREHOUSE is honoured; while another process holds the warehouse's write lock the
    snapshot answers, and --live waits for the lock, then answers."""
    env = dict(os.environ, CARDIOML_WAREHOUSE=str(warehouse))
    query = ["sql", "SELECT count(*) AS n FROM staging.patients", "--format", "csv"]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('locked', flush=True); sys.stdin.readline(); c.close()", str(warehouse)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    live = None
    try:
        assert holder.stdout.readline().strip() == "locked"
        snapshot = subprocess.run([str(BIN / "cardioml"), *query], env=env, capture_output=True, text=True, timeout=120)
        assert snapshot.returncode == 0, snapshot.stderr
        assert snapshot.stdout.splitlines() == ["n", "60"]
        assert holder.poll() is None  # answered while the writer held the warehouse

        live = subprocess.Popen([str(BIN / "cardioml"), *query, "--live"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        assert live.poll() is None  # waiting for the lock
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
        out, err = live.communicate(timeout=60)
        assert live.returncode == 0, err
        assert out.splitlines() == ["n", "60"]
    finally:
        for process in (holder, live):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
