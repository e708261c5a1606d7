"""Clinical features and targets as pure functions, on hand-computed rows."""

from __future__ import annotations

import polars as pl
import pytest

from cardioml_pipeline.features.clinical import build_clinical_features, clinical_feature_specs, egfr_ckd_epi_2021
from cardioml_pipeline.features.dictionary import feature_specs
from cardioml_pipeline.features.targets import build_targets

# CKD-EPI 2021 by hand: 142 * min(Scr/k,1)^a * max(Scr/k,1)^-1.200 * 0.9938^age * 1.012 [F]
#  M, 60 y, Scr 1.2: k 0.9, 1.2/0.9 = 1.3333 -> 1.3333^-1.2 = 0.70806; 0.9938^60 = 0.68859
#                    142 * 0.70806 * 0.68859 = 69.23 (the NKF calculator's 69)
#  F, 50 y, Scr 0.8: k 0.7, 0.8/0.7 = 1.1429 -> 1.1429^-1.2 = 0.85194; 0.9938^50 = 0.73276
#                    142 * 0.85194 * 0.73276 * 1.012 = 89.71
#  F, 30 y, Scr 0.5: 0.5/0.7 = 0.7143 -> 0.7143^-0.241 = 1.08447; 0.9938^30 = 0.82979
#                    142 * 1.08447 * 0.82979 * 1.012 = 129.32
EGFR_CASES = [(1.2, 60, "M", 69.23), (0.8, 50, "F", 89.71), (0.5, 30, "F", 129.32)]


@pytest.mark.parametrize("creatinine, age, sex, expected", EGFR_CASES)
def test_egfr_ckd_epi_2021_matches_hand_computation(creatinine, age, sex, expected):
    frame = pl.DataFrame({"scr": [creatinine], "age": [age], "sex": [sex]})
    value = frame.select(egfr_ckd_epi_2021(pl.col("scr"), pl.col("age"), pl.col("sex"))).item()
    assert value == pytest.approx(expected, abs=0.01)


def test_egfr_is_null_for_children_and_missing_inputs():
    frame = pl.DataFrame({"scr": [0.6, None, 1.0, 1.0], "age": [12, 40, None, 40], "sex": ["F", "M", "M", None]})
    assert frame.select(egfr_ckd_epi_2021(pl.col("scr"), pl.col("age"), pl.col("sex"))).to_series().to_list() == [None] * 4


def staging_tables(**overrides) -> dict[str, pl.DataFrame]:
    """Minimal staging frames for three patients (only the columns the features read)."""
    n = [1001, 1002, 1003]
    tables = {
        "patients": pl.DataFrame({"file_number": n, "record_number": [11, 12, 12], "age": [60, 50, 15], "gender": ["M", "F", "F"], "referral_method": ["ambulance", "self_referred", None], "initial_diagnosis": ["cardiac", "noncardiac", None], "final_diagnosis": ["acute_coronary_syndrome", "noncardiac", None], "death": [True, False, None], "discharge_status": ["deceased", "recovered_improved", None]}),
        "emergency_admission": pl.DataFrame({"file_number": n, "systolic_bp": [120.0, 90.0, None], "diastolic_bp": [80.0, 60.0, 70.0], "pulse_rate": [90.0, 117.0, 80.0], "respiratory_rate": [16.0, 20.0, None], "body_temperature": [37.0, 38.2, None], "spo2": [97.0, 91.0, None], "triage_level": [2, 1, None], "er_visit_past_24h": [False, True, None]}),
        "complete_blood_count": pl.DataFrame({"file_number": n, **{c: [None, None, None] for c in ("wbc", "rbc", "hemoglobin", "hematocrit", "mcv", "mch", "mchc", "platelets")}, "neutrophils_pct": [70.0, None, None], "lymphocytes_pct": [20.0, None, None]}, schema_overrides={c: pl.Float64 for c in ("wbc", "rbc", "hemoglobin", "hematocrit", "mcv", "mch", "mchc", "platelets")}),
        "metabolic_panel": pl.DataFrame({"file_number": n, "urea": [42.8, 30.0, None], "creatinine": [1.2, 0.8, 0.6], "troponin_i": [0.05, 2.3, None], "troponin_i_censored": [True, False, None], **{c: [None, None, None] for c in ("blood_sugar", "calcium", "sodium", "potassium", "magnesium", "alkaline_phosphatase", "ast", "alt", "bilirubin_total")}}, schema_overrides={c: pl.Float64 for c in ("blood_sugar", "calcium", "sodium", "potassium", "magnesium", "alkaline_phosphatase", "ast", "alt", "bilirubin_total")}),
        "inflammatory_markers": pl.DataFrame({"file_number": n, "esr": [None, None, None], "crp": [None, None, None]}, schema_overrides={"esr": pl.Float64, "crp": pl.Float64}),
        "coagulation_profile": pl.DataFrame({"file_number": n, "ptt": [None, None, None], "pt": [None, None, None], "inr": [None, None, None]}, schema_overrides={c: pl.Float64 for c in ("ptt", "pt", "inr")}),
        "urinalysis": pl.DataFrame({"file_number": n, "specific_gravity": [1.02, None, None], "urine_ph": [6.0, None, None], "urine_wbc": [2.0, None, None], "urine_rbc": [1.0, None, None], "urine_epithelial_cells": [1.0, None, None], "urine_protein": ["trace", None, None], "urine_glucose": ["2+", None, None], "urine_bacteria": ["few", None, None]}),
        "arterial_blood_gas": pl.DataFrame({"file_number": n, **{c: [None, None, None] for c in ("ph", "pco2", "po2", "hco3", "base_excess_blood", "base_excess_ecf")}}, schema_overrides={c: pl.Float64 for c in ("ph", "pco2", "po2", "hco3", "base_excess_blood", "base_excess_ecf")}),
        "medical_history": pl.DataFrame({"file_number": n, "previous_hospitalizations": [True, None, False], "previous_surgeries": [["cabg"], None, []], "previous_diseases": [["diabetes", "hypertension", "hypothyroidism"], None, []]}),
    }
    tables.update(overrides)
    return tables


