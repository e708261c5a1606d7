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
}
BASELINE_DESCRIPTIONS = {
    "target": "Target column of features.patient_features.",
    "feature_set": "ecg (ECG features only), clinical, or clinical+ecg.",
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
}


@dataclass(frozen=True)
class Task:
    target: str
    feature_set: str


def feature_sets(specs: Sequence[FeatureSpec], available: Sequence[str]) -> dict[str, list[str]]:
    present = set(available)
    ecg = [s.name for s in specs if s.role == "feature" and s.group in ("ecg", "ecg_lead") and s.name in present]
    clinical = [s.name for s in specs if s.role == "feature" and s.group not in ("ecg", "ecg_lead") and s.name in present]
    return {"ecg": ecg, "clinical": clinical, "clinical+ecg": clinical + ecg}


def baseline_tasks(specs: Sequence[FeatureSpec]) -> list[Task]:
    tasks = []
    for spec in specs:
        if spec.role == "target" and spec.dtype == pl.Int8 and spec.name != "target_initial_diagnosis_cardiac":
            tasks.append(Task(spec.name, "ecg"))
    for target in ("target_initial_diagnosis_cardiac", "outcome_death", "outcome_final_diagnosis_cardiac"):
        tasks += [Task(target, "clinical"), Task(target, "clinical+ecg")]
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
    if p_test < MIN_TEST_POSITIVES or n_test - p_test < 1:
        return skip(f"test split has {p_test} positive and {n_test - p_test} negative labelled rows: AUROC undefined")
    from sklearn.metrics import average_precision_score

    x_train = train.select(usable).cast(pl.Float64).to_numpy()
    y_train = train[task.target].to_numpy()
    validation = frame.filter((pl.col("split") == "validation") & pl.col(task.target).is_not_null())
    y_validation = validation[task.target].to_numpy().astype(int)
    x_validation = validation.select(usable).cast(pl.Float64).to_numpy()
    fitted, chosen, best, selection = {}, "hist_gradient_boosting", -1.0, []
    for name, build in (("hist_gradient_boosting", _model), ("logistic_regression", _logistic_model)):
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
    row["model_selection"] = "validation AUROC: " + ", ".join(selection) + ("" if best >= 0 else " (undefined: boosting kept)")
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
    row.update(status="evaluated", low_support=p_test < LOW_SUPPORT)
    return row


def run_baseline(features: pl.DataFrame, splits: pl.DataFrame, specs: Sequence[FeatureSpec], seed: int) -> pl.DataFrame:
    """One BASELINE_SCHEMA row per task. Models train single-threaded: on a few hundred rows
    OpenMP threads cost far more than they save, and on a busy machine (a pipeline run shares
    its cores) they spin: 1.9 s per fit on one thread against 54 s on two, measured."""
    from threadpoolctl import threadpool_limits

    frame = features.join(splits.select("file_number", "split"), on="file_number", how="inner")
    sets = feature_sets(specs, features.columns)
    with threadpool_limits(limits=1):
        rows = [evaluate_task(frame, task, sets[task.feature_set], seed, sets["ecg"]) for task in baseline_tasks(specs) if task.target in features.columns]
    return pl.DataFrame(rows, schema=BASELINE_SCHEMA)
