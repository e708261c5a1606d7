"""Reliability with real processes: analysts reading while a run writes, a run killed with SIGKILL
in the middle of a DuckDB write, and two materializations launched at once.

Each run is `dagster asset materialize -m cardioml_pipeline.definitions --select '*'` in a
subprocess, with CARDIOML_* and DAGSTER_HOME pointing into tmp dirs. Two datasets: A (120
patients) and B (160 patients, with values, a duplicate and a truncated row to quarantine), so every
answer a reader gets can be compared with the answer of a clean warehouse built from A or from B."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cardioml_pipeline.automation.consistency import reader_consistency_sql
from cardioml_pipeline.resources import WarehouseResource
from cardioml_pipeline_tests.conftest import run_pipeline

pytestmark = pytest.mark.e2e

PROJECT = Path(__file__).resolve().parents[1]
DAGSTER = Path(sys.executable).parent / "dagster"
RUN_TIMEOUT_S = 240
CLINICAL = dg.AssetSelection.groups("raw", "staging")  # what the reference warehouses need


def write_dataset(out: Path, patients: int, seed: int, quarantine_rows: bool) -> Path:
    from cardioml_pipeline.demo.clinical import write_demo_dataset

    write_demo_dataset(out, patients=patients, seed=seed)
    if quarantine_rows:
        path = out / "Clinical_Data" / "04_Complete_Blood_Count.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        rows[1][rows[0].index("WBC")] = "12..5"  # nulled value
        rows.append(list(rows[5]))  # duplicate file number: both rows excluded
        rows.append(rows[9][:4])  # truncated row: excluded
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\n").writerows(rows)
    return out


def snapshot_answer(conn: duckdb.DuckDBPyConnection) -> tuple:
    return tuple(sorted(conn.execute(reader_consistency_sql()).fetchall()))


def contents(warehouse: Path) -> dict[str, list[tuple]]:
    """Every clinical table's rows (raw without its load timestamp), sorted: equal contents = equal
    warehouses, whatever order the runs wrote them in. (staging.data_dictionary is left out: it also
    describes the image stage's views, which the clinical-only reference runs do not create.)"""
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        tables = conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE schema_name IN ('raw', 'staging', 'quality') "
            "AND NOT (schema_name = 'staging' AND table_name = 'data_dictionary') ORDER BY 1, 2"
        ).fetchall()
        out = {}
        for schema, table in tables:
            exclude = " EXCLUDE (_ingested_at)" if schema == "raw" else ""
            out[f"{schema}.{table}"] = conn.execute(f'SELECT *{exclude} FROM "{schema}"."{table}" ORDER BY ALL').fetchall()
        return out


@pytest.fixture(scope="module")
def states(tmp_path_factory) -> dict[str, dict]:
    """Datasets A and B, each materialized once in-process (the clinical layers: the tables
    compared) into a clean warehouse."""
    root = tmp_path_factory.mktemp("states")
    states = {}
    for name, patients, seed, bad in (("A", 120, 11, False), ("B", 160, 12, True)):
        data = write_dataset(root / f"data_{name}", patients, seed, bad)
        warehouse = root / f"clean_{name}" / "cardioml.duckdb"
        assert run_pipeline(data, warehouse, selection=CLINICAL).success
        with WarehouseResource(database=str(warehouse)).read() as conn:
            answer = snapshot_answer(conn)
        states[name] = {"data": data, "warehouse": warehouse, "answer": answer, "contents": contents(warehouse)}
    excluded_b = {row[0]: row[3] for row in states["B"]["answer"]}
    assert excluded_b["complete_blood_count"] >= 2  # the invariant is exercised with real exclusions
    assert states["A"]["answer"] != states["B"]["answer"]
    return states


def warehouse_from(state: dict, tmp_path: Path) -> Path:
    """A private copy of a materialized warehouse and its published snapshot."""
    target = tmp_path / "warehouse" / "cardioml.duckdb"
    target.parent.mkdir()
    shutil.copy(state["warehouse"], target)
    shutil.copy(state["warehouse"].with_name("cardioml.snapshot.duckdb"), target.with_name("cardioml.snapshot.duckdb"))
    return target


def initialize_dagster_home(home: Path) -> None:
    """Create the instance's SQLite storage once: two CLI processes creating it at the same moment
    race on the schema (a Dagster set-up race, not the warehouse behaviour under test). A real
    DAGSTER_HOME is initialized by its first run or by `dagster dev`."""
    home.mkdir(exist_ok=True)
    env = dict(os.environ, DAGSTER_HOME=str(home))
    subprocess.run([str(DAGSTER), "instance", "migrate"], env=env, cwd=PROJECT, check=True, capture_output=True, timeout=120)


