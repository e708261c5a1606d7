"""Issue 15: bad input that used to pass silently (or sink a whole table) now fails loudly, with the
file and columns named, or is quarantined with a reason while the good rows load."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl
import dagster as dg
import pytest

from cardioml_pipeline_tests.conftest import check_results, failed_steps, query, run_pipeline

URINALYSIS = "Clinical_Data/08_Urinalysis.csv"
CORE = "Clinical_Data/01_Core_Patient_Data.csv"


def swap_key_columns(path: Path) -> None:
    lines = path.read_text().splitlines()
    swapped = []
    for line in lines:
        fields = line.split(",")
        fields[0], fields[1] = fields[1], fields[0]
        swapped.append(",".join(fields))
    path.write_text("\n".join(swapped) + "\n")


def test_swapped_key_columns_fail_that_table_naming_file_and_columns(demo_copy, tmp_path):
    """Case 1: before, every row loaded with exit 0 and the table joined no patient."""
    swap_key_columns(demo_copy / URINALYSIS)
    warehouse = tmp_path / "w.duckdb"
    result = run_pipeline(demo_copy, warehouse)
    failures = failed_steps(result)
    assert set(failures) == {"staging__urinalysis"}, failures
    message = failures["staging__urinalysis"]
    assert "08_Urinalysis.csv" in message and "Patient's file number" in message and "swapped" in message
    # the other tables load
    assert query(warehouse, "SELECT count(*) FROM staging.patients") == [(60,)]
    assert query(warehouse, "SELECT count(*) FROM staging.coagulation_profile") == [(60,)]

    # a second run over the same warehouse (table 01 already loaded) fails it the same way
    second = failed_steps(run_pipeline(demo_copy, warehouse))
    assert "staging__urinalysis" in second and "swapped" in second["staging__urinalysis"]


def test_swapped_key_columns_in_table_01_fail_staging_patients(demo_copy, tmp_path):
    core = demo_copy / CORE
    lines = core.read_text().splitlines()
    # table 01 has record numbers shared by two patients, as the real one does: make two so
    header, rows = lines[0], [line.split(",") for line in lines[1:]]
    rows[1][1] = rows[0][1]
    rows[3][1] = rows[2][1]
    core.write_text("\n".join([header, *(",".join(r) for r in rows)]) + "\n")
    swap_key_columns(core)
    result = run_pipeline(demo_copy, tmp_path / "w.duckdb", selection=["raw/core_patient_data", "staging/patients"])
    failures = failed_steps(result)
    assert "staging__patients" in failures and "01_Core_Patient_Data.csv" in failures["staging__patients"] and "swapped" in failures["staging__patients"]


def test_malformed_label_keys_are_quarantined_and_the_rest_loads(demo_copy, tmp_path):
    """Case 4: before, `6-0` and `5 - 2` failed staging.ecg_labels with a pandera error naming no
    row, and everything downstream was skipped."""
    labels = demo_copy / "ECG Labels.csv"
    good_rows = len(labels.read_bytes().splitlines())
    with labels.open("ab") as handle:
        handle.write(b"6-0, AF\r\n5 - 2, PVC\r\n\xd9\xa1\xd9\xa2-1, AF\r\n99999999999999999999, AF\r\n7-2, PAC\r\n")
    warehouse = tmp_path / "w.duckdb"
    result = run_pipeline(demo_copy, warehouse)
    assert failed_steps(result) == {}
    reasons = dict(query(warehouse, "SELECT value, reason FROM quality.quarantine WHERE table_name = 'ecg_labels' AND column_name = 'ecg_key' AND action = 'row_excluded'"))
    assert "ECG index 0" in reasons["6-0"]
    assert "not '<record number>'" in reasons["5 - 2"]
    assert "not '<record number>'" in reasons["١٢-1"]
    assert "outside" in reasons["99999999999999999999"]
    assert query(warehouse, "SELECT count(*) FROM staging.ecg_labels WHERE ecg_key = '7-2'") != [(0,)]
    staged_rows = query(warehouse, "SELECT count(DISTINCT _row_number) FROM staging.ecg_labels")[0][0]
    excluded = query(warehouse, "SELECT count(DISTINCT _row_number) FROM quality.quarantine WHERE table_name = 'ecg_labels' AND action = 'row_excluded'")[0][0]
    assert staged_rows + excluded == good_rows + 5
    assert check_results(result)[("staging/ecg_labels", "every_raw_row_accounted")].passed
    assert query(warehouse, "SELECT count(*) FROM features.patient_features") == [(60,)]


def edit_cell(path: Path, row: int, header: str, value: str) -> None:
    """Set the cell of data row `row` (1-based) under the first column named `header`."""
    lines = path.read_text().splitlines()
    column = lines[0].split(",").index(header)
    fields = lines[row].split(",")
    fields[column] = value
    lines[row] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")


def test_table_01_copies_are_validated_and_compared_with_their_source_tables(demo_copy, tmp_path):
    """Case 3: before, a systolic pressure of 400 in table 01's copy passed unseen, and nothing
    compared table 01's copies with tables 02-10."""
    core = demo_copy / CORE
    edit_cell(core, 2, "Systolic blood pressure ", "400")  # impossible, and disagrees with table 03
    edit_cell(core, 3, "Urine Bacteria", "Lots")  # unknown category in the copy
    edit_cell(demo_copy / "Clinical_Data/07_Coagulation_Profile.csv", 4, "INR", "3.3")  # table 07 disagrees with table 01's copy
    warehouse = tmp_path / "w.duckdb"
    result = run_pipeline(demo_copy, warehouse)
    assert failed_steps(result) == {}
    copies = query(warehouse, "SELECT file_number, column_name, value, reason FROM quality.quarantine WHERE table_name = 'patients' AND action = 'copy_not_staged' ORDER BY file_number")
    assert [(f, c, v) for f, c, v, _ in copies] == [(1002, "systolic_bp", "400.0"), (1003, "urine_bacteria", "Lots")]
    assert "staging.emergency_admission.systolic_bp" in copies[0][3] and "in_range" in copies[0][3]
    # the staged tables keep their own (valid) values; staging.patients is unchanged in size
    assert query(warehouse, "SELECT count(*) FROM staging.patients") == [(60,)]
    assert query(warehouse, "SELECT systolic_bp FROM staging.emergency_admission WHERE file_number = 1002") != [(400.0,)]
    disagreements = query(warehouse, "SELECT file_number, table_name, column_name, table_01_value, source_value FROM quality.table_01_disagreements ORDER BY 1, 2, 3")
    as_keys = {(f, t, c) for f, t, c, _, _ in disagreements}
    assert {(1002, "emergency_admission", "systolic_bp"), (1004, "coagulation_profile", "inr")} <= as_keys
    inr = [row for row in disagreements if row[2] == "inr"][0]
    assert inr[4] == "3.3" and inr[3] != "3.3"
    check = check_results(result)[("quality/table_01_copies", "table_01_copies_agree")]
    assert not check.passed
    assert check.metadata["cells_disagreeing"].value == len(disagreements) and check.metadata["cells_compared"].value > 1000


