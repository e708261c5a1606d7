"""The baseline proves the ECG signal on demo data whose ECG images encode the labels.

The demo labels are sparse: in a 574-patient demo there are ~2 sinus-bradycardia and ~13
bundle-branch-block patients, so a 15 % test split holds 0-2 positives and an AUROC on it means
nothing. The test therefore uses an enriched (case-control) cohort drawn from a large demo
population: every sinus-bradycardia patient, a random sample of tachycardia and bundle-branch-block
patients, and random labelled and unlabelled controls, written in the dataset's exact layout (the
demo CSV rows and label lines of those patients, unchanged). AUROC does not depend on class
prevalence, so case-control sampling estimates the same AUROC with far fewer patients; AUPRC does
depend on it and is reported, not asserted. Targets are the pooled ones (tachycardia +
sinus_tachycardia + ventricular_tachycardia, sinus_bradycardia + bradycardia, LBBB + RBBB), as in
features.patient_features.

The cohort's 12 lead images per patient are rendered by the demo generator
(`demo.images.write_demo_images`: ECG paper, scan artefacts) and the whole pipeline runs on them,
in-process: clinical layer, the image stage (OpenCV preprocessing and digitization), ECG features
from the digitized signals, splits and the baseline. Nothing of the truth signals is used.
"""

from __future__ import annotations

import csv
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

from cardioml_pipeline.definitions import defs
from cardioml_pipeline.demo.clinical import generate_demo_patients, write_demo_dataset
from cardioml_pipeline_tests.conftest import failed_steps, query, run_pipeline

POPULATION = 15_000
SEED = 5
AUROC_TARGETS = ("target_any_tachycardia", "target_any_bradycardia", "target_bundle_branch_block")
SIGNALS_KEY = dg.AssetKey(["images", "ecg_signals"])
CLINICAL_DIR = "Clinical_Data"
LABELS_FILE = "ECG Labels.csv"


def has_any(codes: tuple[str, ...]) -> pl.Expr:
    return pl.col("findings").list.eval(pl.element().is_in(list(codes))).list.any()


def enriched_cohort(truth: pl.DataFrame, rng: np.random.Generator, cases: int = 60, labelled_controls: int = 160, unlabelled_controls: int = 20) -> list[int]:
    """File numbers: every bradycardia patient, `cases` tachycardia and BBB patients, random
    controls; a patient sharing a record number brings its partner (they share labels)."""
    brady = truth.filter(has_any(("sinus_bradycardia", "bradycardia")))
    tachy = truth.filter(has_any(("tachycardia", "sinus_tachycardia", "ventricular_tachycardia")))
    bbb = truth.filter(has_any(("left_bundle_branch_block", "right_bundle_branch_block")))
    chosen = set(brady["file_number"].to_list())
    for group in (tachy, bbb):
        ids = group["file_number"].to_numpy()
        chosen |= set(rng.choice(ids, size=min(cases, len(ids)), replace=False).tolist())
    rest = truth.filter(~pl.col("file_number").is_in(list(chosen)))
    labelled = rest.filter(pl.col("ecg_count") > 0)["file_number"].to_numpy()
    unlabelled = rest.filter(pl.col("ecg_count") == 0)["file_number"].to_numpy()
    chosen |= set(rng.choice(labelled, size=labelled_controls, replace=False).tolist())
    chosen |= set(rng.choice(unlabelled, size=unlabelled_controls, replace=False).tolist())
    records = truth.filter(pl.col("file_number").is_in(list(chosen)))["record_number"]
    return sorted(truth.filter(pl.col("record_number").is_in(records.implode()))["file_number"].to_list())


def write_subset(full: Path, out: Path, file_numbers: list[int], record_numbers: set[int]) -> None:
    """The demo dataset restricted to some patients: the same CSV rows and label lines, bytes kept."""
    keep = {str(n) for n in file_numbers}
    (out / CLINICAL_DIR).mkdir(parents=True)
    (out / "ECG_Images").mkdir()
    for path in sorted((full / CLINICAL_DIR).glob("*.csv")):
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        with (out / CLINICAL_DIR / path.name).open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, lineterminator="\r\n").writerows([rows[0]] + [r for r in rows[1:] if r[0] in keep])
    lines = (full / LABELS_FILE).read_bytes().decode("utf-8").split("\r\n")
    kept = [line for line in lines if line and int(line.split(",")[0].split("-")[0]) in record_numbers]
    (out / LABELS_FILE).write_bytes(("\r\n".join(kept) + "\r\n").encode("utf-8"))


