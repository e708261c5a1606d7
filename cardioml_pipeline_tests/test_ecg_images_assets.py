"""The image stage through real in-process Dagster runs: index, signals, views, incremental
re-runs, and bad files that must become reject rows while the run finishes."""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from PIL import Image

from cardioml_pipeline.demo.clinical import generate_demo_patients, write_demo_dataset
from cardioml_pipeline.demo.images import write_demo_images
from cardioml_pipeline.ecg_images.index import ArtifactLayout
from cardioml_pipeline_tests.conftest import check_results, failed_steps, query, run_pipeline

PATIENTS = 4


@pytest.fixture(scope="module")
def image_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("imgdemo") / "dataset"
    write_demo_dataset(out, patients=PATIENTS, seed=11)
    write_demo_images(out, generate_demo_patients(PATIENTS, 11), seed=11, workers=2)
    return out


@pytest.fixture
def image_copy(image_dataset, tmp_path):
    target = tmp_path / "dataset"
    shutil.copytree(image_dataset, target)
    return target


def index_rows(warehouse):
    return query(warehouse, "SELECT source_path, reject_reason, qc_passed, processed_at FROM staging.ecg_images ORDER BY source_path")


def test_images_are_indexed_digitized_and_queryable(image_copy, tmp_path):
    warehouse, artifacts = tmp_path / "w.duckdb", tmp_path / "artifacts"
    result = run_pipeline(image_copy, warehouse, artifacts)
    assert failed_steps(result) == {}
    assert query(warehouse, "SELECT count(*), count(DISTINCT file_number), count(reject_reason) FROM staging.ecg_images") == [(PATIENTS * 12, PATIENTS, 0)]
    signals = query(warehouse, "SELECT count(*), min(sampling_rate_hz), max(sampling_rate_hz), min(len(signal_mv)) FROM staging.ecg_signals")
    assert signals[0][:3] == (PATIENTS * 12, 500, 500) and signals[0][3] >= 500 * 4
    layout = ArtifactLayout(artifacts)
    processed = query(warehouse, "SELECT processed_path, processed_sha256 FROM staging.ecg_images")
    import hashlib

    for relative, sha in processed:
        data = (artifacts / relative).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha and sha in relative  # content-addressed
    assert len(list(layout.signals_dir.glob("patient_*.parquet"))) == PATIENTS
    index = pl.read_parquet(layout.index_path)
    assert {"px_per_mm_x", "px_per_mm_y", "calibration_source", "qc_passed", "processing_version", "source_sha256"} <= set(index.columns)
    assert index["calibration_source"].unique().to_list() == ["grid"]
    checks = check_results(result)
    assert checks[("images/ecg_signals", "signals_match_index")].passed
    assert checks[("images/ecg_images", "rejected_files")].passed
    # what a user reads in the UI: every column of both tables, and every check, is described
    schemas = {
        "/".join(event.asset_key.path): event.event_specific_data.materialization.metadata["dagster/column_schema"].schema
        for event in result.get_asset_materialization_events()
        if event.asset_key.path[0] == "images"
    }
    for asset, schema in schemas.items():
        undescribed = [column.name for column in schema.columns if not column.description]
        assert undescribed == [], f"{asset}: columns without a description: {undescribed}"
    assert {"images/ecg_images", "images/ecg_signals"} <= set(schemas)
    for (asset, name), evaluation in checks.items():
        if asset.startswith("images/"):
            assert evaluation.description, (asset, name)
    # the descriptions travel with the Parquet index too (readers outside Dagster see them)
    field = pq.read_schema(layout.index_path).field("off_trace_ink")
    assert b"description" in (field.metadata or {})


def test_rerun_processes_only_new_or_changed_images(image_copy, tmp_path):
    warehouse, artifacts = tmp_path / "w.duckdb", tmp_path / "artifacts"
    assert run_pipeline(image_copy, warehouse, artifacts).success
    first = dict((p, t) for p, _, _, t in index_rows(warehouse))
    second = run_pipeline(image_copy, warehouse, artifacts)
    meta = second.asset_materializations_for_node("ecg_image_stage")[0].metadata
    assert meta["images_processed_this_run"].value == 0 and meta["images_unchanged"].value == PATIENTS * 12
    assert dict((p, t) for p, _, _, t in index_rows(warehouse)) == first

    # change one image, add a new patient's image set (copied from patient 1001 under a new number)
    images = image_copy / "ECG_Images"
    changed = images / "Patient_1002_lead_V3.png"
    image = cv2.imread(str(changed), cv2.IMREAD_UNCHANGED)
    image[:5, :5] = 0
    cv2.imwrite(str(changed), image)
    third = run_pipeline(image_copy, warehouse, artifacts)
    meta = third.asset_materializations_for_node("ecg_image_stage")[0].metadata
    assert meta["images_processed_this_run"].value == 1
    after = dict((p, t) for p, _, _, t in index_rows(warehouse))
    assert [p for p in after if after[p] != first[p]] == ["Patient_1002_lead_V3.png"]
    assert query(warehouse, "SELECT count(*) FROM staging.ecg_signals WHERE file_number = 1002") == [(12,)]


