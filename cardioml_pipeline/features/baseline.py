"""A baseline that proves the signal: per target, two simple scikit-learn models trained on the train
split (a small HistGradientBoostingClassifier, and an L2 logistic regression on median-imputed,
standardized features with missingness indicators); the one with the better validation AUROC is
scored on the test split (AUROC with a Hanley-McNeil 95 % interval, AUPRC, prevalence). Two, because
on a few hundred rows with one decisive feature (heart rate for bradycardia) boosting also fits the
other ~150 columns' noise, while on clinical targets it is usually the stronger one; the test split
is never used to choose.

Tasks: every ECG-finding target (findings, pooled findings, any_cardiac_finding) from the ECG
features alone ("ecg"); the triage diagnosis, death and final-diagnosis outcomes from the clinical
features ("clinical") and from clinical + ECG features ("clinical+ecg"). Targets, outcomes and
identifiers are never features.

A task is skipped, with the reason, when it cannot be evaluated honestly: no usable feature column
(e.g. no ECG signals), fewer than MIN_TRAIN_POSITIVES positives (or negatives) among the labelled
train rows, or no positive / no negative test row (AUROC undefined). Tasks evaluated on fewer than
LOW_SUPPORT test positives are flagged `low_support`: their AUROC rests on a few ranks, read its interval.

Targets with fewer than CV_BELOW_TEST_POSITIVES positives in the test split are not judged on that
one split (on the real tables `outcome_death` has 1-2 test deaths: one death ranked first gives an
AUROC of 1.0). They are evaluated by repeated stratified cross-validation over every labelled row
(train, validation and test): CV_REPEATS repeats of CV_FOLDS folds, stratified by the target and
grouped by the split's `group_key` (patients sharing a record number stay in one fold), each repeat
shuffled with its own seed (seed + repeat). The model is the logistic regression, refitted on each
fold's training rows: with so few positives the validation split (1-2 of them) cannot choose
between the two models, an L2 logistic regression is the small-sample baseline, and boosting's
25 refits cost 1-2 s each on two cores (minutes over the demo's many rare targets, against a
fraction of a second). Each repeat scores every labelled row once,
out of fold; `cv_auroc` is the mean over repeats of the AUROC of those pooled scores,
`cv_auroc_sd` their standard deviation (what the partition alone changes), and the 95 % interval is
the Hanley-McNeil interval of `cv_auroc` at all labelled positives and negatives (the sampling
uncertainty, which at these counts dominates). `evaluation` says which figures a row is judged by
and `auroc`, `auroc_ci_low`, `auroc_ci_high`, `auprc` and `prevalence` hold them: the test split's
(`test_split`) or the cross-validated ones (`repeated_cv`). The test_* columns keep describing the
one test split either way (null when it has no positive).

Feature sets: `ecg` (ECG features), `clinical` (every clinical feature), `clinical+ecg`, and
`triage` for `target_initial_diagnosis_cardiac`, a triage decision: only what is known at triage,
the columns computed from staging.patients, staging.emergency_admission and staging.medical_history
alone (demographics, triage vitals and the measures derived from them, history) — never labs, which
panels were ordered, or the ECG (TARGET_FEATURE_SETS, TRIAGE_TABLES).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from cardioml_pipeline.features.spec import FeatureSpec

MIN_TRAIN_POSITIVES = 5
MIN_TEST_POSITIVES = 1
LOW_SUPPORT = 5
CV_BELOW_TEST_POSITIVES = 10
CV_FOLDS = 5
CV_REPEATS = 5
# tables whose values are known when the triage decision is made (arrival, triage vitals, history)
TRIAGE_TABLES = frozenset({"staging.patients", "staging.emergency_admission", "staging.medical_history"})
# target -> the feature sets it is evaluated with (every other target: "ecg")
TARGET_FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "target_initial_diagnosis_cardiac": ("triage",),
    "outcome_death": ("clinical", "clinical+ecg"),
    "outcome_final_diagnosis_cardiac": ("clinical", "clinical+ecg"),
}
MODEL = "HistGradientBoostingClassifier(learning_rate=0.15, max_iter=60, max_leaf_nodes=8, max_bins=63, min_samples_leaf=5, l2_regularization=1.0, class_weight='balanced')"
LOGISTIC_MODEL = "SimpleImputer(strategy='median', add_indicator=True) + StandardScaler() + LogisticRegression(C=0.1, class_weight='balanced')"
MODELS = {"hist_gradient_boosting": MODEL, "logistic_regression": LOGISTIC_MODEL}

BASELINE_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String,
    "feature_set": pl.String,
    "status": pl.String,
    "reason": pl.String,
    "n_features": pl.Int32,
    "n_train": pl.Int32,
    "n_train_positives": pl.Int32,
    "n_validation": pl.Int32,
    "n_validation_positives": pl.Int32,
    "n_test": pl.Int32,
    "n_test_positives": pl.Int32,
    "test_auroc": pl.Float64,
    "test_auroc_ci_low": pl.Float64,
    "test_auroc_ci_high": pl.Float64,
    "test_auprc": pl.Float64,
    "test_prevalence": pl.Float64,
    "validation_auroc": pl.Float64,
    "validation_auprc": pl.Float64,
    "low_support": pl.Boolean,
    "top_features": pl.List(pl.String),
    "model": pl.String,
    "seed": pl.Int64,
    "model_selection": pl.String,
    "evaluation": pl.String,
    "n_positives": pl.Int32,
    "auroc": pl.Float64,
    "auroc_ci_low": pl.Float64,
    "auroc_ci_high": pl.Float64,
    "auprc": pl.Float64,
    "prevalence": pl.Float64,
    "cv_folds": pl.Int32,
    "cv_repeats": pl.Int32,
    "cv_n": pl.Int32,
    "cv_positives": pl.Int32,
    "cv_auroc": pl.Float64,
    "cv_auroc_sd": pl.Float64,
    "cv_auroc_ci_low": pl.Float64,
    "cv_auroc_ci_high": pl.Float64,
    "cv_auprc": pl.Float64,
}
BASELINE_DESCRIPTIONS = {
    "target": "Target column of features.patient_features.",
    "feature_set": "ecg (ECG features only), clinical, clinical+ecg, or triage (only what is known at triage: demographics, triage vitals, history).",
    "status": "evaluated or skipped.",
    "reason": "Why the task was skipped (null when evaluated).",
    "test_auroc": "Area under the ROC curve on the test split.",
    "test_auroc_ci_low": "Lower end of the 95 % interval of the test AUROC (Hanley-McNeil standard error; continuity-corrected at AUROC 0 or 1).",
    "test_auroc_ci_high": "Upper end of the 95 % interval of the test AUROC (Hanley-McNeil standard error).",
    "test_auprc": "Average precision (area under the precision-recall curve) on the test split; compare with test_prevalence.",
    "test_prevalence": "Share of positives among the labelled test rows (the AUPRC of a random model).",
    "low_support": f"True when the test split has fewer than {LOW_SUPPORT} positives: the AUROC rests on a few ranks.",
    "top_features": "Most used features, best first: split counts (HistGradientBoosting) or |standardized coefficient| (logistic regression).",
    "model": "The model scored on the test split: the candidate with the better validation AUROC.",
    "model_selection": "Validation AUROC of each candidate model (the test split is never used to choose).",
    "evaluation": f"test_split (the figures of the one test split) or repeated_cv (fewer than {CV_BELOW_TEST_POSITIVES} test positives: repeated stratified cross-validation over all labelled rows).",
    "n_positives": "Labelled positives the headline figures rest on: test positives (test_split) or all labelled positives (repeated_cv).",
    "auroc": "Headline AUROC: test_auroc (test_split) or cv_auroc (repeated_cv).",
    "auroc_ci_low": "Lower end of the headline AUROC's 95 % interval.",
    "auroc_ci_high": "Upper end of the headline AUROC's 95 % interval.",
    "auprc": "Headline AUPRC: test_auprc or cv_auprc; compare with prevalence.",
    "prevalence": "Share of positives among the rows the headline figures rest on.",
    "cv_folds": "Folds per cross-validation repeat (null without cross-validation).",
    "cv_repeats": "Cross-validation repeats, each with its own shuffle.",
    "cv_n": "Labelled rows cross-validated (train + validation + test).",
    "cv_positives": "Positives among them.",
    "cv_auroc": "Mean over repeats of the AUROC of the out-of-fold scores (every labelled row scored once per repeat).",
    "cv_auroc_sd": "Standard deviation of that AUROC over repeats (the partition's share of the uncertainty).",
    "cv_auroc_ci_low": "Lower end of the 95 % interval of cv_auroc (Hanley-McNeil at cv_positives and cv_n - cv_positives).",
    "cv_auroc_ci_high": "Upper end of the 95 % interval of cv_auroc.",
    "cv_auprc": "Mean over repeats of the average precision of the out-of-fold scores.",
}


@dataclass(frozen=True)
class Task:
    target: str
    feature_set: str


def known_at_triage(spec: FeatureSpec) -> bool:
    """A feature computed only from tables filled in at triage (TRIAGE_TABLES)."""
    return spec.role == "feature" and bool(spec.sources) and set(spec.source_tables) <= TRIAGE_TABLES


def spec_feature_sets(spec: FeatureSpec) -> list[str]:
    """The baseline feature sets a registry column belongs to (empty for ids, targets, outcomes)."""
    if spec.role != "feature":
        return []
    if spec.group in ("ecg", "ecg_lead"):
        return ["ecg", "clinical+ecg"]
    return (["triage"] if known_at_triage(spec) else []) + ["clinical", "clinical+ecg"]


def feature_sets(specs: Sequence[FeatureSpec], available: Sequence[str]) -> dict[str, list[str]]:
    present = set(available)
    ecg = [s.name for s in specs if s.role == "feature" and s.group in ("ecg", "ecg_lead") and s.name in present]
    clinical = [s.name for s in specs if s.role == "feature" and s.group not in ("ecg", "ecg_lead") and s.name in present]
    triage = [s.name for s in specs if "triage" in spec_feature_sets(s) and s.name in present]
    return {"ecg": ecg, "clinical": clinical, "clinical+ecg": clinical + ecg, "triage": triage}


def baseline_tasks(specs: Sequence[FeatureSpec]) -> list[Task]:
    tasks = []
    for spec in specs:
        if spec.role == "target" and spec.dtype == pl.Int8 and spec.name not in TARGET_FEATURE_SETS:
            tasks.append(Task(spec.name, "ecg"))
    for target, sets in TARGET_FEATURE_SETS.items():
        tasks += [Task(target, feature_set) for feature_set in sets]
    return tasks


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score))


def auroc_ci(auc: float, positives: int, negatives: int) -> tuple[float, float]:
    """95 % interval of an AUROC from the Hanley-McNeil (1982) standard error, clipped to [0, 1].
    The standard error vanishes at a perfect AUROC (0 or 1), so there it is taken at half a pair
    from perfect (a continuity correction) instead of claiming a zero-width interval."""
    half_pair = 0.5 / (positives * negatives)
    a = min(max(auc, half_pair), 1 - half_pair)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    variance = (a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a)) / (positives * negatives)
    half = 1.959964 * math.sqrt(max(variance, 0.0))
    return max(0.0, auc - half), min(1.0, auc + half)


def _model(seed: int):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=0.15,
        max_iter=60,
        max_leaf_nodes=8,
        max_bins=63,
        min_samples_leaf=5,
        l2_regularization=1.0,
        class_weight="balanced",
        early_stopping=False,
        random_state=seed,
    )


def _logistic_model(seed: int):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=False),
        StandardScaler(),
        LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000, random_state=seed),
    )


def _split_counts(frame: pl.DataFrame, target: str, split: str) -> tuple[int, int]:
    rows = frame.filter((pl.col("split") == split) & pl.col(target).is_not_null())
    return rows.height, int(rows[target].sum() or 0)


def _top_features(model, columns: list[str], k: int = 5) -> list[str]:
    if hasattr(model, "named_steps"):  # the logistic pipeline: largest standardized coefficients
        imputer = model.named_steps["simpleimputer"]
        names = list(imputer.get_feature_names_out(np.array(columns, dtype=object)))
        weights = np.abs(model.named_steps["logisticregression"].coef_[0])
        order = [i for i in np.argsort(-weights, kind="stable") if weights[i] > 0]
        return [str(names[i]) for i in order[:k]]
    counts = np.zeros(len(columns))
    for iteration in getattr(model, "_predictors", []):
        for predictor in iteration:
            nodes = predictor.nodes
            used = nodes["feature_idx"][nodes["is_leaf"] == 0]
            np.add.at(counts, used, 1)
    order = [i for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    return [columns[i] for i in order[:k]]


def evaluate_task(frame: pl.DataFrame, task: Task, columns: list[str], seed: int, ecg_columns: Sequence[str] = ()) -> dict:
    """Train on the labelled train rows, score validation and test. `frame` = features + split."""
    row: dict = {key: None for key in BASELINE_SCHEMA}
    row.update(target=task.target, feature_set=task.feature_set, model=MODEL, seed=seed, top_features=[])
    n_train, p_train = _split_counts(frame, task.target, "train")
    n_val, p_val = _split_counts(frame, task.target, "validation")
    n_test, p_test = _split_counts(frame, task.target, "test")
    row.update(n_train=n_train, n_train_positives=p_train, n_validation=n_val, n_validation_positives=p_val, n_test=n_test, n_test_positives=p_test)
    train = frame.filter((pl.col("split") == "train") & pl.col(task.target).is_not_null())
    usable = [c for c in columns if train.height and train[c].null_count() < train.height and train[c].drop_nulls().n_unique() > 1]
    row["n_features"] = len(usable)

    def skip(reason: str) -> dict:
        row.update(status="skipped", reason=reason)
        return row

    if not usable:
        what = "ECG features (no digitized ECG signals passed QC)" if task.feature_set == "ecg" else f"{task.feature_set} features"
        return skip(f"no usable {what} in the train split")
    if task.feature_set == "clinical+ecg" and not any(c in usable for c in ecg_columns):
        return skip("no usable ECG features (no digitized ECG signals passed QC): same model as the clinical row")
    if p_train < MIN_TRAIN_POSITIVES or n_train - p_train < MIN_TRAIN_POSITIVES:
        return skip(f"too few positives/negatives in train: {p_train} positive, {n_train - p_train} negative (need >= {MIN_TRAIN_POSITIVES} each)")
    cross_validate = p_test < CV_BELOW_TEST_POSITIVES
    labelled = frame.filter(pl.col(task.target).is_not_null())
    if not cross_validate and n_test - p_test < 1:
        return skip(f"test split has {p_test} positive and {n_test - p_test} negative labelled rows: AUROC undefined")
    from sklearn.metrics import average_precision_score

    x_train = train.select(usable).cast(pl.Float64).to_numpy()
    y_train = train[task.target].to_numpy()
    validation = frame.filter((pl.col("split") == "validation") & pl.col(task.target).is_not_null())
    y_validation = validation[task.target].to_numpy().astype(int)
    x_validation = validation.select(usable).cast(pl.Float64).to_numpy()
    fitted, chosen, best, selection = {}, "hist_gradient_boosting", -1.0, []
    candidates = (("hist_gradient_boosting", _model), ("logistic_regression", _logistic_model))
    if cross_validate:  # too few positives to choose on validation: the small-sample baseline (module docstring)
        candidates, chosen = candidates[1:], "logistic_regression"
    for name, build in candidates:
        candidate = build(seed)
        candidate.fit(x_train, y_train)
        fitted[name] = candidate
        if validation.height and y_validation.min() != y_validation.max():
            value = auroc(y_validation, candidate.predict_proba(x_validation)[:, 1])
            selection.append(f"{name} {value:.3f}")
            if value > best + 1e-9:  # ties keep the first (boosting)
                chosen, best = name, value
        else:
            selection.append(f"{name} n/a")
    model = fitted[chosen]
    row["model"] = MODELS[chosen]
    row["model_selection"] = (
        f"logistic regression: fewer than {CV_BELOW_TEST_POSITIVES} test positives (validation AUROC: {', '.join(selection)})"
        if cross_validate
        else "validation AUROC: " + ", ".join(selection) + ("" if best >= 0 else " (undefined: boosting kept)")
    )
    row["top_features"] = _top_features(model, usable)
    for split, prefix in (("test", "test"), ("validation", "validation")):
        rows = frame.filter((pl.col("split") == split) & pl.col(task.target).is_not_null())
        y = rows[task.target].to_numpy().astype(int)
        if rows.height == 0 or y.min() == y.max():
            continue
        score = model.predict_proba(rows.select(usable).cast(pl.Float64).to_numpy())[:, 1]
        row[f"{prefix}_auroc"] = auroc(y, score)
        row[f"{prefix}_auprc"] = float(average_precision_score(y, score))
        if split == "test":
            row["test_prevalence"] = float(y.mean())
            row["test_auroc_ci_low"], row["test_auroc_ci_high"] = auroc_ci(row["test_auroc"], int(y.sum()), int(len(y) - y.sum()))
    builder = _model if chosen == "hist_gradient_boosting" else _logistic_model
    if cross_validate:
        row.update(repeated_cv(labelled, task.target, usable, builder, seed))
        row.update(
            evaluation="repeated_cv",
            n_positives=row["cv_positives"],
            auroc=row["cv_auroc"],
            auroc_ci_low=row["cv_auroc_ci_low"],
            auroc_ci_high=row["cv_auroc_ci_high"],
            auprc=row["cv_auprc"],
            prevalence=row["cv_positives"] / row["cv_n"],
        )
    else:
        row.update(
            evaluation="test_split",
            n_positives=p_test,
            auroc=row["test_auroc"],
            auroc_ci_low=row["test_auroc_ci_low"],
            auroc_ci_high=row["test_auroc_ci_high"],
            auprc=row["test_auprc"],
            prevalence=row["test_prevalence"],
        )
    row.update(status="evaluated", low_support=p_test < LOW_SUPPORT)
    return row


def repeated_cv(labelled: pl.DataFrame, target: str, columns: list[str], builder, seed: int, folds: int = CV_FOLDS, repeats: int = CV_REPEATS) -> dict:
    """Repeated stratified, grouped k-fold cross-validation over `labelled` (rows with the target,
    any split; `group_key` keeps patients of one record number in one fold). Per repeat every row
    is scored once, out of fold; the AUROC and AUPRC of those pooled scores are averaged over
    repeats. Folds shrink to the number of positives (or negatives) when there are fewer."""
    from sklearn.metrics import average_precision_score
    from sklearn.model_selection import StratifiedGroupKFold

    x = labelled.select(columns).cast(pl.Float64).to_numpy()
    y = labelled[target].to_numpy().astype(int)
    groups = labelled["group_key"].to_numpy() if "group_key" in labelled.columns else np.arange(len(y))
    positives = int(y.sum())
    k = max(2, min(folds, positives, len(y) - positives))
    aurocs, auprcs = [], []
    for repeat in range(repeats):
        scores = np.full(len(y), np.nan)
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed + repeat)
        for train_index, test_index in splitter.split(x, y, groups):
            if y[train_index].min() == y[train_index].max():  # a fold took every positive: score it constant
                scores[test_index] = y[train_index].mean()
                continue
            # a column recorded only in rows of the held-out fold is empty in the training rows:
            # left out of that fold's model (boosting cannot bin an all-missing column)
            present = ~np.all(np.isnan(x[train_index]), axis=0)
            model = builder(seed + repeat)
            model.fit(x[train_index][:, present], y[train_index])
            scores[test_index] = model.predict_proba(x[test_index][:, present])[:, 1]
        aurocs.append(auroc(y, scores))
        auprcs.append(float(average_precision_score(y, scores)))
    mean = float(np.mean(aurocs))
    low, high = auroc_ci(mean, positives, len(y) - positives)
    return {
        "cv_folds": k,
        "cv_repeats": repeats,
        "cv_n": len(y),
        "cv_positives": positives,
        "cv_auroc": mean,
        "cv_auroc_sd": float(np.std(aurocs, ddof=1)) if repeats > 1 else 0.0,
        "cv_auroc_ci_low": low,
        "cv_auroc_ci_high": high,
        "cv_auprc": float(np.mean(auprcs)),
    }


def run_baseline(features: pl.DataFrame, splits: pl.DataFrame, specs: Sequence[FeatureSpec], seed: int) -> pl.DataFrame:
    """One BASELINE_SCHEMA row per task. Models train single-threaded: on a few hundred rows
    OpenMP threads cost far more than they save, and on a busy machine (a pipeline run shares
    its cores) they spin: 1.9 s per fit on one thread against 54 s on two, measured."""
    from threadpoolctl import threadpool_limits

    frame = features.join(splits.select("file_number", "split", "group_key"), on="file_number", how="inner")
    sets = feature_sets(specs, features.columns)
    with threadpool_limits(limits=1):
        rows = [evaluate_task(frame, task, sets[task.feature_set], seed, sets["ecg"]) for task in baseline_tasks(specs) if task.target in features.columns]
    return pl.DataFrame(rows, schema=BASELINE_SCHEMA)
