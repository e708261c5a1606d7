"""ECG label parsing: free text -> findings -> SNOMED CT, keys -> record number and ECG index."""

from __future__ import annotations

import polars as pl
import pytest

from cardioml_pipeline.clinical.labels import FINDINGS, UnmappedLabelError, parse_label_text, split_ecg_key, stage_ecg_labels
from cardioml_pipeline_tests.conftest import REAL_CARDIO_ML, require_shared


@pytest.mark.parametrize(
    ("text", "codes"),
    [
        ("Non-cardiac ", ["non_cardiac"]),
        ("Tachycardia+ ischemia ", ["tachycardia", "ischemia"]),
        ("Ischemia + atrial fibrillation", ["ischemia", "atrial_fibrillation"]),
        ("AF+RBBB", ["atrial_fibrillation", "right_bundle_branch_block"]),
        ("LBBB+ MI", ["left_bundle_branch_block", "myocardial_infarction"]),
        ("MI+ left bundle branch block", ["myocardial_infarction", "left_bundle_branch_block"]),
        ("ISCHEMIA", ["ischemia"]),
        ("vt", ["ventricular_tachycardia"]),
        ("LEFT ANTERIOR HEMI block", ["left_anterior_fascicular_block"]),
        ("First degree AV block", ["first_degree_av_block"]),
        ("AV block", ["av_block"]),
        ("Tachycardia+ ischemia+ Right Bundle branch block ", ["tachycardia", "ischemia", "right_bundle_branch_block"]),
    ],
)
def test_label_text_maps_to_findings(text, codes):
    assert [f.code for f in parse_label_text(text)] == codes


def test_tachycardia_with_af_is_also_rapid_atrial_fibrillation():
    findings = parse_label_text("Tachycardia+ ischemia+ AF")  # the real file's row 138156
    assert [f.code for f in findings] == ["tachycardia", "ischemia", "atrial_fibrillation", "rapid_atrial_fibrillation"]
    assert findings[-1].snomed_ct_code == "314208002"
    assert "rapid_atrial_fibrillation" not in [f.code for f in parse_label_text("AF")]
    assert "rapid_atrial_fibrillation" not in [f.code for f in parse_label_text("Tachycardia")]


def test_unknown_fragment_is_an_error_naming_it():
    with pytest.raises(UnmappedLabelError, match="unknown ECG finding 'Brugada'"):
        parse_label_text("Ischemia + Brugada")


def test_keys_split_into_record_number_and_ecg_index():
    assert split_ecg_key("126035-2") == (126035, 2)
    assert split_ecg_key("126035") == (126035, 1)
    assert split_ecg_key("12a") is None


def test_vocabulary_codes_are_unique_and_use_the_physionet_mapping():
    codes = [f.code for f in FINDINGS]
    assert len(codes) == len(set(codes))
    snomed = {f.code: f.snomed_ct_code for f in FINDINGS}
    assert snomed["atrial_fibrillation"] == "164889003"
    assert snomed["premature_ventricular_contraction"] == "427172004"
    assert snomed["myocardial_infarction"] == "164865005"


def test_every_label_text_in_the_real_file_maps():
    path = require_shared(REAL_CARDIO_ML) / "ECG Labels.csv"
    texts = [line.split(",", 1)[1] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(texts) == 408
    for text in texts:
        assert parse_label_text(text), text


def test_stage_labels_links_shared_and_unmatched_record_numbers():
    raw = pl.DataFrame(
        {
            "ecg_key": ["10", "20-1", "20-2", "99", "bad key", "30"],
            "label_text": [" Ischemia", " AF+RBBB", " Non-cardiac", " PVC", " PAC", " Brugada"],
            "_row_number": [1, 2, 3, 4, 5, 6],
            "_field_count": [2, 2, 2, 2, 2, 2],
        }
    )
    patients = pl.DataFrame({"file_number": [1001, 1002, 1003], "record_number": [10, 20, 20]})
    staged, quarantine = stage_ecg_labels(raw, patients)
    rows = staged.select("ecg_key", "ecg_index", "file_number", "finding").rows()
    assert ("10", 1, 1001, "ischemia") in rows
    assert ("20-1", 1, 1002, "atrial_fibrillation") in rows and ("20-1", 1, 1003, "atrial_fibrillation") in rows
    assert ("20-2", 2, 1002, "non_cardiac") in rows
    assert ("99", 1, None, "premature_ventricular_contraction") in rows
    assert staged.filter(pl.col("ecg_key") == "20-1").height == 4  # 2 findings x 2 patients
    assert quarantine.select("_row_number", "column_name", "action").rows() == [(5, "ecg_key", "row_excluded"), (6, "label_text", "row_excluded")]
    assert staged["label_text"].to_list()[0] == "Ischemia"