@pytest.fixture(scope="module")
def population(tmp_path_factory):
    root = tmp_path_factory.mktemp("population")
    write_demo_dataset(root / "full", patients=POPULATION, seed=SEED)
    return root / "full", generate_demo_patients(POPULATION, SEED)


@pytest.fixture(scope="module")
def cohort_run(population, tmp_path_factory):
    assert defs.resolve_asset_graph().get(SIGNALS_KEY).is_materializable, "the image stage must be in the definitions"
    from cardioml_pipeline.demo.images import write_demo_images

    full, truth = population
    cohort = enriched_cohort(truth, np.random.default_rng(SEED))
    subset = truth.filter(pl.col("file_number").is_in(cohort))
    root = tmp_path_factory.mktemp("cohort")
    write_subset(full, root / "dataset", cohort, set(subset["record_number"].to_list()))
    write_demo_images(root / "dataset", subset, seed=SEED, workers=2)
    warehouse = root / "warehouse.duckdb"
    result = run_pipeline(root / "dataset", warehouse, root / "artifacts")
    return result, warehouse, subset


def test_ecg_features_from_images_reach_auroc_090_on_the_demo_cohort(cohort_run):
    """One test for the whole cohort run: under pytest-xdist every test of a module-scoped fixture
    may run on another worker, which would build the fixture (minutes) twice."""
    result, warehouse, subset = cohort_run
    assert failed_steps(result) == {}
    n = subset.height
    assert query(warehouse, "SELECT count(*) FROM staging.patients") == [(n,)]

    # every lead image was processed and digitized; almost all pass QC
    assert query(warehouse, "SELECT count(*), count(reject_reason) FROM staging.ecg_images") == [(n * 12, 0)]
    assert query(warehouse, "SELECT count(*), count(DISTINCT file_number) FROM features.ecg_lead_features") == [(n * 12, n)]
    assert query(warehouse, "SELECT avg(qc_passed::INT) FROM staging.ecg_images")[0][0] > 0.9
    assert query(warehouse, "SELECT avg(qc_passed::INT) FROM features.ecg_lead_features")[0][0] > 0.9

    # ECG features follow the labels on single-finding patients
    features = pl.DataFrame(
        query(warehouse, "SELECT file_number, ecg_leads_passed, ecg_heart_rate_bpm, ecg_qrs_ms FROM features.patient_features"),
        schema=["file_number", "leads_passed", "heart_rate", "qrs_ms"],
        orient="row",
    ).join(subset.select("file_number", "findings"), on="file_number")
    assert features.filter(pl.col("leads_passed") >= 6).height >= 0.95 * n
    single = features.filter(pl.col("findings").list.len() == 1).with_columns(finding=pl.col("findings").list.first())
    rates = single.group_by("finding").agg(pl.col("heart_rate").median(), pl.col("qrs_ms").median())
    by_finding = {row["finding"]: row for row in rates.iter_rows(named=True)}
    assert by_finding["sinus_bradycardia"]["heart_rate"] < 60
    assert by_finding["tachycardia"]["heart_rate"] > 100
    for block in ("left_bundle_branch_block", "right_bundle_branch_block"):
        if block in by_finding:
            assert by_finding[block]["qrs_ms"] >= 120, by_finding[block]
    assert by_finding["non_cardiac"]["qrs_ms"] < 120

    # the baseline: ECG features alone, test AUROC >= 0.9 with enough test positives
    metadata = result.asset_materializations_for_node("features__baseline_metrics")[0].metadata
    report = {}
    for target in AUROC_TARGETS:
        status, reason, positives, auroc, auprc = query(
            warehouse,
            "SELECT status, reason, n_test_positives, test_auroc, test_auprc FROM features.baseline_metrics WHERE target = ? AND feature_set = 'ecg'",
            [target],
        )[0]
        assert status == "evaluated", f"{target}: {reason}"
        report[target] = (positives, auroc, auprc)
        assert metadata[f"test_auroc {target}[ecg]"].value == pytest.approx(auroc, abs=1e-4)
    print("AUROC through images:", report)
    assert all(positives >= 5 for positives, _, _ in report.values()), report
    assert all(auroc >= 0.9 for _, auroc, _ in report.values()), report