def start_materialize(data: Path, warehouse: Path, home: Path, log: Path) -> subprocess.Popen:
    home.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        {
            "CARDIOML_DATA_DIR": str(data),
            "CARDIOML_WAREHOUSE": str(warehouse),
            "CARDIOML_ARTIFACTS_DIR": str(warehouse.parent / "artifacts"),
            "DAGSTER_HOME": str(home),
        }
    )
    handle = log.open("w")
    try:
        return subprocess.Popen(
            [str(DAGSTER), "asset", "materialize", "-m", "cardioml_pipeline.definitions", "--select", "*"],
            env=env,
            cwd=PROJECT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches every process of the run
        )
    finally:
        handle.close()


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_readers_never_fail_and_only_see_whole_runs(states, tmp_path):
    warehouse = warehouse_from(states["A"], tmp_path)
    reader = WarehouseResource(database=str(warehouse))
    run = start_materialize(states["B"]["data"], warehouse, tmp_path / "home", tmp_path / "run.log")
    answers, errors = [], []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while run.poll() is None and time.monotonic() < deadline:
            try:
                with reader.read() as conn:
                    answers.append(snapshot_answer(conn))
            except Exception as error:  # any failure is what this test is about
                errors.append(f"{type(error).__name__}: {error}")
            time.sleep(0.01)
    finally:
        stop(run)
    assert run.returncode == 0, (tmp_path / "run.log").read_text()[-3000:]
    with reader.read() as conn:
        answers.append(snapshot_answer(conn))

    assert errors == []
    assert len(answers) >= 20
    allowed = {states["A"]["answer"]: "A", states["B"]["answer"]: "B"}
    seen = [allowed.get(answer, "inconsistent") for answer in answers]
    assert "inconsistent" not in seen
    for answer in answers:
        assert all(raw == staged + excluded for _, raw, staged, excluded in answer)
    assert seen[0] == "A" and seen[-1] == "B"
    assert "".join(seen).count("BA") == 0  # the switch happens once, atomically
    assert contents(warehouse) == states["B"]["contents"]


def test_sigkill_during_a_write_leaves_a_readable_warehouse_and_the_next_run_completes(states, tmp_path):
    warehouse = warehouse_from(states["A"], tmp_path)
    wal = warehouse.with_name(warehouse.name + ".wal")
    run = start_materialize(states["B"]["data"], warehouse, tmp_path / "home", tmp_path / "killed.log")
    caught = False
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while run.poll() is None and time.monotonic() < deadline:
            if wal.exists():  # a write transaction is open (or just committed, not yet checkpointed)
                os.killpg(run.pid, signal.SIGKILL)
                caught = True
                break
            time.sleep(0.0005)
    finally:
        stop(run)
    assert caught, "the run finished before a write was caught in progress: " + (tmp_path / "killed.log").read_text()[-2000:]
    assert run.returncode == -signal.SIGKILL

    # readable, and every table is wholly A's or wholly B's (each write is one transaction)
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        ledger = conn.execute("SELECT table_name, row_count FROM meta.table_versions").fetchall()
        for table_name, row_count in ledger:
            schema, _, table = table_name.partition(".")
            assert conn.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall() == [(row_count,)], table_name
    after_kill = contents(warehouse)
    for table, rows in after_kill.items():
        if table == "quality.quarantine":
            continue  # rewritten table by table, with each staging table
        assert rows in (states["A"]["contents"].get(table), states["B"]["contents"].get(table)), table
    # the killed run published nothing: analysts still read A, whole
    with WarehouseResource(database=str(warehouse)).read() as conn:
        assert snapshot_answer(conn) == states["A"]["answer"]

    rerun = start_materialize(states["B"]["data"], warehouse, tmp_path / "home", tmp_path / "rerun.log")
    try:
        assert rerun.wait(timeout=RUN_TIMEOUT_S) == 0, (tmp_path / "rerun.log").read_text()[-3000:]
    finally:
        stop(rerun)
    assert contents(warehouse) == states["B"]["contents"]  # complete, and no duplicates
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        assert conn.execute("SELECT count(*) = count(DISTINCT file_number) FROM staging.patients").fetchall() == [(True,)]
        assert conn.execute(
            "SELECT count(*) = count(DISTINCT (table_name, _row_number, column_name, reason)) FROM quality.quarantine"
        ).fetchall() == [(True,)]
    with WarehouseResource(database=str(warehouse)).read() as conn:
        assert snapshot_answer(conn) == states["B"]["answer"]
    assert not list(warehouse.parent.glob(".*.tmp-*"))


def test_two_materializations_at_once_do_not_corrupt_anything(states, tmp_path):
    warehouse = tmp_path / "warehouse" / "cardioml.duckdb"  # does not exist yet: both race to create it
    home = tmp_path / "home"
    initialize_dagster_home(home)
    runs = [start_materialize(states["B"]["data"], warehouse, home, tmp_path / f"run{i}.log") for i in (1, 2)]
    try:
        codes = [run.wait(timeout=RUN_TIMEOUT_S) for run in runs]
    finally:
        for run in runs:
            stop(run)
    logs = [(tmp_path / f"run{i}.log").read_text() for i in (1, 2)]
    assert 0 in codes, "\n\n".join(log[-2000:] for log in logs)
    for code, log in zip(codes, logs):
        # the writer lock makes the other run wait; if it ever gives up, it says why
        assert code == 0 or "lock" in log.lower(), log[-3000:]
    assert contents(warehouse) == states["B"]["contents"]
    with WarehouseResource(database=str(warehouse)).read() as conn:
        assert snapshot_answer(conn) == states["B"]["answer"]
    assert not list(warehouse.parent.glob(".*.tmp-*"))
