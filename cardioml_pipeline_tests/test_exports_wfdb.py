"""WFDB export (`exports/wfdb`, `cardioml export-wfdb`): records that wfdb reads back within one
quantization step, that neurokit2 processes, with PhysioNet-style header comments."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import numpy as np
import polars as pl
import pytest
import wfdb

from cardioml_pipeline.definitions import defs
from cardioml_pipeline.demo.clinical import generate_demo_patients, write_demo_dataset
from cardioml_pipeline.demo.images import write_demo_images
from cardioml_pipeline.ecg_images.discovery import LEADS
from cardioml_pipeline.ecg_images.index import ArtifactLayout, read_patient_signals
from cardioml_pipeline.exports.wfdb_export import PatientEcg, write_record
from cardioml_pipeline_tests.conftest import failed_steps, query, run_pipeline

PATIENTS = 3
SEED = 23
SELECTION = dg.AssetSelection.groups("raw", "staging", "images", "exports") | dg.AssetSelection.keys("quality/quarantine")
INVALID_16 = -32768  # WFDB format 16's invalid-sample value


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("wfdb")
    data = root / "dataset"
    write_demo_dataset(data, patients=PATIENTS, seed=SEED)
    write_demo_images(data, generate_demo_patients(PATIENTS, SEED), seed=SEED, workers=2)
    (data / "ECG_Images" / "Patient_1002_lead_V3.png").unlink()  # one patient lacks a lead
    warehouse, artifacts = root / "w.duckdb", root / "artifacts"
    result = run_pipeline(data, warehouse, artifacts, selection=SELECTION)
    assert failed_steps(result) == {}
    return result, warehouse, artifacts


def test_every_record_round_trips_within_one_quantization_step(exported):
    result, warehouse, artifacts = exported
    metadata = result.asset_materializations_for_node("exports__wfdb")[0].metadata
    out_dir = artifacts / "exports" / "wfdb"
    assert metadata["records"].value == PATIENTS and metadata["directory"].value == str(out_dir)
    layout = ArtifactLayout(artifacts)
    for number in range(1001, 1001 + PATIENTS):
        record = wfdb.rdrecord(str(out_dir / f"patient_{number}"))
        digital = wfdb.rdrecord(str(out_dir / f"patient_{number}"), physical=False)
        assert record.fs == 500 and record.sig_name == list(LEADS) and record.fmt == ["16"] * 12 and record.units == ["mV"] * 12
        signals = {row["lead"]: np.asarray(row["signal_mv"], dtype=np.float64) for row in read_patient_signals(layout, number).iter_rows(named=True)}
        assert record.sig_len == max(len(s) for s in signals.values())
        for column, lead in enumerate(LEADS):
            got, step = record.p_signal[:, column], 1 / record.adc_gain[column]
            if lead not in signals:
                assert (number, lead) == (1002, "V3") and np.isnan(got).all() and (digital.d_signal[:, column] == INVALID_16).all()
                continue
            original = signals[lead]
            assert np.max(np.abs(got[: len(original)] - original)) <= step * 0.5 + 1e-9, (number, lead)
            assert np.isnan(got[len(original) :]).all(), "samples a lead lacks are WFDB's invalid value"
            valid = digital.d_signal[: len(original), column]
            assert valid.min() > INVALID_16 and valid.max() <= 32767, "no sample clips"


def test_header_comments_carry_age_sex_dx_image_hashes_and_qc(exported):
    _, warehouse, artifacts = exported
    for number in range(1001, 1001 + PATIENTS):
        record = wfdb.rdrecord(str(artifacts / "exports" / "wfdb" / f"patient_{number}"))
        comments = dict(c.split(": ", 1) if ": " in c else (c.rstrip(":"), "") for c in record.comments)
        (age, gender), = query(warehouse, "SELECT age, gender FROM staging.patients WHERE file_number = ?", [number])
        assert comments["Age"] == str(int(age)) and comments["Sex"] == {"M": "Male", "F": "Female"}[gender]
        codes = {c for (c,) in query(warehouse, "SELECT DISTINCT snomed_ct_code FROM staging.ecg_labels WHERE file_number = ? AND snomed_ct_code IS NOT NULL", [number])}
        assert set(filter(None, comments["Dx"].split(","))) == codes
        images = query(warehouse, "SELECT lead, source_sha256, qc_passed FROM staging.ecg_images WHERE file_number = ?", [number])
        for lead, sha, passed in images:
            assert comments[f"Image_sha256 {lead}"] == sha
            assert comments[f"QC {lead}"].startswith("passed" if passed else "failed")
        if number == 1002:
            assert comments["QC V3"] == "missing" and "Image_sha256 V3" not in comments


def test_neurokit2_processes_an_exported_record(exported):
    import neurokit2 as nk

    _, _, artifacts = exported
    record = wfdb.rdrecord(str(artifacts / "exports" / "wfdb" / "patient_1001"), channel_names=["II"])
    lead_ii = record.p_signal[:, 0]
    lead_ii = lead_ii[~np.isnan(lead_ii)]
    signals, info = nk.ecg_process(lead_ii, sampling_rate=record.fs)
    assert len(info["ECG_R_Peaks"]) >= 3
    assert 20 < float(signals["ECG_Rate"].median()) < 250


def test_a_segment_cut_from_a_page_keeps_its_time_in_the_record(tmp_path):
    """Whole-page images give each lead a segment at its own time: V1 from 2.5 s on."""
    t = np.arange(1250) / 500
    ecg = PatientEcg(1, 60.0, "F", ["atrial_fibrillation"], ["164889003"])
    ecg.signals = {"I": (np.sin(2 * np.pi * t), 0.0), "V1": (2 * np.cos(2 * np.pi * t), 2.5)}
    record = wfdb.rdrecord(str(write_record(ecg, tmp_path)))
    assert record.sig_len == 2500
    v1 = record.p_signal[:, LEADS.index("V1")]
    assert np.isnan(v1[:1250]).all() and np.allclose(v1[1250:], 2 * np.cos(2 * np.pi * t), atol=1 / record.adc_gain[6])
    assert np.isnan(record.p_signal[1250:, 0]).all() and np.isnan(record.p_signal[:, LEADS.index("II")]).all()
    assert "Dx: 164889003" in record.comments and "QC II: missing" in record.comments


def test_cli_export_wfdb_writes_the_chosen_patients_and_refuses_unknown_ones(exported, tmp_path):
    _, warehouse, artifacts = exported
    cli = os.path.join(os.path.dirname(sys.executable), "cardioml")
    env = dict(os.environ, CARDIOML_WAREHOUSE=str(warehouse), CARDIOML_ARTIFACTS_DIR=str(artifacts))
    out = tmp_path / "records"
    done = subprocess.run([cli, "export-wfdb", "--to", str(out), "--file-number", "1001", "1003"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["patient_1001.dat", "patient_1001.hea", "patient_1003.dat", "patient_1003.hea"]
    assert wfdb.rdrecord(str(out / "patient_1003")).n_sig == 12
    unknown = subprocess.run([cli, "export-wfdb", "--to", str(out), "--file-number", "99"], env=env, capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 1 and "99" in unknown.stderr


def test_the_export_is_off_the_main_job_and_its_schedule():
    job = defs.resolve_job_def("cardioml_main")
    keys = {"/".join(k.path) for k in job.asset_layer.selected_asset_keys}
    assert "exports/wfdb" not in keys and "images/ecg_signals" in keys
    assert pl.Series(sorted(keys)).str.starts_with("exports/").sum() == 0
