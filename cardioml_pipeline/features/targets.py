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
- `outcome_death` reconciles the three places the tables record a death, which contradict each
  other in the real data (Death 0 with status Deceased; Death 0 with a cause of death; Death
  empty with a discharge status): 1 when Death is 1, or the discharge status is deceased, or a
  cause of death is recorded; else 0 when Death is 0 or a discharge status (alive) is recorded;
  else null. Each contradiction is listed by `death_contradictions` and reported by the
  `outcome_death_reconciled` check of features.patient_features.
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
        FeatureSpec(
            "outcome_death",
            pl.Int8,
            "outcome",
            "outcome",
            "In-hospital death (1 = died), reconciled from Death, the discharge status and the cause of death (they contradict each other in the source; see the outcome_death_reconciled check).",
            ((PATIENTS, "death"), (PATIENTS, "discharge_status"), (PATIENTS, "cause_of_death")),
            formula="1 if death == 1 or discharge_status == 'deceased' or cause_of_death is recorded; else 0 if death == 0 or discharge_status is recorded; else null",
        ),
        FeatureSpec("outcome_final_diagnosis_cardiac", pl.Int8, "outcome", "outcome", "1 when the final diagnosis is any cardiac group (everything but noncardiac), null when missing.", ((PATIENTS, "final_diagnosis"),), formula="final_diagnosis != 'noncardiac'"),
        FeatureSpec("outcome_final_diagnosis", pl.String, "outcome", "outcome", "Final diagnosis group (noncardiac, acute_coronary_syndrome, hypertensive_crisis, ...).", ((PATIENTS, "final_diagnosis"),)),
        FeatureSpec("outcome_discharge_status", pl.String, "outcome", "outcome", "Status on discharge (recovered_improved, deceased, transferred, ...).", ((PATIENTS, "discharge_status"),)),
    ]
    return specs


def _death_inputs(patients: pl.DataFrame) -> pl.DataFrame:
    cause = pl.col("cause_of_death").cast(pl.String).str.strip_chars() if "cause_of_death" in patients.columns else pl.lit(None, dtype=pl.String)
    return patients.select(
        pl.col("file_number").cast(pl.Int64),
        pl.col("death").cast(pl.Int8).alias("death"),
        pl.col("discharge_status").cast(pl.String).alias("discharge_status"),
        pl.when(cause.str.len_chars() > 0).then(cause).otherwise(None).alias("cause_of_death"),
    )


def reconciled_death() -> pl.Expr:
    """outcome_death from death, discharge_status and cause_of_death (columns of _death_inputs)."""
    died = (pl.col("death") == 1) | (pl.col("discharge_status") == "deceased") | pl.col("cause_of_death").is_not_null()
    alive = (pl.col("death") == 0) | pl.col("discharge_status").is_not_null()
    return pl.when(died.fill_null(False)).then(1).when(alive.fill_null(False)).then(0).otherwise(None).cast(pl.Int8)


def death_contradictions(patients: pl.DataFrame) -> pl.DataFrame:
    """One row per (patient, contradiction) between Death, discharge status and cause of death:
    file_number, reason, and the reconciled outcome_death."""
    inputs = _death_inputs(patients).unique("file_number", keep="first", maintain_order=True)
    rules = [
        ((pl.col("death") == 0) & (pl.col("discharge_status") == "deceased"), "Death = 0 with discharge status deceased"),
        ((pl.col("death") == 0) & pl.col("cause_of_death").is_not_null(), "Death = 0 with a cause of death"),
        ((pl.col("death") == 1) & pl.col("discharge_status").is_not_null() & (pl.col("discharge_status") != "deceased"), "Death = 1 with a discharge status of a living patient"),
        (pl.col("death").is_null() & pl.col("discharge_status").is_not_null(), "Death empty with a discharge status"),
    ]
    parts = [inputs.filter(rule.fill_null(False)).select("file_number", pl.lit(reason).alias("reason"), reconciled_death().alias("outcome_death")) for rule, reason in rules]
    return pl.concat(parts) if parts else pl.DataFrame(schema={"file_number": pl.Int64, "reason": pl.String, "outcome_death": pl.Int8})


def build_targets(patients: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """One row per patient: file_number + the target and outcome columns of target_specs()."""
    base = patients.select(
        pl.col("file_number").cast(pl.Int64), "initial_diagnosis", "final_diagnosis", "discharge_status"
    ).unique("file_number", keep="first", maintain_order=True)
    death = _death_inputs(patients).unique("file_number", keep="first", maintain_order=True).select("file_number", reconciled_death().alias("outcome_death"))
    base = base.join(death, on="file_number", how="left")
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
        pl.when(pl.col("final_diagnosis").is_null()).then(None).otherwise(pl.col("final_diagnosis") != "noncardiac").cast(pl.Int8).alias("outcome_final_diagnosis_cardiac"),
        pl.col("final_diagnosis").alias("outcome_final_diagnosis"),
        pl.col("discharge_status").alias("outcome_discharge_status"),
    )
    return frame.select("file_number", *[pl.col(s.name).cast(s.dtype) for s in target_specs()])