def test_bad_files_become_reject_rows_and_the_run_finishes(image_copy, tmp_path):
    images = image_copy / "ECG_Images"
    good = (images / "Patient_1001_lead_II.png").read_bytes()
    (images / "Patient_1001_lead_II.png").write_bytes(b"")  # zero-byte
    (images / "Patient_1001_lead_III.png").write_bytes(good[: len(good) // 3])  # truncated PNG
    (images / "Patient_1001_lead_aVR.png").write_text("not an image at all")  # text named .png
    Image.new("1", (20_000, 20_000)).save(images / "Patient_1001_lead_aVL.png")  # 400 MP bomb
    cv2.imwrite(str(images / "Patient_1001_lead_aVF.png"), np.full((400, 2000, 3), 255, np.uint8))  # blank page
    noisy_paper = np.full((400, 2000, 3), (230, 230, 250), np.uint8)
    noisy_paper[:, ::8] = (180, 180, 240)  # grid lines only, no trace
    noisy_paper[::8, :] = (180, 180, 240)
    cv2.imwrite(str(images / "Patient_1001_lead_V1.png"), noisy_paper)
    (images / "Patient_1001_lead_V7.png").write_bytes(good)  # lead outside the 12
    (images / "Patient_9999_lead_II.png").write_bytes(good)  # patient not in the clinical tables
    warehouse, artifacts = tmp_path / "w.duckdb", tmp_path / "artifacts"
    result = run_pipeline(image_copy, warehouse, artifacts)
    assert failed_steps(result) == {}
    reasons = dict(query(warehouse, "SELECT source_path, reject_reason FROM staging.ecg_images WHERE reject_reason IS NOT NULL"))
    assert reasons["Patient_1001_lead_II.png"] == "empty file (0 bytes)"
    assert "truncated" in reasons["Patient_1001_lead_III.png"] or "decodable" in reasons["Patient_1001_lead_III.png"]
    assert reasons["Patient_1001_lead_aVR.png"] == "not a decodable PNG, JPEG or BMP image"
    assert reasons["Patient_1001_lead_aVL.png"].startswith("image too large")
    assert "blank" in reasons["Patient_1001_lead_aVF.png"] or "no trace" in reasons["Patient_1001_lead_aVF.png"]
    assert "no trace" in reasons["Patient_1001_lead_V1.png"] or "blank" in reasons["Patient_1001_lead_V1.png"]
    assert reasons["Patient_1001_lead_V7.png"].startswith("unknown lead 'V7'")
    assert reasons["Patient_9999_lead_II.png"] == "patient 9999 is not in the clinical tables (staging.patients)"
    # every other image still went through
    assert query(warehouse, "SELECT count(*) FROM staging.ecg_images WHERE reject_reason IS NULL") == [(PATIENTS * 12 - 6,)]
    checks = check_results(result)
    assert not checks[("images/ecg_images", "rejected_files")].passed
    assert checks[("images/ecg_images", "rejected_files")].metadata["rejected"].value == 8
    assert not checks[("images/ecg_images", "complete_12_lead_sets")].passed
    assert checks[("images/ecg_signals", "signals_match_index")].passed


def test_no_images_folder_gives_empty_views(demo_copy, tmp_path):
    shutil.rmtree(demo_copy / "ECG_Images", ignore_errors=True)
    warehouse = tmp_path / "w.duckdb"
    result = run_pipeline(demo_copy, warehouse)
    assert failed_steps(result) == {}
    assert query(warehouse, "SELECT count(*) FROM staging.ecg_images") == [(0,)]
    assert query(warehouse, "SELECT count(*) FROM staging.ecg_signals") == [(0,)]


def test_dask_engine_on_a_local_two_worker_cluster_gives_the_same_index(image_copy, tmp_path):
    local_w, local_a = tmp_path / "local.duckdb", tmp_path / "local_artifacts"
    dask_w, dask_a = tmp_path / "dask.duckdb", tmp_path / "dask_artifacts"
    assert run_pipeline(image_copy, local_w, local_a).success
    run_config = {"ops": {"ecg_image_stage": {"config": {"engine": "dask", "workers": 2}}}}
    result = run_pipeline(image_copy, dask_w, dask_a, run_config=run_config)
    assert failed_steps(result) == {}
    assert result.asset_materializations_for_node("ecg_image_stage")[0].metadata["engine"].value == "dask"
    volatile = ["processed_at"]
    local = pl.read_parquet(ArtifactLayout(local_a).index_path).drop(volatile).sort("source_path")
    distributed = pl.read_parquet(ArtifactLayout(dask_a).index_path).drop(volatile).sort("source_path")
    differing = [c for c in local.columns if not local[c].equals(distributed[c])]
    assert differing == []
    local_signals = query(local_w, "SELECT file_number, lead, signal_mv FROM staging.ecg_signals ORDER BY 1, 2")
    assert local_signals == query(dask_w, "SELECT file_number, lead, signal_mv FROM staging.ecg_signals ORDER BY 1, 2")