def test_derived_features_on_hand_computed_rows():
    features = {row["file_number"]: row for row in build_clinical_features(staging_tables()).iter_rows(named=True)}
    first, second, third = features[1001], features[1002], features[1003]
    assert first["mean_arterial_pressure"] == pytest.approx((120 + 2 * 80) / 3)  # 93.33 mmHg
    assert first["pulse_pressure"] == 40
    assert first["shock_index"] == pytest.approx(90 / 120)  # 0.75
    assert second["shock_index"] == pytest.approx(1.3)
    assert first["bun"] == pytest.approx(20.0)  # 42.8 mg/dL urea / 2.14
    assert first["bun_creatinine_ratio"] == pytest.approx(20.0 / 1.2)  # 16.67
    assert first["egfr_ckd_epi_2021"] == pytest.approx(69.23, abs=0.01)
    assert second["egfr_ckd_epi_2021"] == pytest.approx(89.71, abs=0.01)
    assert third["egfr_ckd_epi_2021"] is None  # 15 years old
    assert first["neutrophil_lymphocyte_ratio"] == pytest.approx(3.5)
    assert third["mean_arterial_pressure"] is None and third["shock_index"] is None  # no systolic pressure


def test_flags_ordinals_missingness_and_history():
    features = {row["file_number"]: row for row in build_clinical_features(staging_tables()).iter_rows(named=True)}
    first, second, third = features[1001], features[1002], features[1003]
    assert (first["sex_male"], second["sex_male"]) == (1, 0)
    assert (first["referral_ambulance"], second["referral_ambulance"], third["referral_ambulance"]) == (1, 0, None)
    assert (first["troponin_i_censored"], second["troponin_i_censored"]) == (1, 0)
    assert (first["urine_protein_grade"], first["urine_glucose_grade"], first["urine_bacteria_grade"]) == (0.5, 2.0, 1.0)
    assert (first["ordered_urinalysis"], second["ordered_urinalysis"]) == (1, 0)
    assert (first["ordered_troponin"], third["ordered_troponin"]) == (1, 0)
    assert first["ordered_arterial_blood_gas"] == 0 and first["ordered_complete_blood_count"] == 1
    assert (first["history_diabetes"], first["history_hypertension"], first["history_thyroid_disease"], first["history_asthma"]) == (1, 1, 1, 0)
    assert first["history_disease_count"] == 3 and first["history_cabg"] == 1 and first["previous_surgery_count"] == 1
    # not recorded -> null flags; recorded "No" ([]) -> 0
    assert second["history_recorded"] == 0 and second["history_diabetes"] is None and second["history_disease_count"] is None
    assert third["history_recorded"] == 1 and third["history_diabetes"] == 0 and third["history_disease_count"] == 0


def test_clinical_columns_and_dtypes_follow_the_specs():
    frame = build_clinical_features(staging_tables())
    specs = clinical_feature_specs()
    assert frame.columns == [s.name for s in specs]
    assert frame.schema == pl.Schema({s.name: s.dtype for s in specs})
    assert "anion_gap" not in frame.columns  # no chloride in the dataset
    units = {s.name: s.unit for s in specs}
    assert units["systolic_bp"] == "mmHg" and units["creatinine"] == "mg/dL" and units["egfr_ckd_epi_2021"] == "mL/min/1.73 m^2"


def test_targets_are_null_for_unlabelled_patients_and_pooled():
    tables = staging_tables()
    labels = pl.DataFrame(
        {
            "file_number": [1001, 1001, 1002, None],
            "finding": ["sinus_bradycardia", "right_bundle_branch_block", "non_cardiac", "tachycardia"],
        }
    )
    targets = {row["file_number"]: row for row in build_targets(tables["patients"], labels).iter_rows(named=True)}
    first, second, third = targets[1001], targets[1002], targets[1003]
    assert (first["target_sinus_bradycardia"], first["target_any_bradycardia"], first["target_bundle_branch_block"]) == (1, 1, 1)
    assert (first["target_any_cardiac_finding"], first["target_non_cardiac"], first["target_tachycardia"]) == (1, 0, 0)
    assert (second["target_non_cardiac"], second["target_any_cardiac_finding"], second["target_any_tachycardia"]) == (1, 0, 0)
    assert third["target_non_cardiac"] is None and third["target_any_cardiac_finding"] is None  # unlabelled
    assert (first["target_initial_diagnosis_cardiac"], second["target_initial_diagnosis_cardiac"], third["target_initial_diagnosis_cardiac"]) == (1, 0, None)
    assert (first["outcome_death"], second["outcome_death"], third["outcome_death"]) == (1, 0, None)
    assert (first["outcome_final_diagnosis_cardiac"], second["outcome_final_diagnosis_cardiac"]) == (1, 0)
    assert first["outcome_discharge_status"] == "deceased"


def test_targets_and_outcomes_are_never_features():
    specs = feature_specs()
    features = {s.name for s in specs if s.role == "feature"}
    assert not {name for name in features if name.startswith(("target_", "outcome_"))}
    leaky_sources = {("staging.patients", c) for c in ("initial_diagnosis", "final_diagnosis", "death", "cause_of_death", "discharge_status")}
    leaky_sources |= {("staging.ecg_labels", "finding")}
    assert not [s.name for s in specs if s.role == "feature" and set(s.sources) & leaky_sources]
