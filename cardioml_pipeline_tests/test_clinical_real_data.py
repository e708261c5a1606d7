"""The warehouse contract, asserted on the real CARDIO-ML tables in ../shared."""

from __future__ import annotations

import pytest

from cardioml_pipeline.clinical.tables import TABLES
from cardioml_pipeline_tests.conftest import check_results, failed_steps, query, run_pipeline

pytestmark = pytest.mark.real_data


@pytest.fixture(scope="module")
def real_run(real_dataset, tmp_path_factory):
    warehouse = tmp_path_factory.mktemp("real") / "warehouse.duckdb"
    result = run_pipeline(real_dataset, warehouse)
    return result, warehouse


def test_every_asset_materializes_on_the_real_tables(real_run):
    result, _ = real_run
    assert failed_steps(result) == {}
    assert result.success


@pytest.mark.parametrize("raw_table", [spec.raw_table for spec in TABLES])
def test_raw_tables_hold_all_581_rows_as_text(real_run, raw_table):
    _, warehouse = real_run
    assert query(warehouse, f'SELECT count(*) FROM raw."{raw_table}"') == [(581,)]
    types = query(
        warehouse,
        "SELECT DISTINCT data_type FROM information_schema.columns WHERE table_schema='raw' AND table_name=? AND column_name NOT LIKE '\\_%' ESCAPE '\\'",
        [raw_table],
    )
    assert types == [("VARCHAR",)]
    meta = query(warehouse, f'SELECT count(DISTINCT _source_sha256), count(DISTINCT _row_number), min(_row_number), max(_row_number) FROM raw."{raw_table}"')
    assert meta == [(1, 581, 1, 581)]


def test_raw_layer_is_lossless(real_run, real_dataset):
    """Every cell of a source file is in the raw table, byte for byte."""
    import csv

    _, warehouse = real_run
    path = real_dataset / "Clinical_Data" / "05_Metabolic_Panel_Cardiac_Enzymes.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    stored = query(warehouse, 'SELECT * EXCLUDE (_source_file, _source_sha256, _row_number, _ingested_at, _field_count, _extra_fields) FROM raw.metabolic_panel_cardiac_enzymes ORDER BY _row_number')
    assert [[("" if v is None else v) for v in row] for row in stored] == rows[1:]
    columns = [r[0] for r in query(warehouse, "SELECT column_name FROM information_schema.columns WHERE table_schema='raw' AND table_name='metabolic_panel_cardiac_enzymes' ORDER BY ordinal_position")]
    assert columns[:3] == ["Patient's file number", "Patient's file number (2)", "BS (Blood suger)"]


@pytest.mark.parametrize("spec", TABLES, ids=lambda s: s.staging_table)
def test_every_raw_row_is_staged_or_quarantined(real_run, spec):
    _, warehouse = real_run
    staged = query(warehouse, f'SELECT count(*) FROM staging."{spec.staging_table}"')[0][0]
    excluded = query(
        warehouse,
        "SELECT count(DISTINCT _row_number) FROM quality.quarantine WHERE table_name = ? AND action = 'row_excluded'",
        [spec.staging_table],
    )[0][0]
    assert staged + excluded == 581
    assert query(warehouse, f'SELECT count(*) - count(DISTINCT file_number) FROM staging."{spec.staging_table}"') == [(0,)]


def test_censored_troponin_keeps_its_limit_and_a_flag(real_run):
    _, warehouse = real_run
    assert query(warehouse, "SELECT count(*), min(troponin_i), max(troponin_i) FROM staging.metabolic_panel WHERE troponin_i_censored") == [(380, 0.05, 0.05)]
    assert query(warehouse, "SELECT count(*) FROM staging.metabolic_panel WHERE troponin_i_censored = false") == [(5,)]


def test_shared_record_numbers_are_flagged_and_warned(real_run):
    result, warehouse = real_run
    assert query(warehouse, "SELECT count(*), count(DISTINCT record_number) FROM staging.patients WHERE record_number_shared") == [(24, 12)]
    check = check_results(result)[("staging/patients", "shared_record_numbers")]
    assert not check.passed
    assert check.severity.value == "WARN"
    assert check.metadata["rows_flagged"].value == 24


