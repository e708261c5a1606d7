"""`cardioml sql` is read-only for real (issue 15), on the snapshot and with --live: one statement
per call, no ATTACH/DETACH, COPY, EXPORT, LOAD/INSTALL, SET/PRAGMA, no file outside the warehouse
and the Parquet files its views read. Each refusal: one line on stderr, exit code 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from cardioml_pipeline.cli import main
from cardioml_pipeline.demo.clinical import generate_demo_patients, write_demo_dataset
from cardioml_pipeline.demo.images import write_demo_images
from cardioml_pipeline_tests.conftest import run_pipeline

BIN = Path(sys.executable).parent
PATIENTS = 4
PATHS = [pytest.param((), id="snapshot"), pytest.param(("--live",), id="live")]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    """A materialized warehouse with images, so its views read Parquet artifacts."""
    root = tmp_path_factory.mktemp("readonly")
    dataset = root / "dataset"
    write_demo_dataset(dataset, patients=PATIENTS, seed=11)
    write_demo_images(dataset, generate_demo_patients(PATIENTS, 11), seed=11, workers=2)
    path = root / "cardioml.duckdb"
    assert run_pipeline(dataset, path, root / "artifacts").success
    assert path.with_name("cardioml.snapshot.duckdb").exists()
    return path


@pytest.fixture(scope="module")
def secret(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("outside") / "secret.txt"
    path.write_text("root:x:0:0:secret\n")
    return path


def cli(capsys, warehouse: Path, read_path: tuple[str, ...], sql: str) -> tuple[int, str, str]:
    code = main(["sql", sql, "--warehouse", str(warehouse), *read_path])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(code: int, out: str, err: str, *words: str) -> None:
    assert code == 1, (out, err)
    assert out == ""
    assert err.startswith("cardioml sql: ") and err.endswith("\n") and err.count("\n") == 1, err
    for word in words:
        assert word.lower() in err.lower(), err


def patients_age_total(path: Path) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("SELECT sum(age) FROM staging.patients").fetchall()[0][0]


@pytest.mark.parametrize("read_path", PATHS)
def test_queries_and_the_views_over_parquet_still_work(warehouse, capsys, read_path):
    code, out, err = cli(capsys, warehouse, read_path, "SELECT count(*) AS images FROM staging.ecg_images")
    assert code == 0, err
    assert out.splitlines()[2].strip() == str(PATIENTS * 12)
    code, out, err = cli(capsys, warehouse, read_path, "SELECT count(*) AS leads FROM staging.ecg_signals WHERE len(signal_mv) > 0")
    assert code == 0, err
    assert out.splitlines()[2].strip() == str(PATIENTS * 12)
    for sql in ("DESCRIBE staging.patients", "SUMMARIZE staging.patients", "FROM staging.patients LIMIT 1", "WITH a AS (SELECT 1 AS x) SELECT * FROM a;"):
        code, out, err = cli(capsys, warehouse, read_path, sql)
        assert code == 0, (sql, err)


@pytest.mark.parametrize("read_path", PATHS)
def test_attach_of_the_live_warehouse_is_refused(warehouse, capsys, read_path):
    before = patients_age_total(warehouse)
    code, out, err = cli(capsys, warehouse, read_path, f"ATTACH '{warehouse}' AS w (READ_WRITE)")
    assert_refused(code, out, err, "ATTACH", "read-only")
    code, out, err = cli(capsys, warehouse, read_path, f"ATTACH '{warehouse}' AS w (READ_WRITE); UPDATE w.staging.patients SET age = 999")
    assert_refused(code, out, err, "one statement")
    code, out, err = cli(capsys, warehouse, read_path, "DETACH w")
    assert_refused(code, out, err, "DETACH")
    # the query() table function cannot smuggle a statement in either
    code, out, err = cli(capsys, warehouse, read_path, f"SELECT * FROM query('ATTACH ''{warehouse}'' AS w')")
    assert code == 1 and err.count("\n") == 1
    assert patients_age_total(warehouse) == before


@pytest.mark.parametrize("read_path", PATHS)
def test_copy_and_export_write_nothing(warehouse, capsys, read_path, tmp_path):
    target = tmp_path / "x.csv"
    code, out, err = cli(capsys, warehouse, read_path, f"COPY staging.patients TO '{target}'")
    assert_refused(code, out, err, "COPY", "cardioml export")
    code, out, err = cli(capsys, warehouse, read_path, f"COPY (SELECT * FROM staging.patients) TO '{target}' (FORMAT csv)")
    assert_refused(code, out, err, "COPY")
    code, out, err = cli(capsys, warehouse, read_path, f"EXPORT DATABASE '{tmp_path / 'dump'}'")
    assert_refused(code, out, err, "EXPORT")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("read_path", PATHS)
def test_no_file_outside_the_warehouse_is_readable(warehouse, capsys, read_path, secret):
    for sql in (
        f"SELECT * FROM read_text('{secret}')",
        f"SELECT * FROM read_csv('{secret}', sep = ':')",
        f"SELECT * FROM read_blob('{secret}')",
        f"SELECT * FROM '{secret}'",
        f"SELECT * FROM glob('{secret.parent}/*')",
        f"SELECT * FROM query('SELECT * FROM read_text(''{secret}'')')",
        f"SELECT * FROM read_parquet('{warehouse.parent / 'artifacts' / 'ecg_images'}/../../*.duckdb')",
    ):
        code, out, err = cli(capsys, warehouse, read_path, sql)
        assert_refused(code, out, err)
        assert "secret" not in out and "root:x" not in err, sql


@pytest.mark.parametrize("read_path", PATHS)
def test_extensions_and_settings_cannot_change(warehouse, capsys, read_path):
    for sql, word in (
        ("LOAD json", "LOAD"),
        ("INSTALL httpfs", "INSTALL"),
        ("SET threads = 1", "SET"),
        ("SET enable_external_access = true", "SET"),
        ("RESET lock_configuration", "SET"),
        ("PRAGMA threads = 1", "PRAGMA"),
        ("CALL pragma_version()", "CALL"),
        ("SET VARIABLE x = 1", "SET"),
    ):
        code, out, err = cli(capsys, warehouse, read_path, sql)
        assert_refused(code, out, err, word)


@pytest.mark.parametrize("read_path", PATHS)
def test_one_statement_per_call(warehouse, capsys, read_path):
    code, out, err = cli(capsys, warehouse, read_path, "SELECT 1 AS a; SELECT 2 AS b")
    assert_refused(code, out, err, "one statement", "2")
    code, out, err = cli(capsys, warehouse, read_path, "   ")
    assert_refused(code, out, err, "no SQL statement")
    code, out, err = cli(capsys, warehouse, read_path, "SELEC 1")
    assert code == 1 and "Parser Error" in err and err.count("\n") == 1


def test_the_cli_process_refuses_an_attach_and_update_and_export_still_writes_its_file(warehouse, tmp_path):
    before = patients_age_total(warehouse)
    attack = f"ATTACH '{warehouse}' AS w (READ_WRITE); UPDATE w.staging.patients SET age = 999; SELECT 1"
    for extra in ([], ["--live"]):
        done = subprocess.run([str(BIN / "cardioml"), "sql", attack, "--warehouse", str(warehouse), *extra], capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert patients_age_total(warehouse) == before
    target = tmp_path / "patients.csv"
    done = subprocess.run([str(BIN / "cardioml"), "export", "staging.patients", "--to", str(target), "--warehouse", str(warehouse)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(target.read_text().splitlines()) == 1 + PATIENTS
    assert [p.name for p in tmp_path.iterdir()] == ["patients.csv"]
