"""The feature layer through real in-process Dagster runs: table shapes, hand-computed rows, the
dictionary against the column lineage, the Parquet copies, idempotent re-runs, and the real
CARDIO-ML tables (no images: null ECG features, clinical baselines still reported)."""

from __future__ import annotations

import csv
import shutil

import dagster as dg
import pandas as pd
import polars as pl
import pyarrow.parquet as pq
import pytest

from cardioml_pipeline.definitions import defs
from cardioml_pipeline.features.baseline import baseline_tasks
from cardioml_pipeline.features.dictionary import dictionary_pairs, feature_specs, lineage_pairs
from cardioml_pipeline.features.ecg import LEAD_TABLE_SCHEMA
from cardioml_pipeline.features.splits import SPLITS
from cardioml_pipeline_tests.conftest import check_results, failed_steps, query, run_pipeline

FEATURE_TABLES = ("features.ecg_lead_features", "features.patient_features", "features.splits", "features.feature_dictionary", "features.baseline_metrics")
FEATURE_CHECKS = [
    ("features/patient_features", "one_row_per_patient"),
    ("features/patient_features", "feature_schema"),
    ("features/splits", "no_record_number_in_two_splits"),
    ("features/splits", "proportions_70_15_15"),
    ("features/feature_dictionary", "matches_lineage"),
]
# hand-set values for the first two demo patients (1001, 1002): every CSV with the header gets it
HAND_ROWS = {
    0: {"Patient Gender": "M", "Patient Age": "60", "Systolic blood pressure ": "120", "Diastolic blood pressure": "80", "Pulse rate (PR)": "90", "Urea": "42.8", "Creatinine": "1.2"},
    1: {"Patient Gender": "F", "Patient Age": "50", "Systolic blood pressure ": "90", "Diastolic blood pressure": "60", "Pulse rate (PR)": "117", "Urea": "30", "Creatinine": "0.8"},
}