def test_ecg_labels_link_to_patients_and_report_unmatched_keys(real_run):
    result, warehouse = real_run
    assert query(warehouse, "SELECT count(DISTINCT _row_number) FROM staging.ecg_labels WHERE file_number IS NOT NULL") == [(394,)]
    assert query(warehouse, "SELECT count(DISTINCT ecg_key) FROM staging.ecg_labels WHERE file_number IS NULL") == [(14,)]
    assert query(warehouse, "SELECT count(DISTINCT _row_number) FROM staging.ecg_labels") == [(408,)]
    checks = check_results(result)
    assert checks[("staging/ecg_labels", "unmatched_record_numbers")].metadata["unmatched_keys"].value == 14
    assert checks[("staging/ecg_labels", "all_labels_mapped")].passed
    # a record number shared by two patients gives one label row per patient
    shared = query(
        warehouse,
        "SELECT l.ecg_key, count(DISTINCT l.file_number) FROM staging.ecg_labels l JOIN staging.patients p USING (file_number) WHERE p.record_number_shared GROUP BY 1",
    )
    assert shared and all(n == 2 for _, n in shared)


def test_every_real_label_text_maps_to_a_coded_finding(real_run):
    _, warehouse = real_run
    assert query(warehouse, "SELECT count(*) FROM quality.quarantine WHERE table_name = 'ecg_labels'") == [(0,)]
    assert query(warehouse, "SELECT count(*) FROM staging.ecg_labels WHERE finding IS NULL") == [(0,)]
    codes = dict(query(warehouse, "SELECT DISTINCT finding, snomed_ct_code FROM staging.ecg_labels"))
    assert codes["atrial_fibrillation"] == "164889003"
    assert codes["left_bundle_branch_block"] == "164909002"
    assert codes["right_bundle_branch_block"] == "59118001"
    assert codes["premature_ventricular_contraction"] == "427172004"
    assert codes["first_degree_av_block"] == "270492004"
    suffixed = query(warehouse, "SELECT ecg_index FROM staging.ecg_labels WHERE ecg_key = '126035-2' LIMIT 1")
    assert suffixed == [(2,)]


def test_categories_are_normalized_to_documented_values(real_run):
    _, warehouse = real_run
    assert {r[0] for r in query(warehouse, "SELECT DISTINCT referral_method FROM staging.emergency_admission WHERE referral_method IS NOT NULL")} == {"ambulance", "self_referred"}
    assert {r[0] for r in query(warehouse, "SELECT DISTINCT gender FROM staging.patients WHERE gender IS NOT NULL")} == {"F", "M"}
    both_orders = query(warehouse, "SELECT count(*) FROM staging.medical_history WHERE previous_diseases = ['diabetes', 'hypertension']")
    assert both_orders[0][0] >= 42  # 'Hypertension, Diabetes' and 'Diabetes, Hypertension' rows become one list


def test_data_dictionary_describes_every_staged_column(real_run):
    _, warehouse = real_run
    missing = query(
        warehouse,
        """SELECT c.table_name, c.column_name FROM information_schema.columns c
           LEFT JOIN staging.data_dictionary d ON d.table_name = 'staging.' || c.table_name AND d.column_name = c.column_name
           WHERE c.table_schema = 'staging' AND c.table_name <> 'data_dictionary' AND (d.description IS NULL OR d.dtype IS NULL)""",
    )
    assert missing == []
    assert query(warehouse, "SELECT unit, source_column FROM staging.data_dictionary WHERE table_name='staging.metabolic_panel' AND column_name='troponin_i'") == [("ng/mL", "Troponine - I (Q)")]
    # CRP is in mg/L in these tables (median 2.0, max 94.7); the blood gas is venous
    assert query(warehouse, "SELECT unit FROM staging.data_dictionary WHERE column_name='crp'") == [("mg/L",)]
    assert query(warehouse, "SELECT median(crp) < 10, max(crp) < 100 FROM staging.inflammatory_markers") == [(True, True)]
    assert "venous" in query(warehouse, "SELECT description FROM staging.data_dictionary WHERE column_name='po2'")[0][0]
