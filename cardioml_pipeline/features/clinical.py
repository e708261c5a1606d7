"""Clinical features, one row per patient, from the staging tables.

Pass-through features keep the staged name, dtype and unit (`clinical/tables.py` is their contract);
yes/no values become 0/1 (Int8); urine dipstick categories become ordinal grades. Derived features,
with the formulas also recorded in the feature dictionary:

- mean_arterial_pressure = (systolic_bp + 2 * diastolic_bp) / 3                       [mmHg]
- pulse_pressure = systolic_bp - diastolic_bp                                            [mmHg]
- shock_index = pulse_rate / systolic_bp                                            [beats/min per mmHg]
- bun = urea / 2.14 (blood urea nitrogen from urea, both mg/dL: 60 g/mol urea carries 28 g/mol N) [mg/dL]
- bun_creatinine_ratio = bun / creatinine                                               [ratio]
- egfr_ckd_epi_2021 = 142 * min(Scr/k, 1)^a * max(Scr/k, 1)^-1.200 * 0.9938^age * 1.012 [female]
  with Scr = creatinine (mg/dL), k = 0.7 (F) / 0.9 (M), a = -0.241 (F) / -0.302 (M); race-free
  CKD-EPI 2021 (Inker et al., NEJM 2021). Null under 18 years (the equation is for adults) or
  when sex, age or creatinine is missing.                                    [mL/min/1.73 m^2]
- neutrophil_lymphocyte_ratio = neutrophils_pct / lymphocytes_pct                        [ratio]

Anion gap (Na - (Cl + HCO3)) is NOT computed: no table of the dataset records chloride (the
metabolic panel has sodium and potassium only, the blood gas has HCO3), so the column is omitted
rather than filled with nulls. Corrected calcium is omitted for the same reason (no albumin).

Missingness indicators (`ordered_*`, `history_recorded`): 1 when any value of the panel is
recorded. In an emergency department whether a panel was ordered is itself clinical information
(blood gases are drawn for the sickest patients), so models should see it, not only the nulls.

History flags come from the normalized `staging.medical_history.previous_diseases` lists: 1 when
the list holds one of the flag's items, 0 for a recorded list without them (including `[]` = "No"),
null when the history was not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from cardioml_pipeline.clinical.tables import TABLES_BY_STAGING
from cardioml_pipeline.features.spec import FeatureSpec

# ---------------------------------------------------------------------------------------------
# Pass-through columns: staging table -> columns (numeric kept as is)

NUMERIC_PASS_THROUGH: dict[str, tuple[str, ...]] = {
    "patients": ("age",),
    "emergency_admission": ("systolic_bp", "diastolic_bp", "pulse_rate", "respiratory_rate", "body_temperature", "spo2", "triage_level"),
    "complete_blood_count": ("wbc", "rbc", "hemoglobin", "hematocrit", "mcv", "mch", "mchc", "platelets", "neutrophils_pct", "lymphocytes_pct"),
    "metabolic_panel": ("blood_sugar", "urea", "creatinine", "calcium", "sodium", "potassium", "magnesium", "alkaline_phosphatase", "ast", "alt", "troponin_i", "bilirubin_total"),
    "inflammatory_markers": ("esr", "crp"),
    "coagulation_profile": ("ptt", "pt", "inr"),
    "urinalysis": ("specific_gravity", "urine_ph", "urine_wbc", "urine_rbc", "urine_epithelial_cells"),
    "arterial_blood_gas": ("ph", "pco2", "po2", "hco3", "base_excess_blood", "base_excess_ecf"),
}
GROUP_OF_TABLE = {
    "patients": "demographics",
    "emergency_admission": "vitals",
    "complete_blood_count": "labs",
    "metabolic_panel": "labs",
    "inflammatory_markers": "labs",
    "coagulation_profile": "labs",
    "urinalysis": "labs",
    "arterial_blood_gas": "labs",
}
# yes/no staged as Boolean -> 0/1
BOOLEAN_PASS_THROUGH: dict[str, tuple[str, ...]] = {
    "emergency_admission": ("er_visit_past_24h",),
    "metabolic_panel": ("troponin_i_censored",),
    "medical_history": ("previous_hospitalizations",),
}

DIPSTICK_GRADE = {"negative": 0.0, "trace": 0.5, "positive": 1.0, "1+": 1.0, "2+": 2.0, "3+": 3.0, "4+": 4.0}
BACTERIA_GRADE = {"negative": 0.0, "rare": 0.5, "few": 1.0, "positive": 1.0, "1+": 1.0, "moderate": 2.0, "2+": 2.0, "many": 3.0, "3+": 3.0}
ORDINALS: dict[str, tuple[str, dict[str, float]]] = {
    "urine_protein_grade": ("urine_protein", DIPSTICK_GRADE),
    "urine_glucose_grade": ("urine_glucose", DIPSTICK_GRADE),
    "urine_bacteria_grade": ("urine_bacteria", BACTERIA_GRADE),
}

# panel indicator -> (staging table, columns whose presence means the panel was done)
PANELS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ordered_complete_blood_count": ("complete_blood_count", NUMERIC_PASS_THROUGH["complete_blood_count"]),
    "ordered_metabolic_panel": ("metabolic_panel", tuple(c for c in NUMERIC_PASS_THROUGH["metabolic_panel"] if c != "troponin_i")),
    "ordered_troponin": ("metabolic_panel", ("troponin_i",)),
    "ordered_inflammatory_markers": ("inflammatory_markers", NUMERIC_PASS_THROUGH["inflammatory_markers"]),
    "ordered_coagulation_profile": ("coagulation_profile", NUMERIC_PASS_THROUGH["coagulation_profile"]),
    "ordered_urinalysis": ("urinalysis", NUMERIC_PASS_THROUGH["urinalysis"] + ("urine_protein", "urine_glucose", "urine_bacteria")),
    "ordered_arterial_blood_gas": ("arterial_blood_gas", NUMERIC_PASS_THROUGH["arterial_blood_gas"]),
}

# history flag -> normalized previous_diseases items (clinical/tables.py DISEASES values)
HISTORY_FLAGS: dict[str, tuple[str, ...]] = {
    "history_hypertension": ("hypertension",),
    "history_diabetes": ("diabetes",),
    "history_hyperlipidemia": ("hyperlipidemia",),
    "history_cva": ("cva",),
    "history_asthma": ("asthma",),
    "history_copd": ("copd",),
    "history_thyroid_disease": ("hypothyroidism", "hyperthyroidism"),
    "history_cardiovascular_disease": ("cardiovascular_disease", "ischemic_heart_disease", "mitral_valve_prolapse"),
    "history_kidney_disease": ("chronic_kidney_disease", "end_stage_renal_disease"),
    "history_seizure_disorder": ("seizure", "epilepsy"),
    "history_cancer": ("colon_cancer", "lung_adenocarcinoma", "leukemia", "chronic_lymphocytic_leukemia"),
    "history_anemia": ("anemia", "thalassemia"),
}

CKD_EPI_2021 = {"F": {"kappa": 0.7, "alpha": -0.241, "sex_factor": 1.012}, "M": {"kappa": 0.9, "alpha": -0.302, "sex_factor": 1.0}}
UREA_TO_BUN = 2.14
ADULT_AGE = 18


def _col_spec(table: str, column: str):
    for col in TABLES_BY_STAGING[table].columns:
        if col.name == column:
            return col
    raise KeyError(f"{table}.{column}")


def _s(table: str, *columns: str) -> tuple[tuple[str, str], ...]:
    return tuple((f"staging.{table}", c) for c in columns)


def clinical_feature_specs() -> list[FeatureSpec]:
    """Every clinical feature column, in table order."""
    specs: list[FeatureSpec] = [
        FeatureSpec("file_number", pl.Int64, "id", "id", "Patient file number (the dataset's patient key).", _s("patients", "file_number")),
        FeatureSpec("record_number", pl.Int64, "id", "id", "Hospital record number (a few are shared by two file numbers; splits keep them together).", _s("patients", "record_number")),
        FeatureSpec("age", pl.Int64, "feature", "demographics", _col_spec("patients", "age").description, _s("patients", "age"), unit="years"),
        FeatureSpec("sex_male", pl.Int8, "feature", "demographics", "1 = male, 0 = female (staging.patients.gender).", _s("patients", "gender"), formula="gender == 'M'"),
        FeatureSpec("referral_ambulance", pl.Int8, "feature", "demographics", "1 = arrived by ambulance, 0 = self-referred.", _s("patients", "referral_method"), formula="referral_method == 'ambulance'"),
    ]
    for table, columns in NUMERIC_PASS_THROUGH.items():
        for column in columns:
            if table == "patients":
                continue
            col = _col_spec(table, column)
            dtype = pl.Int64 if col.kind == "int" else pl.Float64
            specs.append(FeatureSpec(column, dtype, "feature", GROUP_OF_TABLE[table], col.description, _s(table, column), unit=col.unit))
            if column == "troponin_i":
                censored = "troponin_i_censored"
                specs.append(FeatureSpec(censored, pl.Int8, "feature", "labs", "1 when troponin I was reported below its detection limit ('<0.05'): troponin_i then holds the limit.", _s(table, censored), formula="troponin_i_censored (0/1)"))
    for table, columns in BOOLEAN_PASS_THROUGH.items():
        for column in columns:
            if column == "troponin_i_censored":
                continue
            col = _col_spec(table, column)
            group = "history" if table == "medical_history" else GROUP_OF_TABLE[table]
            specs.append(FeatureSpec(column, pl.Int8, "feature", group, f"{col.description} (1 = yes, 0 = no)", _s(table, column), formula=f"{column} (0/1)"))
    for name, (column, grades) in ORDINALS.items():
        mapping = ", ".join(f"{k}={v:g}" for k, v in grades.items())
        specs.append(FeatureSpec(name, pl.Float64, "feature", "labs", f"{_col_spec('urinalysis', column).description} as an ordinal grade.", _s("urinalysis", column), formula=mapping))
    ea, mp, cbc = "emergency_admission", "metabolic_panel", "complete_blood_count"
    specs += [
        FeatureSpec("mean_arterial_pressure", pl.Float64, "feature", "derived", "Mean arterial pressure at triage.", _s(ea, "systolic_bp", "diastolic_bp"), unit="mmHg", formula="(systolic_bp + 2 * diastolic_bp) / 3"),
        FeatureSpec("pulse_pressure", pl.Float64, "feature", "derived", "Pulse pressure at triage.", _s(ea, "systolic_bp", "diastolic_bp"), unit="mmHg", formula="systolic_bp - diastolic_bp"),
        FeatureSpec("shock_index", pl.Float64, "feature", "derived", "Shock index: pulse rate over systolic pressure (> 0.9 suggests shock).", _s(ea, "pulse_rate", "systolic_bp"), unit="beats/min per mmHg", formula="pulse_rate / systolic_bp"),
        FeatureSpec("bun", pl.Float64, "feature", "derived", "Blood urea nitrogen from blood urea (mg/dL): urea (60 g/mol) carries 28 g/mol nitrogen.", _s(mp, "urea"), unit="mg/dL", formula=f"urea / {UREA_TO_BUN}"),
        FeatureSpec("bun_creatinine_ratio", pl.Float64, "feature", "derived", "BUN/creatinine ratio (> 20 suggests a pre-renal cause).", _s(mp, "urea", "creatinine"), unit="ratio", formula=f"(urea / {UREA_TO_BUN}) / creatinine"),
        FeatureSpec(
            "egfr_ckd_epi_2021", pl.Float64, "feature", "derived",
            "Estimated GFR, CKD-EPI 2021 creatinine equation (race-free). Null under 18 years or when creatinine, age or sex is missing.",
            _s(mp, "creatinine") + _s("patients", "age", "gender"), unit="mL/min/1.73 m^2",
            formula="142 * min(Scr/k,1)^a * max(Scr/k,1)^-1.200 * 0.9938^age * (1.012 if female); Scr = creatinine mg/dL; k = 0.7 F / 0.9 M; a = -0.241 F / -0.302 M",
        ),
        FeatureSpec("neutrophil_lymphocyte_ratio", pl.Float64, "feature", "derived", "Neutrophil-to-lymphocyte ratio.", _s(cbc, "neutrophils_pct", "lymphocytes_pct"), unit="ratio", formula="neutrophils_pct / lymphocytes_pct"),
    ]
    for name, (table, columns) in PANELS.items():
        label = name.removeprefix("ordered_").replace("_", " ")
        specs.append(FeatureSpec(name, pl.Int8, "feature", "missingness", f"1 when any {label} value is recorded (the panel was ordered), else 0.", _s(table, *columns), formula=f"any of {', '.join(columns)} is not null"))
    mh = "medical_history"
    specs.append(FeatureSpec("history_recorded", pl.Int8, "feature", "missingness", "1 when the previous-diseases history was recorded (an empty list counts as recorded).", _s(mh, "previous_diseases"), formula="previous_diseases is not null"))
    for name, items in HISTORY_FLAGS.items():
        specs.append(FeatureSpec(name, pl.Int8, "feature", "history", f"Previous disease: {' or '.join(items)} (null = history not recorded).", _s(mh, "previous_diseases"), formula=f"list_has_any(previous_diseases, {list(items)})"))
    specs += [
        FeatureSpec("history_disease_count", pl.Int32, "feature", "history", "Number of distinct previous diseases recorded.", _s(mh, "previous_diseases"), unit="count", formula="len(previous_diseases)"),
        FeatureSpec("previous_surgery_count", pl.Int32, "feature", "history", "Number of previous surgeries recorded.", _s(mh, "previous_surgeries"), unit="count", formula="len(previous_surgeries)"),
        FeatureSpec("history_cabg", pl.Int8, "feature", "history", "Previous coronary artery bypass grafting.", _s(mh, "previous_surgeries"), formula="list_has(previous_surgeries, 'cabg')"),
    ]
    return specs


# ---------------------------------------------------------------------------------------------
# Formulas as expressions (plain Polars, testable on hand-computed rows)


def egfr_ckd_epi_2021(creatinine: pl.Expr, age: pl.Expr, sex: pl.Expr) -> pl.Expr:
    """CKD-EPI 2021 eGFR (mL/min/1.73 m^2); `sex` is 'F'/'M'; null for age < 18 or missing input."""
    female = sex == "F"
    kappa = pl.when(female).then(CKD_EPI_2021["F"]["kappa"]).otherwise(CKD_EPI_2021["M"]["kappa"])
    alpha = pl.when(female).then(CKD_EPI_2021["F"]["alpha"]).otherwise(CKD_EPI_2021["M"]["alpha"])
    sex_factor = pl.when(female).then(CKD_EPI_2021["F"]["sex_factor"]).otherwise(CKD_EPI_2021["M"]["sex_factor"])
    ratio = creatinine.cast(pl.Float64) / kappa
    value = 142.0 * pl.min_horizontal(ratio, pl.lit(1.0)).pow(alpha) * pl.max_horizontal(ratio, pl.lit(1.0)).pow(-1.200) * pl.lit(0.9938).pow(age.cast(pl.Float64)) * sex_factor
    valid = creatinine.is_not_null() & (creatinine > 0) & age.is_not_null() & (age >= ADULT_AGE) & sex.is_in(["F", "M"])
    return pl.when(valid).then(value).otherwise(None)


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator.cast(pl.Float64) / denominator).otherwise(None)


def derived_expressions() -> dict[str, pl.Expr]:
    sbp, dbp, pulse = pl.col("systolic_bp"), pl.col("diastolic_bp"), pl.col("pulse_rate")
    bun = pl.col("urea") / UREA_TO_BUN
    return {
        "mean_arterial_pressure": (sbp + 2 * dbp) / 3,
        "pulse_pressure": sbp - dbp,
        "shock_index": _ratio(pulse, sbp),
        "bun": bun,
        "bun_creatinine_ratio": _ratio(bun, pl.col("creatinine")),
        "egfr_ckd_epi_2021": egfr_ckd_epi_2021(pl.col("creatinine"), pl.col("age"), pl.col("_gender")),
        "neutrophil_lymphocyte_ratio": _ratio(pl.col("neutrophils_pct"), pl.col("lymphocytes_pct")),
    }


def _flag(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Int8)


def build_clinical_features(tables: Mapping[str, pl.DataFrame]) -> pl.DataFrame:
    """One row per staging.patients row; `tables` maps staging table name -> frame."""
    patients = tables["patients"]
    frame = patients.select(
        pl.col("file_number").cast(pl.Int64),
        pl.col("record_number").cast(pl.Int64),
        pl.col("age").cast(pl.Int64),
        pl.col("gender").alias("_gender"),
        _flag(pl.col("gender") == "M").alias("sex_male"),
        _flag(pl.col("referral_method") == "ambulance").alias("referral_ambulance"),
    ).unique("file_number", keep="first", maintain_order=True)
    wanted: dict[str, list[str]] = {}
    for table, columns in NUMERIC_PASS_THROUGH.items():
        if table != "patients":
            wanted.setdefault(table, []).extend(columns)
    for table, columns in BOOLEAN_PASS_THROUGH.items():
        wanted.setdefault(table, []).extend(columns)
    wanted.setdefault("urinalysis", []).extend(column for column, _ in ORDINALS.values())
    wanted.setdefault("medical_history", []).extend(["previous_diseases", "previous_surgeries"])
    for table, columns in wanted.items():
        source = tables[table].select("file_number", *columns).unique("file_number", keep="first")
        frame = frame.join(source, on="file_number", how="left")
    panel_flags = [
        _flag(pl.any_horizontal([pl.col(c).is_not_null() for c in columns])).alias(name) for name, (_, columns) in PANELS.items()
    ]
    diseases = pl.col("previous_diseases")
    history = [_flag(diseases.is_not_null()).alias("history_recorded")]
    for name, items in HISTORY_FLAGS.items():
        history.append(
            pl.when(diseases.is_null()).then(None).otherwise(diseases.list.eval(pl.element().is_in(list(items))).list.any()).cast(pl.Int8).alias(name)
        )
    history += [
        diseases.list.unique().list.len().cast(pl.Int32).alias("history_disease_count"),
        pl.col("previous_surgeries").list.len().cast(pl.Int32).alias("previous_surgery_count"),
        pl.when(pl.col("previous_surgeries").is_null()).then(None).otherwise(pl.col("previous_surgeries").list.contains("cabg")).cast(pl.Int8).alias("history_cabg"),
    ]
    ordinals = [pl.col(column).replace_strict(grades, default=None, return_dtype=pl.Float64).alias(name) for name, (column, grades) in ORDINALS.items()]
    booleans = [_flag(pl.col(c)).alias(c) for cols in BOOLEAN_PASS_THROUGH.values() for c in cols]
    frame = frame.with_columns(*panel_flags, *history, *ordinals, *booleans)
    frame = frame.with_columns(**derived_expressions())
    specs = clinical_feature_specs()
    return frame.select([pl.col(s.name).cast(s.dtype) for s in specs])
