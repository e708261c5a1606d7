"""Pure-function tests: reading, header repair, typing, quarantine — no Dagster, no DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from cardioml_pipeline.clinical.normalize import stage_clinical_table
from cardioml_pipeline.clinical.reading import SourceFileError, map_header, read_raw_csv
from cardioml_pipeline.clinical.tables import TABLES_BY_STAGING

CBC = TABLES_BY_STAGING["complete_blood_count"]
CBC_HEADER = "Patient's file number,Patient's file number,WBC,RBC,Hemoglobin,Hematocrit,MCV,MCH,MCHC,Platelets,Neutrophils,Lymphocytes"
METABOLIC = TABLES_BY_STAGING["metabolic_panel"]
HISTORY = TABLES_BY_STAGING["medical_history"]
HISTORY_HEADER = "Patient's file number,Patient's file number,Previous hospitalizations,Previous surgeries,Previous diseases"


def write(tmp_path: Path, text: str | bytes, name: str = "table.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def stage(tmp_path: Path, spec, text: str | bytes):
    raw = read_raw_csv(write(tmp_path, text), "2026-01-01T00:00:00")
    mapping = map_header(spec, raw.frame.columns, raw.path)
    return raw, stage_clinical_table(spec, raw.frame, mapping)


def test_non_numeric_text_is_quarantined_and_the_row_kept(tmp_path):
    text = "\n".join(
        [
            CBC_HEADER,
            "1001,11,12..5,4.5,13,40,90,30,33,200,60,30",
            "1002,12,N/A,4.5,13,40,90,30,33,200,60,30",
            "1003,13,-,4.5,13,40,90,30,33,200,60,30",
            "1004,14,7600,4.5,13,40,90,30,33,200,60,30",
        ]
    )
    _, result = stage(tmp_path, CBC, text)
    assert result.staged["file_number"].to_list() == [1001, 1002, 1003, 1004]
    assert result.staged["wbc"].to_list() == [None, None, None, 7600.0]
    q = result.quarantine
    assert q.select("file_number", "_row_number", "column_name", "value", "reason", "action").rows() == [
        (1001, 1, "wbc", "12..5", "not a number", "value_nulled"),
        (1002, 2, "wbc", "N/A", "not a number", "value_nulled"),
        (1003, 3, "wbc", "-", "not a number", "value_nulled"),
    ]


def test_out_of_range_values_fail_the_pandera_schema_and_are_nulled(tmp_path):
    text = CBC_HEADER + "\n1001,11,7600,4.5,130,40,90,30,33,200,60,30\n1002,12,7600,4.5,13,40,90,30,33,200,160,30\n"
    _, result = stage(tmp_path, CBC, text)
    assert result.staged["hemoglobin"].to_list() == [None, 13.0]
    assert result.staged["neutrophils_pct"].to_list() == [60.0, None]
    reasons = result.quarantine.select("column_name", "value", "reason").rows()
    assert ("hemoglobin", "130.0", "failed check in_range(2, 25) in staging.complete_blood_count") in reasons
    assert ("neutrophils_pct", "160.0", "failed check in_range(0, 100) in staging.complete_blood_count") in reasons


def test_censored_values_keep_the_limit_and_a_flag(tmp_path):
    header = "Patient's file number,Patient's file number,BS (Blood suger),Urea,Creatinine,Calcium,Sodium Na,Potassium K,Magnesium,Phosphatase Alkaline,S.G.O.T (AST),S.G.P.T (ALT),Troponine - I (Q),Bilirubin Total"
    rows = ["1001,1,,,,,,,,,,,<0.05,", "1002,2,,,,,,,,,,,2.8,", "1003,3,,,,,,,,,,,,", "1004,4,,,,,,,,,,,< 0.01,", "1005,5,,,,,,,,,,,<<1,"]
    _, result = stage(tmp_path, METABOLIC, header + "\n" + "\n".join(rows) + "\n")
    staged = result.staged.sort("file_number")
    assert staged["troponin_i"].to_list() == [0.05, 2.8, None, 0.01, None]
    assert staged["troponin_i_censored"].to_list() == [True, False, None, True, None]
    assert result.quarantine.select("file_number", "value").rows() == [(1005, "<<1")]


def test_history_lists_are_split_normalized_and_order_free(tmp_path):
    rows = [
        "1001,1,Yes,,\"Hypertension, Diabetes\"",
        "1002,2,No,Appendectomy,\"Diabetes, Hypertension\"",
        "1003,3,,,No",
        "1004,4,,,",
        "1005,5,,,\"HLP,  seizure , Some New Disease\"",
        "1006,6,maybe,,",
    ]
    _, result = stage(tmp_path, HISTORY, HISTORY_HEADER + "\n" + "\n".join(rows) + "\n")
    staged = result.staged.sort("file_number")
    assert staged["previous_diseases"].to_list() == [
        ["diabetes", "hypertension"],
        ["diabetes", "hypertension"],
        [],
        None,
        ["hyperlipidemia", "seizure", "some new disease"],
        None,
    ]
    assert staged["previous_hospitalizations"].to_list() == [True, False, None, None, None, None]
    assert staged["previous_surgeries"].to_list()[1] == ["appendectomy"]
    assert result.quarantine.select("file_number", "column_name", "value").rows() == [(1006, "previous_hospitalizations", "maybe")]
    assert result.quarantine["reason"][0].startswith("unknown category; allowed: False, True")


def test_categories_ignore_case_and_stray_spaces(tmp_path):
    spec = TABLES_BY_STAGING["emergency_admission"]
    header = "Patient's file number,Patient's file number,Method of referral ,Emergency room visits in the past 24 hours ,Systolic blood pressure ,Diastolic blood pressure,Pulse rate (PR),Respiratory rate (RR),Body temperature (T),Oxygen saturation (%SpO2),Triage level"
    rows = ["1001,1,Ambulance ,NO,120,80,70,16,37,98,2", "1002,2,  self-REFERRED,,,,,,,,", "1003,3,Helicopter,,,,,,,,"]
    _, result = stage(tmp_path, spec, header + "\n" + "\n".join(rows) + "\n")
    assert result.staged.sort("file_number")["referral_method"].to_list() == ["ambulance", "self_referred", None]
    assert result.staged.sort("file_number")["er_visit_past_24h"].to_list() == [False, None, None]
    assert result.quarantine.select("file_number", "column_name", "value").rows() == [(1003, "referral_method", "Helicopter")]


def test_duplicated_file_numbers(tmp_path):
    rows = [
        "1001,1,7600,4.5,13,40,90,30,33,200,60,30",
        "1002,2,5000,4.5,13,40,90,30,33,200,60,30",
        "1001,1,7600,4.5,13,40,90,30,33,200,60,30",  # exact repeat: first copy kept
        "1003,3,5000,4.5,13,40,90,30,33,200,60,30",
        "1003,3,9999,4.5,13,40,90,30,33,200,60,30",  # conflicting: both excluded
    ]
    _, result = stage(tmp_path, CBC, CBC_HEADER + "\n" + "\n".join(rows) + "\n")
    assert result.staged["file_number"].to_list() == [1001, 1002]
    q = result.quarantine.select("file_number", "_row_number", "reason", "action").rows()
    assert (1001, 3, "exact duplicate of row 1", "row_excluded") in q
    assert (1003, 4, "duplicate file_number with conflicting values in rows 4, 5", "row_excluded") in q
    assert (1003, 5, "duplicate file_number with conflicting values in rows 4, 5", "row_excluded") in q
    assert result.staged.height + result.excluded_rows == 5


def test_truncated_last_row_is_quarantined(tmp_path):
    text = CBC_HEADER + "\n1001,1,7600,4.5,13,40,90,30,33,200,60,30\n1002,2,5000,4.5,1"
    raw, result = stage(tmp_path, CBC, text)
    assert raw.frame.height == 2  # the raw layer keeps the partial row
    assert result.staged["file_number"].to_list() == [1001]
    assert result.quarantine.select("_row_number", "reason", "action").rows() == [(2, "truncated row: 5 of 12 fields", "row_excluded")]


def test_missing_or_bad_file_number_excludes_the_row(tmp_path):
    text = CBC_HEADER + "\n,1,7600,4.5,13,40,90,30,33,200,60,30\nabc,2,7600,4.5,13,40,90,30,33,200,60,30\n1003,3,7600,4.5,13,40,90,30,33,200,60,30\n"
    _, result = stage(tmp_path, CBC, text)
    assert result.staged["file_number"].to_list() == [1003]
    assert result.quarantine.select("_row_number", "reason").rows() == [(1, "missing file_number"), (2, "file_number is not a whole number")]


def test_bom_latin1_crlf_and_lf_all_decode(tmp_path):
    body = "1001,1,Yes,,\"Hypertension, Diabète\"\n"
    lf = read_raw_csv(write(tmp_path, (HISTORY_HEADER + "\n" + body).encode("utf-8"), "lf.csv"), "t")
    crlf = read_raw_csv(write(tmp_path, (HISTORY_HEADER + "\r\n" + body.replace("\n", "\r\n")).encode("utf-8"), "crlf.csv"), "t")
    bom = read_raw_csv(write(tmp_path, b"\xef\xbb\xbf" + (HISTORY_HEADER + "\n" + body).encode("utf-8"), "bom.csv"), "t")
    latin = read_raw_csv(write(tmp_path, (HISTORY_HEADER + "\n" + body).encode("latin-1"), "latin.csv"), "t")
    assert (lf.encoding, crlf.encoding, bom.encoding, latin.encoding) == ("utf-8", "utf-8", "utf-8-sig", "cp1252")
    assert (lf.line_ending, crlf.line_ending) == ("LF", "CRLF")
    for raw in (lf, crlf, bom, latin):
        assert raw.frame.columns[0] == "Patient's file number"  # no BOM glued to the first name
        assert raw.frame["Previous diseases"].to_list() == ["Hypertension, Diabète"]


def test_structural_problems_name_the_file_and_column(tmp_path):
    with pytest.raises(SourceFileError, match=r"missing\.csv: file not found"):
        read_raw_csv(tmp_path / "missing.csv", "t")
    with pytest.raises(SourceFileError, match=r"empty\.csv: file is empty"):
        read_raw_csv(write(tmp_path, b"", "empty.csv"), "t")
    with pytest.raises(SourceFileError, match=r"binary\.csv: unreadable encoding: NUL byte"):
        read_raw_csv(write(tmp_path, b"a,b\n\x00\x01\x02", "binary.csv"), "t")
    raw = read_raw_csv(write(tmp_path, CBC_HEADER.replace(",Hemoglobin", "") + "\n", "nohb.csv"), "t")
    with pytest.raises(SourceFileError, match=r"nohb\.csv, column 'Hemoglobin': required column missing"):
        map_header(CBC, raw.frame.columns, raw.path)


def test_header_tolerates_case_spacing_and_reports_unknown_columns(tmp_path):
    header = "patient's FILE number ,Patient's file number,wbc,RBC,Hemoglobin,Hematocrit,MCV,MCH,MCHC,Platelets,Neutrophils,Lymphocytes,Reticulocytes"
    raw = read_raw_csv(write(tmp_path, header + "\n1001,1,7600,4.5,13,40,90,30,33,200,60,30,1.2\n"), "t")
    mapping = map_header(CBC, raw.frame.columns, raw.path)
    assert mapping.source_columns["file_number"] == "patient's FILE number "
    assert mapping.source_columns["record_number"] == "Patient's file number"
    assert mapping.unknown_columns == ["Reticulocytes"]
    result = stage_clinical_table(CBC, raw.frame, mapping)
    assert result.staged["wbc"].to_list() == [7600.0]
    assert "Reticulocytes" not in result.staged.columns


def test_specific_gravity_written_times_1000_is_rescaled(tmp_path):
    spec = TABLES_BY_STAGING["urinalysis"]
    header = "Patient's file number,Patient's file number,Specific Gravity,Urine PH,Urine Proteins,Urine Glucose,Urine WBC,Urine RBC,Urine E.Cell,Urine Bacteria"
    _, result = stage(tmp_path, spec, header + "\n1001,1,1020,5,Positive +++,Negative,1,2,3,Rare\n1002,2,1.015,6,Trace,Positive++,,,,\n")
    staged = result.staged.sort("file_number")
    assert staged["specific_gravity"].to_list() == pytest.approx([1.020, 1.015])
    assert staged["urine_protein"].to_list() == ["3+", "trace"]
    assert staged["urine_glucose"].to_list() == ["negative", "2+"]
