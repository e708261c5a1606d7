"""The baseline's evaluation rules: repeated stratified cross-validation (with an interval) for
targets with fewer than 10 test positives, and the triage-only feature set of the triage diagnosis."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from cardioml_pipeline.features import dictionary as registry
from cardioml_pipeline.features.baseline import (
    BASELINE_SCHEMA,
    CV_BELOW_TEST_POSITIVES,
    TRIAGE_TABLES,
    Task,
    baseline_tasks,
    _model,
    evaluate_task,
    feature_sets,
    repeated_cv,
    run_baseline,
)

TARGET = "outcome_death"


def cohort(test_positives: int, seed: int = 3) -> pl.DataFrame:
    """400 patients, 30 positives, one weakly informative feature and one noise feature. The test
    split gets `test_positives` positives; a lone test positive is given the highest score, which
    one split would call a perfect AUROC."""
    rng = np.random.default_rng(seed)
    n, positives = 400, 30
    y = np.zeros(n, dtype=int)
    y[:positives] = 1
    split = np.array(["train"] * 280 + ["validation"] * 60 + ["test"] * 60, dtype=object)
    split[:positives] = ["train"] * 20 + ["validation"] * (positives - 20 - test_positives) + ["test"] * test_positives
    signal = rng.normal(0, 1, n) + 0.8 * y
    if test_positives == 1:
        signal[positives - 1] = signal.max() + 1.0
    return pl.DataFrame(
        {
            "file_number": np.arange(n),
            "split": split,
            "group_key": [f"file:{i}" for i in range(n)],
            "signal": signal,
            "noise": rng.normal(0, 1, n),
            TARGET: y.astype(np.int8),
        }
    )


def test_one_test_positive_is_judged_by_repeated_cross_validation_with_an_interval():
    frame = cohort(test_positives=1)
    row = evaluate_task(frame, Task(TARGET, "clinical"), ["signal", "noise"], seed=0)
    assert set(row) == set(BASELINE_SCHEMA)
    assert row["status"] == "evaluated" and row["n_test_positives"] == 1
    assert row["test_auroc"] == pytest.approx(1.0)  # the one split: the lone positive ranked first
    assert row["evaluation"] == "repeated_cv"
    assert (row["cv_n"], row["cv_positives"], row["n_positives"]) == (400, 30, 30)
    assert row["cv_folds"] == 5 and row["cv_repeats"] >= 3
    # a weak feature (0.8 SD shift): cross-validated AUROC near 0.7, not 1.0, with an honest interval
    assert 0.55 < row["cv_auroc"] < 0.85
    assert row["auroc"] == row["cv_auroc"] and row["auprc"] == row["cv_auprc"]
    assert row["auroc_ci_low"] < row["cv_auroc"] < row["auroc_ci_high"]
    assert 0.15 < row["auroc_ci_high"] - row["auroc_ci_low"] < 0.4
    assert row["cv_auroc_sd"] > 0  # repeats differ by their shuffle
    assert row["prevalence"] == pytest.approx(30 / 400)


def test_no_test_positive_is_still_evaluated_by_cross_validation():
    frame = cohort(test_positives=0)
    row = evaluate_task(frame, Task(TARGET, "clinical"), ["signal", "noise"], seed=0)
    assert row["status"] == "evaluated", row["reason"]
    assert row["evaluation"] == "repeated_cv" and row["test_auroc"] is None
    assert 0.55 < row["auroc"] < 0.85


def test_a_column_recorded_only_in_the_held_out_fold_does_not_stop_cross_validation():
    """A rarely recorded measure can fall entirely into one held-out fold (here: one patient, who
    is held out once per repeat): that fold's boosting model must be fitted without it, not crash
    (it did on the demo images run)."""
    frame = cohort(test_positives=1)
    rare = np.full(frame.height, np.nan)
    rare[100] = 1.0
    frame = frame.with_columns(rare=pl.Series(rare)).with_columns(pl.col("rare").fill_nan(None))
    labelled = frame.filter(pl.col(TARGET).is_not_null())
    result = repeated_cv(labelled, TARGET, ["signal", "noise", "rare"], _model, seed=0, repeats=2)
    assert result["cv_repeats"] == 2 and 0.5 < result["cv_auroc"] < 0.9


def test_enough_test_positives_keep_the_test_split():
    rng = np.random.default_rng(1)
    n = 400
    split = np.array(["train"] * 280 + ["validation"] * 60 + ["test"] * 60, dtype=object)
    y = (rng.random(n) < 0.3).astype(np.int8)
    assert int(y[split == "test"].sum()) >= CV_BELOW_TEST_POSITIVES
    frame = pl.DataFrame({"file_number": np.arange(n), "split": split, "group_key": [f"file:{i}" for i in range(n)], "signal": rng.normal(0, 1, n) + y, TARGET: y})
    row = evaluate_task(frame, Task(TARGET, "clinical"), ["signal"], seed=0)
    assert row["evaluation"] == "test_split" and row["cv_auroc"] is None
    assert (row["auroc"], row["auroc_ci_low"], row["n_positives"]) == (row["test_auroc"], row["test_auroc_ci_low"], row["n_test_positives"])


def test_the_triage_diagnosis_uses_only_what_is_known_at_triage():
    specs = registry.feature_specs()
    sets = feature_sets(specs, [s.name for s in specs])
    triage = set(sets["triage"])
    by_name = registry.specs_by_name()
    assert {"age", "sex_male", "referral_ambulance", "systolic_bp", "pulse_rate", "spo2", "shock_index", "history_hypertension", "history_cabg"} <= triage
    for name in triage:
        assert set(by_name[name].source_tables) <= TRIAGE_TABLES, name
        assert by_name[name].group not in ("labs", "ecg", "ecg_lead"), name
    # labs, lab-derived measures, which panels were ordered and the ECG are not
    assert not triage & {"troponin_i", "crp", "creatinine", "egfr_ckd_epi_2021", "bun", "neutrophil_lymphocyte_ratio", "ordered_complete_blood_count", "ecg_heart_rate_bpm"}
    assert not any(name.startswith("ordered_") or name.startswith("ecg_") for name in triage)
    tasks = [t for t in baseline_tasks(specs) if t.target == "target_initial_diagnosis_cardiac"]
    assert tasks == [Task("target_initial_diagnosis_cardiac", "triage")]
    # the dictionary says which set each column belongs to
    frame = pl.DataFrame({s.name: pl.Series([], dtype=s.dtype) for s in specs})
    dictionary = registry.build_feature_dictionary(frame)
    membership = dict(zip(dictionary["name"], dictionary["baseline_feature_sets"].to_list()))
    assert membership["pulse_rate"] == ["triage", "clinical", "clinical+ecg"]
    assert membership["troponin_i"] == ["clinical", "clinical+ecg"]
    assert membership["ecg_qrs_ms"] == ["ecg", "clinical+ecg"]
    assert membership["target_initial_diagnosis_cardiac"] == []
    assert sorted(n for n, sets_ in membership.items() if "triage" in sets_) == sorted(triage)


def test_a_lab_that_predicts_the_triage_diagnosis_is_not_used():
    """A model given labs would read the triage decision off a lab that only the cardiac workup
    orders; the triage model must not see it."""
    specs = registry.feature_specs()
    rng = np.random.default_rng(2)
    n = 300
    y = (rng.random(n) < 0.4).astype(np.int8)
    columns = {s.name: pl.Series([None] * n, dtype=s.dtype) for s in specs}
    columns.update(
        file_number=pl.Series(np.arange(n), dtype=pl.Int64),
        age=pl.Series(rng.integers(20, 90, n), dtype=pl.Int64),
        pulse_rate=pl.Series(rng.normal(80, 10, n)),
        troponin_i=pl.Series(np.where(y == 1, rng.normal(1.0, 0.1, n), rng.normal(0.0, 0.1, n))),
        target_initial_diagnosis_cardiac=pl.Series(y),
    )
    features = pl.DataFrame(columns).select([pl.col(s.name).cast(s.dtype) for s in specs])
    split = np.array(["train"] * 200 + ["validation"] * 50 + ["test"] * 50, dtype=object)
    splits = pl.DataFrame({"file_number": np.arange(n), "split": split, "group_key": [f"file:{i}" for i in range(n)]})
    metrics = run_baseline(features, splits, specs, seed=0)
    row = metrics.filter(pl.col("target") == "target_initial_diagnosis_cardiac").row(0, named=True)
    assert row["feature_set"] == "triage" and row["status"] == "evaluated"
    assert "troponin_i" not in row["top_features"] and row["n_features"] == 2
    assert row["auroc"] < 0.75  # age and pulse carry nothing here; troponin would give ~1.0
    death = metrics.filter((pl.col("target") == "outcome_death") & (pl.col("feature_set") == "clinical"))
    assert death["reason"][0] is not None  # unlabelled outcome: skipped, not crashed
