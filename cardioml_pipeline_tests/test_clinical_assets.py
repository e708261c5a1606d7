"""Real in-process Dagster runs of the clinical assets on small demo data: contract, idempotent
re-runs, change detection, and the bad input the pipeline must survive."""

from __future__ import annotations

import dagster as dg
import pytest

from cardioml_pipeline.clinical.tables import TABLES
from cardioml_pipeline.definitions import defs
from cardioml_pipeline_tests.conftest import check_results, failed_steps, query, run_pipeline

CORE = "Clinical_Data/01_Core_Patient_Data.csv"
CBC = "Clinical_Data/04_Complete_Blood_Count.csv"
URINE = "Clinical_Data/08_Urinalysis.csv"


def versions(warehouse) -> dict[str, object]:
    return dict(query(warehouse, "SELECT table_name, written_at FROM meta.table_versions"))


def edit_cell(path, row_index: int, column: str, value: str) -> None:
    """Set one cell of a demo CSV (row_index counts data rows from 0)."""
    import csv

    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    rows[row_index + 1][rows[0].index(column)] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def test_definitions_load_with_groups_checks_and_the_main_job():
    graph = defs.resolve_asset_graph()
    keys = {"/".join(k.path) for k in graph.get_all_asset_keys()}
    for spec in TABLES:
        assert f"raw/{spec.raw_table}" in keys and f"staging/{spec.staging_table}" in keys
    assert {"raw/ecg_labels", "staging/ecg_labels", "staging/data_dictionary", "quality/quarantine"} <= keys
    groups = {graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert {"raw", "staging"} <= groups <= {"raw", "staging", "images", "features", "exports"}
    check_names = {(("/".join(c.asset_key.path)), c.name) for c in graph.asset_check_keys}
    assert ("staging/patients", "shared_record_numbers") in check_names
    assert ("staging/ecg_labels", "unmatched_record_numbers") in check_names
    assert defs.resolve_job_def("cardioml_main") is not None


def test_demo_run_meets_the_contract(demo_copy, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    result = run_pipeline(demo_copy, warehouse)
    assert failed_steps(result) == {}
    assert query(warehouse, "SELECT count(*) FROM raw.core_patient_data") == [(60,)]
    assert query(warehouse, "SELECT count(*) FROM staging.patients") == [(60,)]
    checks = check_results(result)
    assert checks[("quality/quarantine", "every_raw_row_accounted")].passed
    assert checks[("staging/ecg_labels", "all_labels_mapped")].passed
    materialization = result.asset_materializations_for_node("staging__patients")[0]
    meta = materialization.metadata
    assert meta["dagster/row_count"].value == 60
    lineage = meta["dagster/column_lineage"].value
    assert lineage.deps_by_column["age"][0].column_name == "Patient Age"
    assert lineage.deps_by_column["age"][0].asset_key == dg.AssetKey(["raw", "core_patient_data"])
    schema_columns = [c.name for c in meta["dagster/column_schema"].value.columns]
    assert "record_number_shared" in schema_columns
    raw_meta = result.asset_materializations_for_node("raw__core_patient_data")[0].metadata
    assert len(raw_meta["source_sha256"].value) == 64


def test_rerun_on_unchanged_input_rewrites_nothing(demo_copy, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    assert run_pipeline(demo_copy, warehouse).success
    before = versions(warehouse)
    second = run_pipeline(demo_copy, warehouse)
    assert second.success
    assert versions(warehouse) == before
    assert second.asset_materializations_for_node("raw__urinalysis")[0].metadata["rewritten"].value is False
    assert query(warehouse, "SELECT count(*) FROM staging.urinalysis") == [(60,)]


def test_a_changed_csv_rewrites_only_what_depends_on_it(demo_copy, tmp_path):
    warehouse = tmp_path / "w.duckdb"
    assert run_pipeline(demo_copy, warehouse).success
    before = versions(warehouse)
    edit_cell(demo_copy / URINE, 0, "Urine PH", "7")
    assert run_pipeline(demo_copy, warehouse).success
    after = versions(warehouse)
    changed = {name for name in after if after[name] != before.get(name)}
    # downstream feature tables may follow, but no other raw or staging table is rewritten
    assert {name for name in changed if name.startswith(("raw.", "staging."))} == {"raw.urinalysis", "staging.urinalysis"}
    assert query(warehouse, "SELECT urine_ph FROM staging.urinalysis ORDER BY _row_number LIMIT 1") == [(7.0,)]


def test_missing_csv_fails_its_asset_and_the_rest_loads(demo_copy, tmp_path):
    (demo_copy / CBC).unlink()
    warehouse = tmp_path / "w.duckdb"
    failures = failed_steps(run_pipeline(demo_copy, warehouse))
    assert set(failures) == {"raw__complete_blood_count"}
    assert "04_Complete_Blood_Count.csv: file not found" in failures["raw__complete_blood_count"]
    assert query(warehouse, "SELECT count(*) FROM staging.patients") == [(60,)]
    assert query(warehouse, "SELECT count(*) FROM staging.urinalysis") == [(60,)]


def test_empty_file_fails_with_a_clear_error(demo_copy, tmp_path):
    (demo_copy / CBC).write_bytes(b"")
    failures = failed_steps(run_pipeline(demo_copy, tmp_path / "w.duckdb"))
    assert set(failures) == {"raw__complete_blood_count"}
    assert "04_Complete_Blood_Count.csv: file is empty" in failures["raw__complete_blood_count"]


def test_missing_required_column_fails_naming_file_and_column(demo_copy, tmp_path):
    path = demo_copy / CBC
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    drop = header.index("Hemoglobin")
    path.write_text("\n".join(",".join(c for i, c in enumerate(line.split(",")) if i != drop) for line in lines) + "\n", encoding="utf-8")
    warehouse = tmp_path / "w.duckdb"
    failures = failed_steps(run_pipeline(demo_copy, warehouse))
    assert set(failures) == {"raw__complete_blood_count"}
    assert "04_Complete_Blood_Count.csv, column 'Hemoglobin': required column missing" in failures["raw__complete_blood_count"]
    assert query(warehouse, "SELECT count(*) FROM staging.metabolic_panel") == [(60,)]


def test_extra_unknown_column_is_kept_raw_and_ignored_in_staging(demo_copy, tmp_path):
    path = demo_copy / CBC
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0] + ",Reticulocytes"] + [line + ",1.1" for line in lines[1:]]) + "\n", encoding="utf-8")
    warehouse = tmp_path / "w.duckdb"
    result = run_pipeline(demo_copy, warehouse)
    assert failed_steps(result) == {}
    assert query(warehouse, 'SELECT count(*) FROM raw.complete_blood_count WHERE "Reticulocytes" = \'1.1\'') == [(60,)]
    assert result.asset_materializations_for_node("raw__complete_blood_count")[0].metadata["unknown_columns"].value == ["Reticulocytes"]
    assert "reticulocytes" not in [r[0] for r in query(warehouse, "SELECT column_name FROM information_schema.columns WHERE table_name='complete_blood_count' AND table_schema='staging'")]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "latin-1"])