# ---------------------------------------------------------------------------------------------
# Image files (cases 5 and 6): every entry under ECG_Images/ gets an index row.


@pytest.fixture(scope="module")
def one_patient_images(tmp_path_factory) -> Path:
    from cardioml_pipeline.demo.clinical import generate_demo_patients
    from cardioml_pipeline.demo.images import write_demo_images

    out = tmp_path_factory.mktemp("images") / "dataset"
    write_demo_images(out, generate_demo_patients(1, 3), seed=3, workers=1)
    return out / "ECG_Images"


def index_reasons(artifacts: Path) -> dict[str, str | None]:
    frame = pl.read_parquet(artifacts / "ecg_images" / "index.parquet")
    return dict(zip(frame["source_path"], frame["reject_reason"]))


def test_entries_that_are_not_regular_files_or_have_foreign_digits_get_reject_rows(one_patient_images, tmp_path):
    """Case 5: before, a FIFO, a directory or a broken/looping link named like an image got no
    index row at all, and Arabic-Indic, full-width digits or a trailing newline parsed as a patient."""
    from cardioml_pipeline.ecg_images.processing import run_image_stage

    images = tmp_path / "ECG_Images"
    shutil.copytree(one_patient_images, images)
    good = (images / "Patient_1001_lead_II.png").read_bytes()
    os.mkfifo(images / "Patient_1008_lead_II.png")
    (images / "Patient_1008_lead_III.png").mkdir()
    (images / "Patient_1008_lead_I.png").symlink_to(images / "missing.png")
    (images / "Patient_1008_lead_aVR.png").symlink_to(images / "Patient_1008_lead_aVR.png")
    arabic, full_width, newline = "Patient_١٠٠٥_lead_I.png", "Patient_１００５_lead_I.png", "Patient_1005_lead_I.png\n"
    for name in (arabic, full_width, newline):
        (images / name).write_bytes(good)
    index, summary = run_image_stage(images, tmp_path / "artifacts", known_patients=None, workers=1)
    reasons = index_reasons(tmp_path / "artifacts")
    assert reasons["Patient_1008_lead_II.png"] == "not a regular file: a FIFO (named pipe)"
    assert reasons["Patient_1008_lead_III.png"] == "not a regular file: a directory"
    assert reasons["Patient_1008_lead_I.png"] == "not a regular file: broken symbolic link"
    assert reasons["Patient_1008_lead_aVR.png"] == "not a regular file: symbolic link loop"
    for name in (arabic, full_width, newline):
        assert reasons[name].startswith("file name is not"), name
    assert 1005 not in pl.read_parquet(tmp_path / "artifacts" / "ecg_images" / "index.parquet")["file_number"].to_list()
    assert sum(reason is None for reason in reasons.values()) == 12  # the patient's own leads still go through