def set_cells(dataset, edits: dict[int, dict[str, str]]) -> None:
    for path in sorted((dataset / "Clinical_Data").glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        for row_index, values in edits.items():
            for column, value in values.items():
                if column in rows[0]:
                    rows[row_index + 1][rows[0].index(column)] = value
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\r\n").writerows(rows)


def frame(warehouse, sql: str, params=None) -> pl.DataFrame:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return conn.sql(sql, params=params).pl()


@pytest.fixture(scope="module")
def demo_run(demo_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("features_demo")
    dataset = root / "dataset"
    shutil.copytree(demo_dataset, dataset)
    set_cells(dataset, HAND_ROWS)
    warehouse, artifacts = root / "warehouse.duckdb", root / "artifacts"
    return run_pipeline(dataset, warehouse, artifacts), warehouse, artifacts, dataset


def test_feature_assets_materialize_with_their_checks_passing(demo_run):
    result, _, _, _ = demo_run
    assert failed_steps(result) == {}
    checks = check_results(result)
    for check in FEATURE_CHECKS:
        assert checks[check].passed, (check, checks[check].metadata)


def test_table_shapes(demo_run):
    _, warehouse, _, _ = demo_run
    specs = feature_specs()
    patients = query(warehouse, "SELECT count(*) FROM staging.patients")[0][0]
    assert query(warehouse, "SELECT count(*), count(DISTINCT file_number) FROM features.patient_features") == [(patients, patients)]
    columns = [r[0] for r in query(warehouse, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'features' AND table_name = 'patient_features' ORDER BY ordinal_position")]
    assert columns == [s.name for s in specs]
    assert len(columns) > 250
    assert query(warehouse, "SELECT count(*), count(DISTINCT file_number) FROM features.splits") == [(patients, patients)]
    assert query(warehouse, "SELECT count(*) FROM features.feature_dictionary") == [(len(specs),)]
    assert query(warehouse, "SELECT count(*) FROM features.baseline_metrics") == [(len(baseline_tasks(specs)),)]
    assert query(warehouse, "SELECT count(*) FROM features.ecg_lead_features") == [(0,)]  # the demo dataset has no images
    lead_columns = [r[0] for r in query(warehouse, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'features' AND table_name = 'ecg_lead_features' ORDER BY ordinal_position")]
    assert lead_columns == list(LEAD_TABLE_SCHEMA)
    assert set(r[0] for r in query(warehouse, "SELECT DISTINCT split FROM features.splits")) <= set(SPLITS)


def test_units_and_formulas_on_hand_computed_rows(demo_run):
    _, warehouse, _, _ = demo_run
    rows = frame(
        warehouse,
        "SELECT file_number, age, sex_male, systolic_bp, mean_arterial_pressure, pulse_pressure, shock_index, bun, bun_creatinine_ratio, egfr_ckd_epi_2021 FROM features.patient_features WHERE file_number IN (1001, 1002) ORDER BY file_number",
    ).rows(named=True)
    male, female = rows
    assert (male["age"], male["sex_male"], male["systolic_bp"]) == (60, 1, 120.0)
    assert male["mean_arterial_pressure"] == pytest.approx(93.333, abs=0.001)  # (120 + 2*80) / 3 mmHg
    assert male["pulse_pressure"] == 40.0
    assert male["shock_index"] == pytest.approx(0.75)  # 90 / 120
    assert male["bun"] == pytest.approx(20.0)  # 42.8 mg/dL urea / 2.14
    assert male["bun_creatinine_ratio"] == pytest.approx(16.667, abs=0.001)  # 20 / 1.2
    assert male["egfr_ckd_epi_2021"] == pytest.approx(69.23, abs=0.01)  # CKD-EPI 2021, M 60 y, Scr 1.2 mg/dL
    assert female["mean_arterial_pressure"] == pytest.approx(70.0)
    assert female["shock_index"] == pytest.approx(1.3)
    assert female["egfr_ckd_epi_2021"] == pytest.approx(89.71, abs=0.01)  # F 50 y, Scr 0.8 mg/dL
    units = dict(query(warehouse, "SELECT name, unit FROM features.feature_dictionary WHERE name IN ('mean_arterial_pressure', 'shock_index', 'egfr_ckd_epi_2021', 'bun', 'creatinine', 'ecg_qtc_ms')"))
    assert units == {"mean_arterial_pressure": "mmHg", "shock_index": "beats/min per mmHg", "egfr_ckd_epi_2021": "mL/min/1.73 m^2", "bun": "mg/dL", "creatinine": "mg/dL", "ecg_qtc_ms": "ms"}
    formulas = dict(query(warehouse, "SELECT name, formula FROM features.feature_dictionary WHERE name IN ('mean_arterial_pressure', 'bun')"))
    assert formulas == {"mean_arterial_pressure": "(systolic_bp + 2 * diastolic_bp) / 3", "bun": "urea / 2.14"}


def test_the_feature_dictionary_agrees_with_the_column_lineage(demo_run):
    result, warehouse, _, _ = demo_run
    metadata = result.asset_materializations_for_node("features__patient_features")[0].metadata
    lineage = lineage_pairs(metadata["dagster/column_lineage"].value)
    dictionary = frame(warehouse, "SELECT * FROM features.feature_dictionary")
    documented = dictionary_pairs(dictionary)
    columns = [c.name for c in metadata["dagster/column_schema"].value.columns]
    assert set(lineage) == set(documented) == set(columns)
    for name in columns:
        assert lineage[name] == documented[name], name
        assert lineage[name], f"{name} has no source column"
    # every feature reads staging or signal columns, and the lineage names real upstream assets
    assert lineage["egfr_ckd_epi_2021"] == {"staging/metabolic_panel.creatinine", "staging/patients.age", "staging/patients.gender"}
    # the QRS is measured on all QC-passed leads together: every lead's signal, name and QC verdict
    assert lineage["ecg_v1_qrs_ms"] == {f"images/ecg_signals.{c}" for c in ("signal_mv", "sampling_rate_hz", "lead", "qc_passed")}
    assert lineage["ecg_v1_rr_sdnn_ms"] == {"images/ecg_signals.signal_mv", "images/ecg_signals.sampling_rate_hz"}
    assert lineage["target_tachycardia"] == {"staging/ecg_labels.finding"}
    known = {"/".join(k.path) for k in defs.resolve_asset_graph().get_all_asset_keys()}
    referenced = {pair.split(".")[0] for deps in lineage.values() for pair in deps}
    assert referenced <= known, referenced - known
    assert {"staging/patients", "staging/ecg_labels", "images/ecg_signals"} <= referenced
    assert dictionary.filter(pl.col("description").is_null() | (pl.col("description") == "")).height == 0
    missing = dict(dictionary.select("name", "missing_rate").iter_rows())
    assert missing["file_number"] == 0 and missing["ecg_heart_rate_bpm"] == 1.0


def test_parquet_copies_carry_their_schema_and_read_in_polars_and_pandas(demo_run):
    _, warehouse, artifacts, _ = demo_run
    path = artifacts / "features" / "patient_features.parquet"
    from_parquet = pl.read_parquet(path)
    from_duckdb = frame(warehouse, "SELECT * FROM features.patient_features")
    assert from_parquet.sort("file_number").equals(from_duckdb.sort("file_number"))
    schema = pq.read_schema(path)
    fields = {f.name: f.metadata or {} for f in schema}
    assert fields["systolic_bp"][b"unit"] == b"mmHg"
    assert b"CKD-EPI 2021" in fields["egfr_ckd_epi_2021"][b"description"]
    assert fields["egfr_ckd_epi_2021"][b"source_columns"] == b"staging.metabolic_panel.creatinine, staging.patients.age, staging.patients.gender"
    assert fields["target_tachycardia"][b"role"] == b"target"
    assert schema.metadata[b"cardioml.table"] == b"features.patient_features"
    pandas_frame = pd.read_parquet(path)
    assert len(pandas_frame) == from_duckdb.height and list(pandas_frame.columns) == from_duckdb.columns
    splits_path = artifacts / "features" / "splits.parquet"
    splits = pl.read_parquet(splits_path)
    assert splits.sort("file_number").equals(frame(warehouse, "SELECT * FROM features.splits").sort("file_number"))
    assert b"70/15/15" in {f.name: f.metadata for f in pq.read_schema(splits_path)}["split"][b"description"]
    assert len(pd.read_parquet(splits_path)) == splits.height


def test_ecg_features_are_null_without_images_and_ecg_targets_are_skipped(demo_run):
    _, warehouse, _, _ = demo_run
    assert query(warehouse, "SELECT max(ecg_leads_available), count(ecg_heart_rate_bpm), count(ecg_ii_qrs_ms) FROM features.patient_features") == [(0, 0, 0)]
    reasons = query(warehouse, "SELECT DISTINCT status, reason FROM features.baseline_metrics WHERE feature_set = 'ecg'")
    assert len(reasons) == 1 and reasons[0][0] == "skipped" and "no usable ECG features" in reasons[0][1]


def test_a_rerun_on_unchanged_input_rewrites_nothing(demo_run):
    _, warehouse, artifacts, dataset = demo_run
    before = dict(query(warehouse, "SELECT table_name, written_at FROM meta.table_versions WHERE table_name LIKE 'features.%'"))
    assert set(before) == set(FEATURE_TABLES)
    mtime = (artifacts / "features" / "patient_features.parquet").stat().st_mtime_ns
    second = run_pipeline(dataset, warehouse, artifacts)
    assert failed_steps(second) == {}
    after = dict(query(warehouse, "SELECT table_name, written_at FROM meta.table_versions WHERE table_name LIKE 'features.%'"))
    assert after == before
    assert (artifacts / "features" / "patient_features.parquet").stat().st_mtime_ns == mtime
    assert second.asset_materializations_for_node("features__baseline_metrics")[0].metadata["retrained"].value is False


# ---------------------------------------------------------------------------------------------
# The real CARDIO-ML clinical tables (no images)


@pytest.fixture(scope="module")
def real_run(real_dataset, tmp_path_factory):
    root = tmp_path_factory.mktemp("features_real")
    return run_pipeline(real_dataset, root / "warehouse.duckdb", root / "artifacts"), root / "warehouse.duckdb"


@pytest.mark.real_data
def test_real_tables_complete_with_null_ecg_features(real_run):
    result, warehouse = real_run
    assert failed_steps(result) == {}
    checks = check_results(result)
    for check in FEATURE_CHECKS:
        assert checks[check].passed, check
    assert query(warehouse, "SELECT count(*), count(DISTINCT file_number), max(ecg_leads_available), count(ecg_qtc_ms) FROM features.patient_features") == [(581, 581, 0, 0)]
    # outcome_death reconciled: 10 with Death = 1, plus 1 Death = 0 with status Deceased and 2 Death = 0
    # with a cause of death; the check warns about those and the 9 with Death empty and a discharge status
    assert query(warehouse, "SELECT count(target_any_cardiac_finding), sum(target_tachycardia), sum(outcome_death) FROM features.patient_features") == [(349, 25, 13)]
    death_check = checks[("features/patient_features", "outcome_death_reconciled")]
    assert not death_check.passed and death_check.severity == dg.AssetCheckSeverity.WARN
    assert death_check.metadata["contradicting_patients"].value == 12


@pytest.mark.real_data
def test_real_splits_keep_shared_record_numbers_together(real_run):
    _, warehouse = real_run
    assert query(warehouse, "SELECT count(*) FROM (SELECT record_number FROM features.splits GROUP BY 1 HAVING count(DISTINCT split) > 1)") == [(0,)]
    assert query(warehouse, "SELECT count(*) FROM (SELECT record_number FROM features.splits GROUP BY 1 HAVING count(*) > 1)") == [(12,)]
    shares = dict(query(warehouse, "SELECT split, count(*) / 581 FROM features.splits GROUP BY 1"))
    for name, target in zip(SPLITS, (0.70, 0.15, 0.15)):
        assert abs(shares[name] - target) <= 0.02


@pytest.mark.real_data
@pytest.mark.parametrize(("target", "feature_set"), [("target_initial_diagnosis_cardiac", "triage"), ("outcome_death", "clinical")])
def test_real_baseline_reports_auroc_from_clinical_features(real_run, target, feature_set):
    result, warehouse = real_run
    status, positives, auroc, auprc = query(
        warehouse,
        "SELECT status, n_test_positives, test_auroc, test_auprc FROM features.baseline_metrics WHERE target = ? AND feature_set = ?",
        [target, feature_set],
    )[0]
    assert status == "evaluated" and positives >= 1
    assert 0.0 <= auroc <= 1.0 and 0.0 < auprc <= 1.0
    metadata = result.asset_materializations_for_node("features__baseline_metrics")[0].metadata
    assert metadata[f"test_auroc {target}[{feature_set}]"].value == pytest.approx(auroc, abs=1e-4)
    # ECG tasks are skipped with the reason, not crashed on
    ecg = query(warehouse, "SELECT count(*), count(*) FILTER (WHERE status = 'skipped' AND reason LIKE 'no usable ECG features%') FROM features.baseline_metrics WHERE feature_set IN ('ecg', 'clinical+ecg')")[0]
    assert ecg[0] == ecg[1] > 0
    assert "no usable ECG features" in metadata["skipped"].value


@pytest.mark.real_data
def test_real_death_is_judged_by_repeated_cross_validation_and_triage_by_triage_features(real_run):
    """13 deaths, 1-2 in the test split: one split gives an AUROC from a rank or two; the baseline
    cross-validates over every labelled patient instead and says so. The triage diagnosis sees
    neither labs nor which panels were ordered."""
    result, warehouse = real_run
    row = frame(warehouse, "SELECT * FROM features.baseline_metrics WHERE target = 'outcome_death' AND feature_set = 'clinical'").row(0, named=True)
    assert row["n_test_positives"] < 10 and row["evaluation"] == "repeated_cv"
    assert row["cv_positives"] == row["n_positives"] == 13 and row["cv_n"] > 500
    assert row["auroc"] == row["cv_auroc"] and row["auroc_ci_low"] < row["auroc"] < row["auroc_ci_high"]
    assert row["auroc_ci_high"] - row["auroc_ci_low"] > 0.1
    metadata = result.asset_materializations_for_node("features__baseline_metrics")[0].metadata
    assert metadata["auroc outcome_death[clinical]"].value == pytest.approx(row["auroc"], abs=1e-4)
    assert query(warehouse, "SELECT DISTINCT feature_set FROM features.baseline_metrics WHERE target = 'target_initial_diagnosis_cardiac'") == [("triage",)]
    triage = frame(warehouse, "SELECT * FROM features.baseline_metrics WHERE target = 'target_initial_diagnosis_cardiac'").row(0, named=True)
    allowed = {name for (name,) in query(warehouse, "SELECT name FROM features.feature_dictionary WHERE list_contains(baseline_feature_sets, 'triage')")}
    assert triage["status"] == "evaluated" and triage["evaluation"] == "test_split"
    assert triage["top_features"] and set(triage["top_features"]) <= allowed | {f"missingindicator_{n}" for n in allowed}
    assert 10 <= triage["n_features"] <= len(allowed)
