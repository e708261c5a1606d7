"""The clinical table contract: one declarative spec per source CSV.

This is the single source of truth for header matching, typing, units, plausible ranges, allowed
categories, the pandera schemas, the data dictionary and column lineage. Analysts script against the
staged names below: extend, never rename.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["int", "float", "censored_float", "category", "bool", "list", "text"]

FILE_NUMBER_HEADER = "Patient's file number"


@dataclass(frozen=True)
class ColumnSpec:
    """One staged column and the source header it comes from."""

    source: str  # header as published (trailing spaces and typos included)
    name: str  # staged snake_case name
    kind: Kind
    description: str
    unit: str | None = None
    valid_range: tuple[float, float] | None = None  # physiologically plausible, inclusive
    # category/bool: normalized source text (lower case, single spaces) -> documented value
    categories: dict[str, str | bool] | None = None
    # list: normalized item -> documented item; unknown items are kept, lower-cased
    items: dict[str, str] | None = None
    # float: the source writes the value multiplied by this factor (e.g. urine SG 1020 -> 1.020)
    rescale_above: float | None = None
    rescale_divisor: float = 1.0


@dataclass(frozen=True)
class TableSpec:
    number: int
    source_file: str
    raw_table: str
    staging_table: str
    description: str
    columns: tuple[ColumnSpec, ...]
    # staged columns the pipeline derives (not from one source header): name -> (dtype, description)
    derived: dict[str, tuple[str, str]] = field(default_factory=dict)


def normalize_token(text: str) -> str:
    """Case-, space- and punctuation-spacing-insensitive form used to match categories."""
    return re.sub(r"\s+", " ", text.strip().lower())


def normalize_header(text: str) -> str:
    return normalize_token(text)


# ---------------------------------------------------------------------------------------------
# Controlled vocabularies (documented values on the right).
YES_NO = {"yes": True, "y": True, "1": True, "true": True, "no": False, "n": False, "0": False, "false": False}

GENDER = {"f": "F", "female": "F", "m": "M", "male": "M"}
INITIAL_DIAGNOSIS = {"cardiac": "cardiac", "noncardiac": "noncardiac", "non-cardiac": "noncardiac", "non cardiac": "noncardiac"}
FINAL_DIAGNOSIS = {
    "noncardiac": "noncardiac",
    "non-cardiac": "noncardiac",
    "hypertensive crisis": "hypertensive_crisis",
    "acs": "acute_coronary_syndrome",
    "acute coronary syndrome": "acute_coronary_syndrome",
    "elevated blood pressure": "elevated_blood_pressure",
    "arrhythmia": "arrhythmia",
    "electrolyte-imbalance": "electrolyte_imbalance",
    "electrolyte imbalance": "electrolyte_imbalance",
    "mi": "myocardial_infarction",
    "myocardial infarction": "myocardial_infarction",
    "cardiac-arrest": "cardiac_arrest",
    "cardiac arrest": "cardiac_arrest",
}
DISCHARGE_STATUS = {
    "recovered/improved": "recovered_improved",
    "discharged on request": "discharged_on_request",
    "transferred to another hospital/department": "transferred",
    "referred to another facility": "referred_to_another_facility",
    "deceased": "deceased",
    "stable": "stable",
    "unchanged": "unchanged",
}
REFERRAL = {"ambulance": "ambulance", "self-referred": "self_referred", "self referred": "self_referred"}
URINE_DIPSTICK = {
    "negative": "negative",
    "neg": "negative",
    "trace": "trace",
    "positive": "positive",
    "positive+": "1+",
    "positive +": "1+",
    "positive++": "2+",
    "positive ++": "2+",
    "positive+++": "3+",
    "positive +++": "3+",
    "positive++++": "4+",
    "positive ++++": "4+",
}
URINE_BACTERIA = {
    "negative": "negative",
    "rare": "rare",
    "few": "few",
    "moderate": "moderate",
    "many": "many",
    "positive": "positive",
    "positive+": "1+",
    "positive++": "2+",
    "positive+++": "3+",
}
# Medical history: canonical disease names. Unknown items are kept (lower-cased), not rejected.
DISEASES = {
    "hypertension": "hypertension",
    "htn": "hypertension",
    "diabetes": "diabetes",
    "dm": "diabetes",
    "hlp": "hyperlipidemia",
    "hyperlipidemia": "hyperlipidemia",
    "asthma": "asthma",
    "hypothyroidism": "hypothyroidism",
    "hyperthyroidism": "hyperthyroidism",
    "cva": "cva",
    "stroke": "cva",
    "cardiovascular disease": "cardiovascular_disease",
    "ihd": "ischemic_heart_disease",
    "seizure": "seizure",
    "epilepsy": "epilepsy",
    "renal stone": "renal_stone",
    "copd": "copd",
    "bph": "bph",
    "colon cancer": "colon_cancer",
    "ckd": "chronic_kidney_disease",
    "esrd": "end_stage_renal_disease",
    "migraine": "migraine",
    "anemia": "anemia",
    "thalassemia": "thalassemia",
    "depression": "depression",
    "leukemia": "leukemia",
    "cll": "chronic_lymphocytic_leukemia",
    "peptic ulcer": "peptic_ulcer",
    "parkinson": "parkinson",
    "arthritis rheumatoid": "rheumatoid_arthritis",
    "rheumatoid arthritis": "rheumatoid_arthritis",
    "mitral valve prolapse": "mitral_valve_prolapse",
    "lung adenocarcinoma": "lung_adenocarcinoma",
    "hemophilia a": "hemophilia_a",
    "liver disease": "liver_disease",
}
SURGERIES = {
    "appendectomy": "appendectomy",
    "cabg": "cabg",
    "c-section": "c_section",
    "segmental colectomy": "segmental_colectomy",
    "cholecystectomy": "cholecystectomy",
}

# Free-text list values that mean "none" (an empty list, as opposed to null = not recorded).
NONE_MARKERS = {"no", "none", "nil", "-"}


def _id_columns() -> tuple[ColumnSpec, ...]:
    return (
        ColumnSpec(FILE_NUMBER_HEADER, "file_number", "int", "Patient's file number: the dataset's patient key (first of the two same-named columns).", valid_range=(1, 10**9)),
        ColumnSpec(FILE_NUMBER_HEADER, "record_number", "int", "Hospital record number (second 'Patient's file number' column); ECG labels are keyed by it. A few are shared by two file numbers.", valid_range=(1, 10**9)),
    )


TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        1, "01_Core_Patient_Data.csv", "core_patient_data", "patients",
        "One row per patient: demographics, diagnoses and outcome (the core fields of table 01; its vitals and labs are staged from tables 03-09, which hold the same values).",
        (
            *_id_columns(),
            ColumnSpec("Patient Gender", "gender", "category", "Patient sex as recorded.", categories=GENDER),
            ColumnSpec("Patient Age", "age", "int", "Age at admission.", unit="years", valid_range=(0, 120)),
            ColumnSpec("Initial diagnosis ", "initial_diagnosis", "category", "Initial (triage) diagnosis group.", categories=INITIAL_DIAGNOSIS),
            ColumnSpec("Final diagnosis", "final_diagnosis", "category", "Final diagnosis group.", categories=FINAL_DIAGNOSIS),
            ColumnSpec("Death", "death", "bool", "In-hospital death.", categories=YES_NO),
            ColumnSpec("Cause of death", "cause_of_death", "text", "Cause of death as recorded (free text, trimmed)."),
            ColumnSpec("Patient Status on Discharge", "discharge_status", "category", "Status on discharge.", categories=DISCHARGE_STATUS),
            ColumnSpec("Method of referral ", "referral_method", "category", "How the patient reached the emergency department.", categories=REFERRAL),
        ),
        derived={
            "record_number_shared": ("Boolean", "True when this record number belongs to more than one file number."),
            "record_number_file_count": ("Int64", "How many file numbers carry this record number."),
        },
    ),
    TableSpec(
        2, "02_Diagnosis_Treatment_Summary.csv", "diagnosis_treatment_summary", "diagnosis_treatment",
        "Diagnoses, treatment and discharge status.",
        (
            *_id_columns(),
            ColumnSpec("Initial diagnosis ", "initial_diagnosis", "category", "Initial (triage) diagnosis group.", categories=INITIAL_DIAGNOSIS),
            ColumnSpec("Final diagnosis", "final_diagnosis", "category", "Final diagnosis group.", categories=FINAL_DIAGNOSIS),
            ColumnSpec("Treatment actions", "treatment_actions", "list", "Treatment actions / medications, split on commas and trimmed.", items={"medical treatment": "medical treatment"}),
            ColumnSpec("Patient Status on Discharge", "discharge_status", "category", "Status on discharge.", categories=DISCHARGE_STATUS),
        ),
    ),
    TableSpec(
        3, "03_Emergency_Admission_Metrics.csv", "emergency_admission_metrics", "emergency_admission",
        "Triage vitals at emergency admission.",
        (
            *_id_columns(),
            ColumnSpec("Method of referral ", "referral_method", "category", "How the patient reached the emergency department.", categories=REFERRAL),
            ColumnSpec("Emergency room visits in the past 24 hours ", "er_visit_past_24h", "bool", "Another emergency visit in the previous 24 hours.", categories=YES_NO),
            ColumnSpec("Systolic blood pressure ", "systolic_bp", "float", "Systolic blood pressure at triage.", unit="mmHg", valid_range=(40, 300)),
            ColumnSpec("Diastolic blood pressure", "diastolic_bp", "float", "Diastolic blood pressure at triage.", unit="mmHg", valid_range=(10, 200)),
            ColumnSpec("Pulse rate (PR)", "pulse_rate", "float", "Pulse rate at triage.", unit="beats/min", valid_range=(15, 300)),
            ColumnSpec("Respiratory rate (RR)", "respiratory_rate", "float", "Respiratory rate at triage.", unit="breaths/min", valid_range=(3, 80)),
            ColumnSpec("Body temperature (T)", "body_temperature", "float", "Body temperature at triage.", unit="degC", valid_range=(30, 45)),
            ColumnSpec("Oxygen saturation (%SpO2)", "spo2", "float", "Peripheral oxygen saturation.", unit="%", valid_range=(30, 100)),
            ColumnSpec("Triage level", "triage_level", "int", "Emergency Severity Index level (1 = most urgent).", valid_range=(1, 5)),
        ),
    ),
    TableSpec(
        4, "04_Complete_Blood_Count.csv", "complete_blood_count", "complete_blood_count",
        "Complete blood count.",
        (
            *_id_columns(),
            ColumnSpec("WBC", "wbc", "float", "White blood cell count.", unit="cells/uL", valid_range=(100, 300000)),
            ColumnSpec("RBC", "rbc", "float", "Red blood cell count.", unit="10^6 cells/uL", valid_range=(0.5, 10)),
            ColumnSpec("Hemoglobin", "hemoglobin", "float", "Hemoglobin.", unit="g/dL", valid_range=(2, 25)),
            ColumnSpec("Hematocrit", "hematocrit", "float", "Hematocrit.", unit="%", valid_range=(5, 75)),
            ColumnSpec("MCV", "mcv", "float", "Mean corpuscular volume.", unit="fL", valid_range=(40, 150)),
            ColumnSpec("MCH", "mch", "float", "Mean corpuscular hemoglobin.", unit="pg", valid_range=(10, 60)),
            ColumnSpec("MCHC", "mchc", "float", "Mean corpuscular hemoglobin concentration.", unit="g/dL", valid_range=(20, 45)),
            ColumnSpec("Platelets", "platelets", "float", "Platelet count.", unit="10^3 cells/uL", valid_range=(1, 2000)),
            ColumnSpec("Neutrophils", "neutrophils_pct", "float", "Neutrophils, share of white cells.", unit="%", valid_range=(0, 100)),
            ColumnSpec("Lymphocytes", "lymphocytes_pct", "float", "Lymphocytes, share of white cells.", unit="%", valid_range=(0, 100)),
        ),
    ),
    TableSpec(
        5, "05_Metabolic_Panel_Cardiac_Enzymes.csv", "metabolic_panel_cardiac_enzymes", "metabolic_panel",
        "Metabolic panel and cardiac enzymes.",
        (
            *_id_columns(),
            ColumnSpec("BS (Blood suger)", "blood_sugar", "float", "Blood glucose.", unit="mg/dL", valid_range=(10, 2000)),
            ColumnSpec("Urea", "urea", "float", "Blood urea.", unit="mg/dL", valid_range=(1, 600)),
            ColumnSpec("Creatinine", "creatinine", "float", "Serum creatinine.", unit="mg/dL", valid_range=(0.1, 30)),
            ColumnSpec("Calcium", "calcium", "float", "Serum calcium.", unit="mg/dL", valid_range=(3, 20)),
            ColumnSpec("Sodium Na", "sodium", "float", "Serum sodium.", unit="mmol/L", valid_range=(90, 200)),
            ColumnSpec("Potassium K", "potassium", "float", "Serum potassium.", unit="mmol/L", valid_range=(1, 12)),
            ColumnSpec("Magnesium", "magnesium", "float", "Serum magnesium.", unit="mg/dL", valid_range=(0.3, 10)),
            ColumnSpec("Phosphatase Alkaline", "alkaline_phosphatase", "float", "Alkaline phosphatase.", unit="U/L", valid_range=(5, 5000)),
            ColumnSpec("S.G.O.T (AST)", "ast", "float", "Aspartate aminotransferase (SGOT).", unit="U/L", valid_range=(1, 30000)),
            ColumnSpec("S.G.P.T (ALT)", "alt", "float", "Alanine aminotransferase (SGPT).", unit="U/L", valid_range=(1, 30000)),
            ColumnSpec("Troponine - I (Q)", "troponin_i", "censored_float", "Troponin I (quantitative). Censored results such as '<0.05' keep their limit here and set troponin_i_censored.", unit="ng/mL", valid_range=(0, 1000)),
            ColumnSpec("Bilirubin Total", "bilirubin_total", "float", "Total bilirubin.", unit="mg/dL", valid_range=(0, 60)),
        ),
    ),
    TableSpec(
        6, "06_Inflammatory_Markers.csv", "inflammatory_markers", "inflammatory_markers",
        "Inflammatory markers.",
        (
            *_id_columns(),
            ColumnSpec("ESR", "esr", "float", "Erythrocyte sedimentation rate.", unit="mm/h", valid_range=(0, 200)),
            ColumnSpec("CRP", "crp", "float", "C-reactive protein (unit not stated by the source; the real values, median 2.0 and max 94.7, fit mg/L: normal < 5 mg/L, severe infection 100-500 mg/L).", unit="mg/L", valid_range=(0, 500)),
        ),
    ),
    TableSpec(
        7, "07_Coagulation_Profile.csv", "coagulation_profile", "coagulation_profile",
        "Coagulation profile.",
        (
            *_id_columns(),
            ColumnSpec("PTT", "ptt", "float", "Partial thromboplastin time.", unit="s", valid_range=(10, 250)),
            ColumnSpec("PatientPT", "pt", "float", "Prothrombin time.", unit="s", valid_range=(5, 200)),
            ColumnSpec("INR", "inr", "float", "International normalized ratio.", valid_range=(0.5, 20)),
        ),
    ),
    TableSpec(
        8, "08_Urinalysis.csv", "urinalysis", "urinalysis",
        "Urinalysis.",
        (
            *_id_columns(),
            ColumnSpec("Specific Gravity", "specific_gravity", "float", "Urine specific gravity; the source writes 1.020 as 1020, staged as 1.020.", valid_range=(1.0, 1.06), rescale_above=100, rescale_divisor=1000),
            ColumnSpec("Urine PH", "urine_ph", "float", "Urine pH.", unit="pH", valid_range=(4, 9.5)),
            ColumnSpec("Urine Proteins", "urine_protein", "category", "Urine protein (dipstick).", categories=URINE_DIPSTICK),
            ColumnSpec("Urine Glucose", "urine_glucose", "category", "Urine glucose (dipstick).", categories=URINE_DIPSTICK),
            ColumnSpec("Urine WBC", "urine_wbc", "float", "Urine white cells.", unit="cells/HPF", valid_range=(0, 1000)),
            ColumnSpec("Urine RBC", "urine_rbc", "float", "Urine red cells.", unit="cells/HPF", valid_range=(0, 1000)),
            ColumnSpec("Urine E.Cell", "urine_epithelial_cells", "float", "Urine epithelial cells.", unit="cells/HPF", valid_range=(0, 1000)),
            ColumnSpec("Urine Bacteria", "urine_bacteria", "category", "Urine bacteria.", categories=URINE_BACTERIA),
        ),
    ),
    TableSpec(
        9, "09_Arterial_Blood_Gas.csv", "arterial_blood_gas", "arterial_blood_gas",
        "Blood gas analysis. Venous, although the source names it arterial: pO2 has median 39 mmHg while SpO2 is 96 %, "
        "so pO2 says nothing about oxygenation and no oxygenation index is derived from it; pH, pCO2 and HCO3 are venous values.",
        (
            *_id_columns(),
            ColumnSpec("PH", "ph", "float", "Blood pH (venous sample).", unit="pH", valid_range=(6.5, 8.0)),
            ColumnSpec("PCO2", "pco2", "float", "Partial pressure of carbon dioxide (venous sample: about 4-6 mmHg above arterial).", unit="mmHg", valid_range=(5, 150)),
            ColumnSpec("PO2", "po2", "float", "Partial pressure of oxygen in a venous sample (median 39 mmHg): not a measure of oxygenation; use SpO2.", unit="mmHg", valid_range=(5, 700)),
            ColumnSpec("HCO3", "hco3", "float", "Bicarbonate.", unit="mmol/L", valid_range=(2, 60)),
            ColumnSpec("BEb", "base_excess_blood", "float", "Base excess (blood).", unit="mmol/L", valid_range=(-40, 40)),
            ColumnSpec("BEecf", "base_excess_ecf", "float", "Base excess (extracellular fluid).", unit="mmol/L", valid_range=(-40, 40)),
        ),
    ),
    TableSpec(
        10, "10_Comprehensive_Medical_History.csv", "comprehensive_medical_history", "medical_history",
        "Medical history.",
        (
            *_id_columns(),
            ColumnSpec("Previous hospitalizations", "previous_hospitalizations", "bool", "Any previous hospitalization.", categories=YES_NO),
            ColumnSpec("Previous surgeries", "previous_surgeries", "list", "Previous surgeries (normalized names; empty list = 'No').", items=SURGERIES),
            ColumnSpec("Previous diseases", "previous_diseases", "list", "Previous diseases from the comma list, normalized (HLP -> hyperlipidemia, ...); empty list = 'No'.", items=DISEASES),
        ),
    ),
)

TABLES_BY_RAW = {t.raw_table: t for t in TABLES}
TABLES_BY_STAGING = {t.staging_table: t for t in TABLES}

# quality.quarantine `action`: was the row kept with this value nulled, or left out of staging?
ACTION_VALUE_NULLED = "value_nulled"
ACTION_ROW_EXCLUDED = "row_excluded"
