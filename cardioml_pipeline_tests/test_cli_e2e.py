"""End to end through the real command lines: `cardioml demo-data`, then the Dagster CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


def run(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_demo_data_then_dagster_cli_materializes_everything(tmp_path):
    project = Path(__file__).resolve().parents[1]
    data = tmp_path / "demo"
    env = dict(os.environ)
    env.update(
        {
            "CARDIOML_DATA_DIR": str(data),
            "CARDIOML_WAREHOUSE": str(tmp_path / "warehouse" / "cardioml.duckdb"),
            "CARDIOML_ARTIFACTS_DIR": str(tmp_path / "artifacts"),
            "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        }
    )
    (tmp_path / "dagster_home").mkdir()
    generated = run([str(BIN / "cardioml"), "demo-data", "--patients", "25", "--seed", "3", "--out", str(data)], env, project)
    assert generated.returncode == 0, generated.stderr
    assert (data / "Clinical_Data" / "01_Core_Patient_Data.csv").exists()
    assert (data / "ECG Labels.csv").exists()

    bad = run([str(BIN / "cardioml"), "demo-data", "--patients", "0", "--out", str(tmp_path / "x")], env, project)
    assert bad.returncode == 2 and "patients" in bad.stderr

    materialized = run([str(BIN / "dagster"), "asset", "materialize", "-m", "cardioml_pipeline.definitions", "--select", "*"], env, project)
    assert materialized.returncode == 0, materialized.stdout[-3000:] + materialized.stderr[-3000:]
    with duckdb.connect(env["CARDIOML_WAREHOUSE"], read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM staging.patients").fetchall() == [(25,)]
        assert conn.execute("SELECT count(*) FROM raw.ecg_labels").fetchall()[0][0] > 0