STAGE_AGAIN = """
import sys
from pathlib import Path
from cardioml_pipeline.ecg_images.processing import run_image_stage
run_image_stage(Path(sys.argv[1]), Path(sys.argv[2]), known_patients=None, workers=1)
"""


def test_an_image_unreadable_since_the_last_run_becomes_a_reject_row(one_patient_images):
    """Case 6: before, the re-run crashed in `_reusable` on a touched file it could not read, and
    kept the old row of an unreadable file whose mtime had not moved."""
    from cardioml_pipeline.ecg_images.processing import run_image_stage

    root = Path(tempfile.mkdtemp(prefix="unreadable-"))  # not under pytest's private tmp: another user runs in it
    try:
        images, artifacts = root / "ECG_Images", root / "artifacts"
        shutil.copytree(one_patient_images, images)
        run_image_stage(images, artifacts, known_patients=None, workers=1)
        touched, untouched = images / "Patient_1001_lead_V2.png", images / "Patient_1001_lead_V3.png"
        stamp = untouched.stat()
        for path in (touched, untouched):
            path.chmod(0)
        os.utime(touched, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))
        os.utime(untouched, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        command = [sys.executable, "-c", STAGE_AGAIN, str(images), str(artifacts)]
        if os.geteuid() == 0:  # root reads any file: re-run as nobody, over folders nobody may write
            for path in [root, *root.rglob("*")]:
                if path not in (touched, untouched):
                    path.chmod(0o777 if path.is_dir() else 0o666)
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=root)
        assert done.returncode == 0, done.stderr[-3000:]
        reasons = index_reasons(artifacts)
        assert reasons["Patient_1001_lead_V2.png"].startswith("unreadable file: Permission denied")
        assert reasons["Patient_1001_lead_V3.png"].startswith("unreadable file: Permission denied")
        assert sum(reason is None for reason in reasons.values()) == 10
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Case 7: kill -9 of a run during the image stage.

POOL_PARENT = """
import sys, time
from cardioml_pipeline.parallel import bounded_map
for _ in bounded_map(time.sleep, [60.0] * 6, workers=2):
    pass
"""


def test_pool_workers_die_with_their_parent():
    """Before, workers of a SIGKILLed run went on with their queued tasks, then waited forever."""
    import psutil

    parent = subprocess.Popen([sys.executable, "-c", POOL_PARENT])
    try:
        deadline = time.monotonic() + 60
        workers: list[psutil.Process] = []
        while time.monotonic() < deadline:
            workers = [c for c in psutil.Process(parent.pid).children() if "resource_tracker" not in " ".join(c.cmdline())]
            if len(workers) >= 2:
                break
            time.sleep(0.2)
        assert len(workers) >= 2, "the pool did not start"
        time.sleep(2)  # let the workers pick up their tasks
        parent.kill()
        parent.wait()
        gone, alive = psutil.wait_procs(workers, timeout=10)
        assert alive == [], f"workers still running 10 s after their parent was killed: {[p.pid for p in alive]}"
    finally:
        parent.kill()
        parent.wait()
        for worker in workers:  # on failure, do not leave them behind either
            try:
                worker.kill()
            except psutil.NoSuchProcess:
                pass


