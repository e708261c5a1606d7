"""The demo's data-entry errors (`cardioml demo-data --error-rate`): every injected error reaches
`quality.quarantine` in a real run; rate 0 gives clean tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from cardioml_pipeline.clinical.tables import TABLES
from cardioml_pipeline.demo.clinical import ENTRY_ERRORS_FILE, write_demo_dataset
from cardioml_pipeline.demo.errors import ERROR_KINDS, inject_entry_errors
from cardioml_pipeline_tests.conftest import check_results, failed_steps, query, run_pipeline

CLINICAL = dg.AssetSelection.groups("raw", "staging") | dg.AssetSelection.keys("quality/quarantine")
CLI = Path(sys.executable).parent / "cardioml"


def test_every_kind_of_entry_error_is_injected_and_listed(tmp_path):
    summary = write_demo_dataset(tmp_path / "demo", patients=120, seed=5, error_rate=0.05)
    errors = pl.read_csv(tmp_path / "demo" / ENTRY_ERRORS_FILE, schema_overrides={"original": pl.String, "written": pl.String})
    assert summary["entry_errors"] == errors.height > 0
    assert set(errors["kind"]) == set(ERROR_KINDS)
    changed = errors.filter(pl.col("kind") != "duplicated row")
    assert (changed["original"] != changed["written"]).all()
    # the same seed and rate write the same bytes; the clean values around the errors do not move
    again = write_demo_dataset(tmp_path / "again", patients=120, seed=5, error_rate=0.05)
    for name in again["paths"]["tables"]:
        assert (tmp_path / "demo" / "Clinical_Data" / name).read_bytes() == (tmp_path / "again" / "Clinical_Data" / name).read_bytes()


def test_rate_zero_leaves_rows_untouched_and_rejects_a_bad_rate():
    rows = [["1001", "1", "12.5"], ["1002", "2", "13.1"]]
    header = ("Patient's file number", "Patient's file number", "Hemoglobin")
    assert inject_entry_errors("04_Complete_Blood_Count.csv", header, rows, 0.0, np.random.default_rng(0)) == (rows, [])
    with pytest.raises(ValueError, match="error rate"):
        inject_entry_errors("04_Complete_Blood_Count.csv", header, rows, 1.5, np.random.default_rng(0))


def test_injected_errors_reach_the_quarantine_and_a_clean_demo_has_none(tmp_path):
    data = tmp_path / "demo"
    write_demo_dataset(data, patients=80, seed=11, error_rate=0.04)
    errors = pl.read_csv(data / ENTRY_ERRORS_FILE, schema_overrides={"original": pl.String, "written": pl.String})
    warehouse = tmp_path / "w.duckdb"
    result = run_pipeline(data, warehouse, selection=CLINICAL)
    assert failed_steps(result) == {}
    assert check_results(result)[("quality/quarantine", "every_raw_row_accounted")].passed
    staging_by_file = {t.source_file: t.staging_table for t in TABLES}
    quarantine = query(warehouse, "SELECT table_name, _row_number, column_name, value, action, reason FROM quality.quarantine")
    for error in errors.iter_rows(named=True):
        table = staging_by_file[error["table_file"]]
        hits = [q for q in quarantine if q[0] == table and q[1] == error["row"]]
        if error["kind"] == "duplicated row":
            assert any(q[4] == "row_excluded" and "duplicate" in q[5] for q in hits), (error, hits)
        else:
            assert any(q[2] == error["column"] and q[3] == error["written"] and q[4] == "value_nulled" for q in hits), (error, hits)

    clean = tmp_path / "clean"
    write_demo_dataset(clean, patients=80, seed=11, error_rate=0.0)
    assert not (clean / ENTRY_ERRORS_FILE).exists()
    result = run_pipeline(clean, tmp_path / "clean.duckdb", selection=CLINICAL)
    assert failed_steps(result) == {}
    assert query(tmp_path / "clean.duckdb", "SELECT count(*) FROM quality.quarantine") == [(0,)]


def test_cli_error_rate_option(tmp_path):
    default = subprocess.run([str(CLI), "demo-data", "--patients", "574", "--no-images", "--out", str(tmp_path / "d")], capture_output=True, text=True, timeout=120)
    assert default.returncode == 0, default.stderr
    assert (tmp_path / "d" / ENTRY_ERRORS_FILE).exists(), "the default demo shows the quarantine at work"
    clean = subprocess.run([str(CLI), "demo-data", "--patients", "30", "--no-images", "--error-rate", "0", "--out", str(tmp_path / "c")], capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0 and "entry_errors: 0" in clean.stdout
    bad = subprocess.run([str(CLI), "demo-data", "--patients", "30", "--error-rate", "2", "--out", str(tmp_path / "b")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "error rate" in bad.stderr
