"""ECG label text -> findings -> SNOMED CT codes.

`ECG Labels.csv` has no header and rows `<key>, <label text>`. The key is the hospital record number,
optionally with an ECG suffix (`126035-2`). Label text is free text; `+` joins several findings.
Codes follow the PhysioNet/CinC Challenge 2020-21 label mapping (dx_mapping_scored/unscored.csv)
where it has the finding; `tachycardia` (3424008) and `asystole` (397829000) are SNOMED CT concepts
outside that mapping, and `non_cardiac` (no cardiac finding on the ECG) has no code. A label naming
tachycardia and atrial fibrillation together also carries `rapid_atrial_fibrillation` (314208002,
AF with rapid ventricular response), besides both findings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from cardioml_pipeline.clinical.quarantine import quarantine_frame
from cardioml_pipeline.clinical.tables import ACTION_ROW_EXCLUDED


@dataclass(frozen=True)
class Finding:
    code: str  # controlled vocabulary value (staging.ecg_labels.finding)
    snomed_ct_code: str | None
    abbreviation: str | None
    description: str
    synonyms: tuple[str, ...]  # normalized label fragments that mean this finding


FINDINGS: tuple[Finding, ...] = (
    Finding("non_cardiac", None, None, "No cardiac finding on the ECG (the dataset's 'Non-cardiac').", ("non-cardiac", "noncardiac", "non cardiac", "normal")),
    Finding("ischemia", "164861001", "MIs", "Myocardial ischemia.", ("ischemia", "ischaemia", "myocardial ischemia")),
    Finding("tachycardia", "3424008", "Tach", "Tachycardia, not further specified (SNOMED CT; not in the PhysioNet mapping).", ("tachycardia",)),
    Finding("sinus_tachycardia", "427084000", "STach", "Sinus tachycardia.", ("sinus tachycardia",)),
    Finding("myocardial_infarction", "164865005", "MI", "Myocardial infarction.", ("myocardial infarction", "mi")),
    Finding("premature_ventricular_contraction", "427172004", "PVC", "Premature ventricular contractions.", ("pvc", "premature ventricular contraction", "premature ventricular contractions")),
    Finding("low_qrs_voltage", "251146004", "LQRSV", "Low QRS voltages.", ("low voltage", "low qrs voltage", "low qrs voltages")),
    Finding("prolonged_qt", "111975006", "LQT", "Prolonged QT interval.", ("long qt", "prolonged qt", "prolonged qt interval", "long qt interval")),
    Finding("left_bundle_branch_block", "164909002", "LBBB", "Left bundle branch block.", ("lbbb", "left bundle branch block")),
    Finding("right_bundle_branch_block", "59118001", "RBBB", "Right bundle branch block.", ("rbbb", "right bundle branch block")),
    Finding("first_degree_av_block", "270492004", "IAVB", "First-degree atrioventricular block.", ("first degree av block", "1st degree av block", "first-degree av block")),
    Finding("av_block", "233917008", "AVB", "Atrioventricular block, degree not stated.", ("av block", "atrioventricular block")),
    Finding("ventricular_tachycardia", "164895002", "VTach", "Ventricular tachycardia.", ("vt", "ventricular tachycardia", "vtach")),
    Finding("sinus_bradycardia", "426177001", "SB", "Sinus bradycardia.", ("sinus bradycardia",)),
    Finding("bradycardia", "426627000", "Brady", "Bradycardia.", ("bradycardia",)),
    Finding("sinoatrial_block", "65778007", "SAB", "Sinoatrial block.", ("sa block", "sinoatrial block", "sino-atrial block")),
    Finding("premature_atrial_contraction", "284470004", "PAC", "Premature atrial contraction.", ("pac", "premature atrial contraction", "premature atrial contractions")),
    Finding("left_anterior_fascicular_block", "445118002", "LAnFB", "Left anterior fascicular (hemi)block.", ("left anterior hemi block", "left anterior hemiblock", "left anterior fascicular block", "lafb")),
    Finding("atrial_flutter", "164890007", "AFL", "Atrial flutter.", ("atrial flutter", "afl")),
    Finding("atrial_fibrillation", "164889003", "AF", "Atrial fibrillation.", ("af", "atrial fibrillation", "afib")),
    Finding("asystole", "397829000", None, "Asystole (SNOMED CT; not in the PhysioNet mapping).", ("asystole",)),
    # no synonym of its own: derived from a label naming both tachycardia and AF (parse_label_text)
    Finding("rapid_atrial_fibrillation", "314208002", "RAF", "Atrial fibrillation with rapid ventricular response (SNOMED CT; the label 'Tachycardia + AF').", ()),
)
# findings a label implies by naming several others together: (all of these) -> also this
IMPLIED_FINDINGS: tuple[tuple[frozenset[str], str], ...] = ((frozenset({"tachycardia", "atrial_fibrillation"}), "rapid_atrial_fibrillation"),)

FINDINGS_BY_CODE = {f.code: f for f in FINDINGS}
_SYNONYMS = {syn: f for f in FINDINGS for syn in f.synonyms}

# `<record number>` or `<record number>-<ECG index>`: ASCII digits, no inner spaces (the key is
# matched against record numbers as published; `5 - 2` or `6-0` are typos, quarantined)
KEY_PATTERN = re.compile(r"^(\d+)(?:-(\d+))?$", re.ASCII)
MAX_RECORD_NUMBER = 10**9
MAX_ECG_INDEX = 1000


class UnmappedLabelError(ValueError):
    pass


def normalize_label_fragment(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def parse_label_text(text: str) -> list[Finding]:
    """Findings named by one label text. Raises UnmappedLabelError for an unknown fragment."""
    findings: list[Finding] = []
    for fragment in text.split("+"):
        token = normalize_label_fragment(fragment)
        if not token:
            continue
        finding = _SYNONYMS.get(token)
        if finding is None:
            raise UnmappedLabelError(f"unknown ECG finding {fragment.strip()!r} in label {text.strip()!r}")
        if finding not in findings:
            findings.append(finding)
    if not findings:
        raise UnmappedLabelError(f"empty ECG label {text!r}")
    codes = {f.code for f in findings}
    for required, implied in IMPLIED_FINDINGS:
        if required <= codes and implied not in codes:
            findings.append(FINDINGS_BY_CODE[implied])
    return findings


def split_ecg_key(key: str) -> tuple[int, int] | None:
    """`126035-2` -> (126035, 2); `126035` -> (126035, 1); None when the key is malformed."""
    parsed = parse_ecg_key(key)
    return parsed if isinstance(parsed, tuple) else None


def parse_ecg_key(key: str) -> tuple[int, int] | str:
    """(record number, ECG index) from a stripped key, or why it is not a valid key."""
    match = KEY_PATTERN.fullmatch(key or "")
    if not match:
        return "ECG key is not '<record number>' or '<record number>-<ECG index>' (digits only, no spaces)"
    record_number, ecg_index = int(match.group(1)), int(match.group(2) or 1)
    if not 1 <= record_number <= MAX_RECORD_NUMBER:
        return f"record number {record_number} is outside 1..{MAX_RECORD_NUMBER:,}"
    if not 1 <= ecg_index <= MAX_ECG_INDEX:
        return f"ECG index {ecg_index} is outside 1..{MAX_ECG_INDEX} (the first ECG of a record has no suffix or -1)"
    return record_number, ecg_index


def findings_vocabulary() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "finding": [f.code for f in FINDINGS],
            "snomed_ct_code": [f.snomed_ct_code for f in FINDINGS],
            "abbreviation": [f.abbreviation for f in FINDINGS],
            "description": [f.description for f in FINDINGS],
        }
    )


LABEL_COLUMNS = ["ecg_key", "label_text"]

ECG_LABEL_SCHEMA = {
    "ecg_key": pl.String,
    "record_number": pl.Int64,
    "ecg_index": pl.Int64,
    "file_number": pl.Int64,
    "label_text": pl.String,
    "finding": pl.String,
    "snomed_ct_code": pl.String,
    "abbreviation": pl.String,
    "_row_number": pl.Int64,
}


def stage_ecg_labels(raw: pl.DataFrame, patients: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Raw label rows (`ecg_key`, `label_text`, `_row_number`, `_field_count`) and staged patients
    (`file_number`, `record_number`) -> (staged label rows, quarantine rows).

    One staged row per (ECG, patient, finding); a record number shared by several file numbers
    yields one row per file number; an unmatched record number keeps file_number null."""
    staged_rows: list[dict] = []
    quarantine_rows: list[dict] = []
    seen_keys: dict[str, int] = {}
    for row in raw.select("ecg_key", "label_text", "_row_number", "_field_count").iter_rows(named=True):
        key = (row["ecg_key"] or "").strip()
        # the space after the comma is separator formatting; anything else stays as published
        text = row["label_text"].lstrip() if row["label_text"] is not None else None

        def reject(column: str, value: str | None, reason: str) -> None:
            quarantine_rows.append(
                {"table_name": "ecg_labels", "file_number": None, "_row_number": row["_row_number"], "column_name": column, "value": value, "reason": reason, "action": ACTION_ROW_EXCLUDED}
            )

        if row["_field_count"] < 2 or text is None:
            reject("label_text", key, f"truncated row: {row['_field_count']} of 2 fields")
            continue
        if row["_field_count"] > 2:
            reject("label_text", text, f"row has {row['_field_count']} fields, expected 2 (unquoted comma in the label?)")
            continue
        parsed_key = parse_ecg_key(key)
        if isinstance(parsed_key, str):
            reject("ecg_key", key, parsed_key)
            continue
        if key in seen_keys:
            reject("ecg_key", key, f"duplicate ECG key (first in row {seen_keys[key]})")
            continue
        seen_keys[key] = row["_row_number"]
        try:
            findings = parse_label_text(text)
        except UnmappedLabelError as error:
            reject("label_text", text, str(error))
            continue
        record_number, ecg_index = parsed_key
        for finding in findings:
            staged_rows.append(
                {
                    "ecg_key": key,
                    "record_number": record_number,
                    "ecg_index": ecg_index,
                    "label_text": text,
                    "finding": finding.code,
                    "snomed_ct_code": finding.snomed_ct_code,
                    "abbreviation": finding.abbreviation,
                    "_row_number": row["_row_number"],
                }
            )
    staged = pl.DataFrame(staged_rows, schema={k: v for k, v in ECG_LABEL_SCHEMA.items() if k != "file_number"})
    links = patients.select("record_number", "file_number").drop_nulls("record_number").unique()
    staged = staged.join(links, on="record_number", how="left").select(list(ECG_LABEL_SCHEMA))
    staged = staged.sort(["record_number", "ecg_index", "file_number", "finding"], nulls_last=True)
    return staged, quarantine_frame(quarantine_rows)