def test_a_killed_runs_temporary_files_are_removed_by_the_next_stage(one_patient_images, tmp_path):
    from cardioml_pipeline.ecg_images.index import ArtifactLayout
    from cardioml_pipeline.ecg_images.processing import run_image_stage

    layout = ArtifactLayout(tmp_path / "artifacts")
    run_image_stage(one_patient_images, layout.root, known_patients=None, workers=1)
    stale = [layout.base / ".index.parquet.0123456789abcdef.tmp", layout.signals_dir / ".patient_1001.parquet.fedcba9876543210.tmp"]
    for path in stale:
        path.write_bytes(b"half written by a run killed with SIGKILL")
    run_image_stage(one_patient_images, layout.root, known_patients=None, workers=1)
    assert not any(path.exists() for path in stale)
    assert [p.name for p in layout.base.iterdir() if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------------------------------------
# Case 8: two first runs at once on a fresh Dagster home.

BIN = Path(sys.executable).parent


def test_two_first_runs_at_once_on_a_fresh_dagster_home_both_finish(tmp_path):
    """Before, both created the SQLite schema in Dagster's start-up and one failed with "table runs
    already exists". `cardioml init-home` (what the make targets run first) creates it once,
    under a lock; concurrent callers wait and then find it ready."""
    home = tmp_path / "dagster_home"
    env = dict(os.environ, DAGSTER_HOME=str(home))
    starts = [subprocess.Popen([str(BIN / "cardioml"), "init-home"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    for process in starts:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err[-2000:]
        assert "Dagster home ready" in out
    assert (home / "storage" / "runs.db").exists() or any(home.rglob("runs.db"))

    runs = []
    for name in ("a", "b"):
        run_env = dict(env, CARDIOML_WAREHOUSE=str(tmp_path / f"{name}.duckdb"), CARDIOML_ARTIFACTS_DIR=str(tmp_path / f"artifacts_{name}"))
        command = [str(BIN / "dagster"), "asset", "materialize", "-m", "cardioml_pipeline.definitions", "--select", "staging/ecg_findings"]
        runs.append(subprocess.Popen(command, env=run_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for process in runs:
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out[-3000:]
        assert "already exists" not in out


# ---------------------------------------------------------------------------------------------
# Case 2: partly written inputs.


def set_age(path: Path, seconds: float) -> None:
    os.utime(path, ns=(time.time_ns(), time.time_ns() - int(seconds * 1e9)))


def test_the_sensor_waits_for_slow_copies_and_complete_last_lines(demo_copy):
    """Before, a file quiet for 5 s counted as written: a slow copy launched runs at 101, 201, ...
    of its lines."""
    from cardioml_pipeline.automation.sensors import scan_clinical

    clinical = demo_copy / "Clinical_Data"
    paused = clinical / "03_Emergency_Admission_Metrics.csv"  # a copy pausing between bursts
    cut = clinical / "08_Urinalysis.csv"  # cut in the middle of a row
    cut.write_bytes(cut.read_bytes()[:-7])
    for path in clinical.iterdir():
        set_age(path, 3600)
    set_age(paused, 20)
    set_age(cut, 120)
    scan = scan_clinical(demo_copy, None, lambda key: None, time.time())
    assert "Clinical_Data/03_Emergency_Admission_Metrics.csv" in scan.settling
    assert "Clinical_Data/08_Urinalysis.csv" in scan.settling
    assert "Clinical_Data/04_Complete_Blood_Count.csv" in scan.changed
    assert not {"Clinical_Data/03_Emergency_Admission_Metrics.csv", "Clinical_Data/08_Urinalysis.csv"} & set(scan.changed)
    # quiet long enough: even a file without a final line end is taken (some exports end so)
    set_age(paused, 120)
    set_age(cut, 3600)
    scan = scan_clinical(demo_copy, None, lambda key: None, time.time())
    assert {"Clinical_Data/03_Emergency_Admission_Metrics.csv", "Clinical_Data/08_Urinalysis.csv"} <= set(scan.changed)


def snapshot_rows(warehouse: Path, table: str) -> tuple[int, str]:
    with duckdb.connect(str(warehouse.with_name("cardioml.snapshot.duckdb")), read_only=True) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0], conn.execute("SELECT run_id FROM meta.snapshot").fetchall()[0][0]


def test_a_table_that_shrinks_blocks_publishing_until_the_shrink_is_confirmed(demo_copy, tmp_path, monkeypatch):
    """Before, a run over a table cut at 20 of 60 rows finished with exit 0 and published a snapshot
    without the 40 missing rows."""
    warehouse = tmp_path / "cardioml.duckdb"
    assert run_pipeline(demo_copy, warehouse).success
    published_rows, first_run = snapshot_rows(warehouse, "staging.urinalysis")
    assert published_rows == 60

    urinalysis = demo_copy / URINALYSIS
    lines = urinalysis.read_text().splitlines()
    urinalysis.write_text("\n".join(lines[:21]) + "\n")  # header + 20 rows, cut at a line end
    blocked = run_pipeline(demo_copy, warehouse)
    assert not blocked.success
    check = check_results(blocked)[("raw/urinalysis", "no_unconfirmed_shrink")]
    assert not check.passed
    assert "raw.urinalysis" in check.description and "60" in check.description and "20" in check.description
    assert "08_Urinalysis.csv" in check.description and "CARDIOML_ALLOW_SHRINK=urinalysis" in check.description
    assert snapshot_rows(warehouse, "staging.urinalysis") == (60, first_run)  # nothing published
    assert query(warehouse, "SELECT count(*) FROM staging.urinalysis") == [(60,)]  # staging not rebuilt from the cut file

    # the same run again: still blocked (the comparison is with the published snapshot)
    assert not run_pipeline(demo_copy, warehouse).success
    assert snapshot_rows(warehouse, "staging.urinalysis")[0] == 60

    # confirmed (here through the environment; allow_shrink in the resource config works too): published
    monkeypatch.setenv("CARDIOML_ALLOW_SHRINK", "urinalysis")
    confirmed = run_pipeline(demo_copy, warehouse)
    assert confirmed.success, failed_steps(confirmed)
    assert check_results(confirmed)[("raw/urinalysis", "no_unconfirmed_shrink")].metadata["shrink_confirmed"].value
    assert snapshot_rows(warehouse, "staging.urinalysis")[0] == 20


def test_a_shrink_within_the_allowed_share_publishes(demo_copy, tmp_path):
    warehouse = tmp_path / "cardioml.duckdb"
    assert run_pipeline(demo_copy, warehouse).success
    urinalysis = demo_copy / URINALYSIS
    lines = urinalysis.read_text().splitlines()
    urinalysis.write_text("\n".join(lines[:-5]) + "\n")  # 55 of 60 rows: 8 % fewer
    assert run_pipeline(demo_copy, warehouse).success
    assert snapshot_rows(warehouse, "staging.urinalysis")[0] == 55


# ---------------------------------------------------------------------------------------------
# Privacy: CARDIOML_ROW_PREVIEWS.


def event_text(result) -> str:
    return "\n".join(repr(event) for event in result.all_events)


@pytest.mark.parametrize("previews", ["1", "0"])
def test_row_previews_can_be_kept_out_of_dagsters_event_storage(demo_copy, tmp_path, monkeypatch, previews):
    core = demo_copy / CORE
    edit_cell(core, 4, "Patient Gender", "Zorblax")  # a quarantined value, easy to find
    monkeypatch.setenv("CARDIOML_ROW_PREVIEWS", previews)
    result = run_pipeline(demo_copy, tmp_path / "w.duckdb", selection=["raw/core_patient_data", "staging/patients"])
    assert result.success
    text = event_text(result)
    staged = result.asset_materializations_for_node("staging__patients")[0].metadata
    check = check_results(result)[("staging/patients", "schema_validation")]
    assert staged["dagster/row_count"].value == 60 and check.metadata["failure_count"].value >= 1  # counts stay
    if previews == "1":
        assert "Zorblax" in text
        preview = staged["preview"]
        assert isinstance(preview, dg.TableMetadataValue) and len(preview.records) == 5
        assert "examples" in check.metadata
    else:
        assert "Zorblax" not in text
        assert "preview" not in staged and "examples" not in check.metadata
