"""End to end through the real command lines: `cardioml demo-data`, then the `dg` CLI as `make` runs it."""

from __future__ import annotations

import os
import shutil
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
    shutil.copy(project / "dagster.yaml", tmp_path / "dagster_home" / "dagster.yaml")  # as `make` does
    generated = run([str(BIN / "cardioml"), "demo-data", "--patients", "25", "--seed", "3", "--out", str(data)], env, project)
    assert generated.returncode == 0, generated.stderr
    assert (data / "Clinical_Data" / "01_Core_Patient_Data.csv").exists()
    assert (data / "ECG Labels.csv").exists()

    bad = run([str(BIN / "cardioml"), "demo-data", "--patients", "0", "--out", str(tmp_path / "x")], env, project)
    assert bad.returncode == 2 and "patients" in bad.stderr

    checked = run([str(BIN / "dg"), "check", "defs"], env, project)
    assert checked.returncode == 0 and "All definitions loaded successfully" in checked.stdout + checked.stderr, checked.stdout + checked.stderr
    listed = run([str(BIN / "dg"), "list", "defs", "--json"], env, project)
    assert listed.returncode == 0, listed.stderr
    assert "staging/patients" in listed.stdout and "images/ecg_images" in listed.stdout

    # `make materialize`: dg launch under the progress printer, the whole log in a file
    log = tmp_path / "dagster_home" / "last_materialize.log"
    materialized = run([str(BIN / "python"), "-m", "cardioml_pipeline.progress", "--log", str(log), "--", str(BIN / "dg"), "launch", "--assets", "*"], env, project)
    assert materialized.returncode == 0, materialized.stdout[-3000:] + materialized.stderr[-3000:] + log.read_text()[-3000:]
    shown = materialized.stdout.splitlines()
    assert any("step" in line and "done: staging__patients" in line for line in shown), materialized.stdout
    assert any("image stage: 300/300 images processed" in line for line in shown), materialized.stdout
    assert len(shown) < 80, "the screen gets progress lines, not the log"
    full_log = log.read_text()
    assert "STEP_SUCCESS" in full_log and "RUN_SUCCESS" in full_log
    # the project's own calls cause no supersession or beta warnings
    assert "SupersessionWarning" not in full_log and "BetaWarning" not in full_log, full_log[:2000]
    with duckdb.connect(env["CARDIOML_WAREHOUSE"], read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM staging.patients").fetchall() == [(25,)]
        assert conn.execute("SELECT count(*) FROM raw.ecg_labels").fetchall()[0][0] > 0