def test_bom_and_latin1_files_load(demo_copy, tmp_path, encoding):
    path = demo_copy / "Clinical_Data/10_Comprehensive_Medical_History.csv"
    edit_cell(path, 0, "Previous diseases", "Hypertension, Diabète")
    path.write_bytes(path.read_text(encoding="utf-8").encode(encoding))
    warehouse = tmp_path / "w.duckdb"
    result = run_pipeline(demo_copy, warehouse)
    assert failed_steps(result) == {}
    assert query(warehouse, "SELECT \"Previous diseases\" FROM raw.comprehensive_medical_history WHERE _row_number = 1") == [("Hypertension, Diabète",)]
    assert query(warehouse, "SELECT previous_diseases FROM staging.medical_history WHERE _row_number = 1") == [(["diabète", "hypertension"],)]


def test_crlf_file_loads_like_lf(demo_copy, tmp_path):
    path = demo_copy / CBC
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    warehouse = tmp_path / "w.duckdb"
    result = run_pipeline(demo_copy, warehouse)
    assert failed_steps(result) == {}
    assert result.asset_materializations_for_node("raw__complete_blood_count")[0].metadata["line_ending"].value == "CRLF"
    assert query(warehouse, "SELECT count(*) FROM staging.complete_blood_count") == [(60,)]


def test_bad_values_truncated_row_and_duplicate_key_are_quarantined(demo_copy, tmp_path):
    path = demo_copy / CBC
    edit_cell(path, 0, "WBC", "12..5")
    edit_cell(path, 1, "RBC", "N/A")
    edit_cell(path, 2, "Platelets", "-")
    lines = path.read_text(encoding="utf-8").splitlines()
    duplicate = lines[5].split(",")
    duplicate[2] = "9999"  # same file number as data row 5, conflicting WBC
    lines.append(",".join(duplicate))
    lines.append(lines[10][: len(lines[10]) // 3])  # truncated last row
    path.write_text("\n".join(lines), encoding="utf-8")  # no newline at the end either
    warehouse = tmp_path / "w.duckdb"
    result = run_pipeline(demo_copy, warehouse)
    assert failed_steps(result) == {}
    quarantine = query(warehouse, "SELECT _row_number, column_name, value, reason, action FROM quality.quarantine WHERE table_name='complete_blood_count' ORDER BY _row_number, column_name")
    assert (1, "wbc", "12..5", "not a number", "value_nulled") in quarantine
    assert (2, "rbc", "N/A", "not a number", "value_nulled") in quarantine
    assert (3, "platelets", "-", "not a number", "value_nulled") in quarantine
    assert any(r[0] == 62 and r[3].startswith("truncated row") for r in quarantine)
    duplicates = [r for r in quarantine if r[3].startswith("duplicate file_number")]
    assert {r[0] for r in duplicates} == {5, 61}
    assert query(warehouse, "SELECT count(*) FROM raw.complete_blood_count") == [(62,)]
    assert query(warehouse, "SELECT count(*) FROM staging.complete_blood_count") == [(59,)]  # 62 - 2 conflicting - 1 truncated
    checks = check_results(result)
    assert not checks[("staging/complete_blood_count", "schema_validation")].passed
    assert checks[("staging/complete_blood_count", "schema_validation")].metadata["failure_count"].value == len(quarantine)
    assert checks[("staging/complete_blood_count", "every_raw_row_accounted")].passed
    assert checks[("quality/quarantine", "every_raw_row_accounted")].passed
    assert query(warehouse, "SELECT count(*) FROM staging.patients") == [(60,)]
