"""Targets (ECG findings from the expert labels) and outcomes, one row per patient.

- `target_<finding>`: 1 when any ECG of the patient was labelled with the finding, 0 when the
  patient has labels but not this one, null when the patient has no label row at all (unlabelled
  is unknown, not negative). One column per finding of the vocabulary (clinical/labels.py).
- `target_any_cardiac_finding`: 1 when any label names a finding other than non_cardiac.
- Pooled targets for findings too rare to evaluate alone, pooled by shared ECG criterion:
  `target_any_tachycardia` (tachycardia, sinus_tachycardia, ventricular_tachycardia: rate > 100),
  `target_any_bradycardia` (sinus_bradycardia, bradycardia: rate < 60) and
  `target_bundle_branch_block` (left or right bundle branch block: QRS >= 120 ms).
- `target_initial_diagnosis_cardiac`: the triage (initial) diagnosis group is cardiac.
- Outcomes: `outcome_death`, `outcome_final_diagnosis_cardiac`, and the categories
  `outcome_final_diagnosis`, `outcome_discharge_status`. They are recorded after the ECG and the
  triage, so they are never used as features.
"""

from __future__ import annotations

import polars as pl

from cardioml_pipeline.clinical.labels import FINDINGS
from cardioml_pipeline.features.spec import FeatureSpec

FINDING_CODES: tuple[str, ...] = tuple(f.code for f in FINDINGS)
POOLED_TARGETS: dict[str, tuple[tuple[str, ...], str]] = {
    "target_any_tachycardia": (("tachycardia", "sinus_tachycardia", "ventricular_tachycardia"), "Any tachycardia finding (heart rate > 100 bpm on the ECG)."),
    "target_any_bradycardia": (("sinus_bradycardia", "bradycardia"), "Any bradycardia finding (heart rate < 60 bpm on the ECG)."),
    "target_bundle_branch_block": (("left_bundle_branch_block", "right_bundle_branch_block"), "Left or right bundle branch block (QRS >= 120 ms)."),
}
LABELS = "staging.ecg_labels"
PATIENTS = "staging.patients"
_LABEL_SOURCES = ((LABELS, "finding"),)


def finding_target(code: str) -> str:
    return f"target_{code}"


def target_specs() -> list[FeatureSpec]:
    specs = [
        FeatureSpec(finding_target(f.code), pl.Int8, "target", "target", f"ECG finding '{f.code}' ({f.description.rstrip('.')}{'; SNOMED CT ' + f.snomed_ct_code if f.snomed_ct_code else ''}): 1 when any ECG of the patient carries it, 0 when labelled without it, null when the patient has no ECG label.", _LABEL_SOURCES, formula=f"any(finding == '{f.code}') over the patient's label rows")
        for f in FINDINGS
    ]
    specs.append(FeatureSpec("target_any_cardiac_finding", pl.Int8, "target", "target", "1 when any ECG label names a cardiac finding (anything but non_cardiac); null when unlabelled.", _LABEL_SOURCES, formula="any(finding != 'non_cardiac')"))
    for name, (codes, description) in POOLED_TARGETS.items():
        specs.append(FeatureSpec(name, pl.Int8, "target", "target", f"{description} Pooled from {', '.join(codes)}; null when unlabelled.", _LABEL_SOURCES, formula=f"any(finding in {list(codes)})"))
    specs += [
        FeatureSpec("target_initial_diagnosis_cardiac", pl.Int8, "target", "target", "1 when the initial (triage) diagnosis group is cardiac, 0 when noncardiac, null when missing.", ((PATIENTS, "initial_diagnosis"),), formula="initial_diagnosis == 'cardiac'"),
        FeatureSpec("outcome_death", pl.Int8, "outcome", "outcome", "In-hospital death (1 = died).", ((PATIENTS, "death"),), formula="death (0/1)"),
        FeatureSpec("outcome_final_diagnosis_cardiac", pl.Int8, "outcome", "outcome", "1 when the final diagnosis is any cardiac group (everything but noncardiac), null when missing.", ((PATIENTS, "final_diagnosis"),), formula="final_diagnosis != 'noncardiac'"),
        FeatureSpec("outcome_final_diagnosis", pl.String, "outcome", "outcome", "Final diagnosis group (noncardiac, acute_coronary_syndrome, hypertensive_crisis, ...).", ((PATIENTS, "final_diagnosis"),)),
        FeatureSpec("outcome_discharge_status", pl.String, "outcome", "outcome", "Status on discharge (recovered_improved, deceased, transferred, ...).", ((PATIENTS, "discharge_status"),)),
    ]
    return specs


def build_targets(patients: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """One row per patient: file_number + the target and outcome columns of target_specs()."""
    base = patients.select(
        pl.col("file_number").cast(pl.Int64), "initial_diagnosis", "final_diagnosis", "death", "discharge_status"
    ).unique("file_number", keep="first", maintain_order=True)
    linked = labels.filter(pl.col("file_number").is_not_null() & pl.col("finding").is_not_null()).select(
        pl.col("file_number").cast(pl.Int64), "finding"
    )
    per_patient = linked.group_by("file_number").agg(
        *[(pl.col("finding") == code).any().cast(pl.Int8).alias(finding_target(code)) for code in FINDING_CODES],
        (pl.col("finding") != "non_cardiac").any().cast(pl.Int8).alias("target_any_cardiac_finding"),
        *[pl.col("finding").is_in(list(codes)).any().cast(pl.Int8).alias(name) for name, (codes, _) in POOLED_TARGETS.items()],
    )
    frame = base.join(per_patient, on="file_number", how="left").with_columns(
        pl.when(pl.col("initial_diagnosis").is_null()).then(None).otherwise(pl.col("initial_diagnosis") == "cardiac").cast(pl.Int8).alias("target_initial_diagnosis_cardiac"),
        pl.col("death").cast(pl.Int8).alias("outcome_death"),
        pl.when(pl.col("final_diagnosis").is_null()).then(None).otherwise(pl.col("final_diagnosis") != "noncardiac").cast(pl.Int8).alias("outcome_final_diagnosis_cardiac"),
        pl.col("final_diagnosis").alias("outcome_final_diagnosis"),
        pl.col("discharge_status").alias("outcome_discharge_status"),
    )
    return frame.select("file_number", *[pl.col(s.name).cast(s.dtype) for s in target_specs()])
