"""Demo dataset generator: layout, determinism, quirks and realism against the real CARDIO-ML files.

Comparisons with the real data read `../shared/datasets/cardio-ml` (relative to the project root);
they are skipped, with the reason, where that folder is absent (it always exists in CI)."""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from cardioml_pipeline.demo import params as P
from cardioml_pipeline.demo.clinical import (
    CLINICAL_TABLE_FILES,
    generate_demo_labels,
    generate_demo_patients,
    write_demo_dataset,
)

REAL_DIR = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "cardio-ml"
needs_real = pytest.mark.skipif(  # never skipped in CI: there a missing ../shared fails the test
    not (REAL_DIR / "Clinical_Data").is_dir() and not os.environ.get("CI"),
    reason=f"real CARDIO-ML files not found at {REAL_DIR} (only the shared checkout has them)",
)
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
KEY = re.compile(r"^(\d+)(?:-(\d+))?$")
CORE = "01_Core_Patient_Data.csv"


def read_table(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def columns_of(root: Path) -> dict[str, list[str]]:
    """Every clinical column by header name (table 01 first, then the detail-only columns)."""
    out: dict[str, list[str]] = {}
    for name in CLINICAL_TABLE_FILES:
        header, rows = read_table(root / "Clinical_Data" / name)
        for j, column in enumerate(header[2:], start=2):
            out.setdefault(column, [row[j] for row in rows])
    return out


def label_lines(root: Path) -> list[tuple[str, str]]:
    data = (root / "ECG Labels.csv").read_bytes().decode("utf-8")
    return [tuple(line.split(", ", 1)) for line in data.split("\r\n") if line]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo574")
    summary = write_demo_dataset(root, patients=574, seed=0)
    assert summary["rows_per_table"] == 574
    return root


@pytest.fixture(scope="module")
def demo_big(tmp_path_factory) -> Path:
    """Large enough that rare spellings (about 1 in 200 rows) are sure to occur."""
    root = tmp_path_factory.mktemp("demo5000")
    write_demo_dataset(root, patients=5000, seed=3)
    return root


@pytest.fixture(scope="module")
def truth() -> pl.DataFrame:
    return generate_demo_patients(574, 0)


@pytest.fixture(scope="module")
def real_columns() -> dict[str, list[str]]:
    return columns_of(REAL_DIR)


# --- arguments and determinism -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -1, 100_001, 10**9, 2.5, "574", None, True])
def test_invalid_patient_counts_raise_value_error_naming_the_argument(bad, tmp_path):
    with pytest.raises(ValueError, match="patients"):
        write_demo_dataset(tmp_path, patients=bad, seed=0)
    with pytest.raises(ValueError, match="patients"):
        generate_demo_patients(bad, 0)
    assert not (tmp_path / "Clinical_Data").exists()


def test_invalid_seed_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        write_demo_dataset(tmp_path, patients=10, seed=-1)


def test_same_arguments_give_the_same_bytes_and_another_seed_does_not(demo, tmp_path):
    again = tmp_path / "again"
    other = tmp_path / "other"
    write_demo_dataset(again, patients=574, seed=0)
    write_demo_dataset(other, patients=574, seed=1)
    files = [Path("Clinical_Data") / name for name in CLINICAL_TABLE_FILES] + [Path("ECG Labels.csv")]
    for relative in files:
        assert (demo / relative).read_bytes() == (again / relative).read_bytes(), relative
    assert (demo / "Clinical_Data" / CORE).read_bytes() != (other / "Clinical_Data" / CORE).read_bytes()
    assert (demo / "ECG Labels.csv").read_bytes() != (other / "ECG Labels.csv").read_bytes()
    assert generate_demo_patients(574, 0).equals(generate_demo_patients(574, 0))


# --- layout ---------------------------------------------------------------------------------------------


def test_writes_the_ten_tables_the_labels_and_an_empty_image_folder(demo):
    assert len(CLINICAL_TABLE_FILES) == 10
    assert CLINICAL_TABLE_FILES[0] == CORE and CLINICAL_TABLE_FILES[-1] == "10_Comprehensive_Medical_History.csv"
    assert sorted(p.name for p in (demo / "Clinical_Data").iterdir()) == sorted(CLINICAL_TABLE_FILES)
    assert (demo / "ECG Labels.csv").is_file()
    assert (demo / "ECG_Images").is_dir() and not any((demo / "ECG_Images").iterdir())


@needs_real
def test_file_names_and_headers_are_byte_identical_to_the_real_files(demo):
    assert sorted(CLINICAL_TABLE_FILES) == sorted(p.name for p in (REAL_DIR / "Clinical_Data").glob("*.csv"))
    for name in CLINICAL_TABLE_FILES:
        real_first_line = (REAL_DIR / "Clinical_Data" / name).read_bytes().split(b"\n", 1)[0]
        demo_first_line = (demo / "Clinical_Data" / name).read_bytes().split(b"\n", 1)[0]
        assert demo_first_line == real_first_line, name


def test_headers_keep_the_published_quirks(demo):
    header, _ = read_table(demo / "Clinical_Data" / CORE)
    assert header[:2] == ["Patient's file number", "Patient's file number"]
    for quirky in ("Initial diagnosis ", "Method of referral ", "Systolic blood pressure ", "BS (Blood suger)", "Troponine - I (Q)"):
        assert quirky in header
    for name in CLINICAL_TABLE_FILES:
        assert read_table(demo / "Clinical_Data" / name)[0][:2] == ["Patient's file number"] * 2


def test_every_table_has_one_row_per_patient_in_file_number_order(demo):
    expected = [str(n) for n in range(1001, 1001 + 574)]
    records = None
    for name in CLINICAL_TABLE_FILES:
        header, rows = read_table(demo / "Clinical_Data" / name)
        assert len(rows) == 574, name
        assert all(len(row) == len(header) for row in rows), name
        assert [row[0] for row in rows] == expected, name
        records = records or [row[1] for row in rows]
        assert [row[1] for row in rows] == records, name


def test_encoding_line_endings_and_quoting_match_the_real_export(demo):
    real_ending = None
    if (REAL_DIR / "Clinical_Data" / CORE).is_file():
        real_ending = b"\r\n" if b"\r\n" in (REAL_DIR / "Clinical_Data" / CORE).read_bytes() else b"\n"
    for name in CLINICAL_TABLE_FILES:
        data = (demo / "Clinical_Data" / name).read_bytes()
        assert not data.startswith(b"\xef\xbb\xbf")
        text = data.decode("utf-8")
        assert data.count(b"\n") == data.count(b"\r\n") == 575, name  # CRLF everywhere, 1 header + 574 rows
        if real_ending is not None:
            assert data.endswith(real_ending)
        # quoting is minimal: re-writing the parsed rows with QUOTE_MINIMAL gives the same text
        rows = list(csv.reader(io.StringIO(text, newline="")))
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
        assert buffer.getvalue() == text, name
    core = (demo / "Clinical_Data" / CORE).read_text(encoding="utf-8")
    assert '"Hypertension, Diabetes' in core or '"Diabetes, Hypertension' in core  # comma lists are quoted


def test_core_table_holds_the_same_values_as_the_detail_tables(demo):
    core_header, core_rows = read_table(demo / "Clinical_Data" / CORE)
    shared = 0
    for name in CLINICAL_TABLE_FILES[1:]:
        header, rows = read_table(demo / "Clinical_Data" / name)
        for j, column in enumerate(header[2:], start=2):
            if column in core_header:
                k = core_header.index(column)
                assert [r[k] for r in core_rows] == [r[j] for r in rows], (name, column)
                shared += 1
    assert shared == 55  # every core column except gender, age, death, cause of death


@needs_real
def test_core_shares_the_same_columns_with_the_detail_tables_as_the_real_core():
    real_core, _ = read_table(REAL_DIR / "Clinical_Data" / CORE)
    detail = {c for name in CLINICAL_TABLE_FILES[1:] for c in P.TABLE_HEADERS[name][2:]}
    assert set(real_core[2:]) - detail == {"Patient Gender", "Patient Age", "Death", "Cause of death"}
    assert detail - set(real_core[2:]) == {"Treatment actions", "Emergency room visits in the past 24 hours "}


# --- values ---------------------------------------------------------------------------------------------


def test_truth_frame_is_what_the_csvs_carry(demo, truth):
    assert truth.height == 574
    for column in ("file_number", "record_number", "findings", "ecg_count", "age", "sex", "pulse_rate", "death"):
        assert column in truth.columns
    assert truth["file_number"].to_list() == list(range(1001, 1575))
    header, rows = read_table(demo / "Clinical_Data" / CORE)
    assert [int(r[1]) for r in rows] == truth["record_number"].to_list()
    for j, column in enumerate(header[2:], start=2):
        assert [r[j] for r in rows] == [v or "" for v in truth[column].to_list()], column
    ages = [int(r[header.index("Patient Age")]) if r[header.index("Patient Age")] else None for r in rows]
    assert ages == truth["age"].to_list()


def test_troponin_is_mostly_the_censored_text(demo, demo_big):
    for root in (demo, demo_big):
        values = [v for v in columns_of(root)["Troponine - I (Q)"] if v]
        censored = sum(v == "<0.05" for v in values)
        numbers = [v for v in values if NUMBER.match(v)]
        assert censored + len(numbers) == len(values)
        assert censored / len(values) > 0.95
    assert 0 < len(numbers) < 0.03 * len(values)


def test_dirty_category_spellings_occur(demo, demo_big):
    small = columns_of(demo)
    assert "Medical treatment " in small["Treatment actions"] and "Medical treatment" in small["Treatment actions"]
    big = columns_of(demo_big)
    for column, variants in {
        "Method of referral ": ("Ambulance", "Ambulance ", "Self-referred", "Self-referred "),
        "Urine Glucose": ("Positive+++", "Positive +++"),
        "Urine Bacteria": ("Few", "few", "Many", "many"),
        "Emergency room visits in the past 24 hours ": ("NO",),
    }.items():
        for variant in variants:
            assert variant in big[column], (column, variant)
    diseases = big["Previous diseases"]
    assert {"No", "NO", "Hypertension, Diabetes", "Diabetes, Hypertension"} <= set(diseases)
    assert any(v.endswith(" ") for v in diseases)
    assert any("seizure" in v for v in diseases) or any(re.search(r"(^|, )[a-z]", v) for v in diseases)
    treatments = big["Treatment actions"]
    assert any("," in v for v in treatments) and any(v.startswith(",") for v in treatments)


@needs_real
def test_missing_rates_are_close_to_the_real_ones(demo, real_columns):
    generated = columns_of(demo)
    assert set(generated) == set(real_columns)
    failures = []
    for column, real_values in real_columns.items():
        p_real = sum(v == "" for v in real_values) / len(real_values)
        p_demo = sum(v == "" for v in generated[column]) / len(generated[column])
        sd = math.sqrt(max(p_real * (1 - p_real), 0.002) * (1 / len(real_values) + 1 / 574))
        if abs(p_demo - p_real) > 3.5 * sd + 0.01:
            failures.append((column, round(p_real, 3), round(p_demo, 3)))
    assert not failures


@needs_real
def test_missing_values_come_in_panel_blocks(demo):
    cbc = ("WBC", "RBC", "Hemoglobin", "Hematocrit", "MCV", "MCH", "MCHC", "Platelets", "Neutrophils", "Lymphocytes")
    columns = columns_of(demo)
    rows = list(zip(*(columns[c] for c in cbc)))
    complete_or_empty = sum(all(rows[i]) or not any(rows[i]) for i in range(len(rows)))
    assert complete_or_empty / len(rows) > 0.95
    ph, pco2 = columns["PH"], columns["PCO2"]
    assert sum((a == "") == (b == "") for a, b in zip(ph, pco2)) / len(ph) > 0.97


@needs_real
def test_categories_are_the_real_ones_with_similar_frequencies(demo, demo_big, real_columns):
    real_detail = {}
    for name in CLINICAL_TABLE_FILES[1:]:  # table 08 spells a few urine results differently from 01
        header, rows = read_table(REAL_DIR / "Clinical_Data" / name)
        for j, column in enumerate(header[2:], start=2):
            real_detail[column] = [r[j] for r in rows]
    closed = (
        "Patient Gender", "Initial diagnosis ", "Final diagnosis", "Death", "Cause of death",
        "Patient Status on Discharge", "Method of referral ", "Urine Proteins", "Urine Glucose",
        "Urine Bacteria", "Previous hospitalizations", "Emergency room visits in the past 24 hours ",
    )
    big = columns_of(demo_big)
    for column in closed:
        allowed = set(real_columns[column]) | set(real_detail.get(column, []))
        assert set(big[column]) <= allowed, (column, set(big[column]) - allowed)
    small = columns_of(demo)
    for column in ("Patient Gender", "Initial diagnosis ", "Final diagnosis", "Patient Status on Discharge", "Method of referral "):
        real = Counter(v for v in real_columns[column] if v)
        ours = Counter(v for v in small[column] if v)
        for category, count in real.most_common(3):
            p_real, p_demo = count / sum(real.values()), ours[category] / sum(ours.values())
            assert abs(p_real - p_demo) < 0.08, (column, category, p_real, p_demo)


@needs_real
def test_numbers_keep_the_real_formatting_and_range(demo, real_columns):
    generated = columns_of(demo)
    for column in P.NUMERIC_QUANTILES:
        real = [v for v in real_columns[column] if v]
        ours = [v for v in generated[column] if v]
        assert all(NUMBER.match(v) for v in ours), column
        assert not any(v.endswith(".0") or v.startswith("-0") and float(v) == 0 for v in ours), column
        decimals_real = max(len(v.split(".")[1]) if "." in v else 0 for v in real)
        decimals_ours = max(len(v.split(".")[1]) if "." in v else 0 for v in ours)
        assert decimals_ours <= decimals_real, column
        values = [float(v) for v in ours]
        low, high = min(float(v) for v in real), max(float(v) for v in real)
        assert low <= min(values) and max(values) <= high, column
        real_mean = sum(float(v) for v in real) / len(real)
        real_sd = math.sqrt(sum((float(v) - real_mean) ** 2 for v in real) / len(real))
        mean = sum(values) / len(values)
        assert abs(mean - real_mean) < 0.35 * real_sd + 1e-9, column
    for column in ("Patient Age", "Systolic blood pressure ", "Pulse rate (PR)", "WBC", "Platelets", "Triage level"):
        assert all("." not in v for v in generated[column] if v), column


def test_record_numbers_pairs_and_range(truth):
    records = truth["record_number"].to_list()
    assert records == sorted(records)
    counts = Counter(records)
    shared = [r for r, c in counts.items() if c > 1]
    assert len(shared) == round(574 * 12 / 581) == 12
    assert all(counts[r] == 2 for r in shared)
    for r in shared:  # the two rows are adjacent and share their ECG labels
        i = records.index(r)
        assert records[i + 1] == r
        assert truth["findings"][i].to_list() == truth["findings"][i + 1].to_list()
    early = [r for r in records if r < P.RECORD_MAIN_START[0]]
    assert early == list(range(1, len(early) + 1)) and 0.05 < len(early) / 574 < 0.1
    assert max(records) < 1_000_000


# --- ECG labels ------------------------------------------------------------------------------------------


def test_labels_file_has_no_header_crlf_and_comma_space_rows(demo):
    data = (demo / "ECG Labels.csv").read_bytes()
    assert data.endswith(b"\r\n") and data.count(b"\n") == data.count(b"\r\n")
    lines = data.decode("utf-8").split("\r\n")[:-1]
    assert all(KEY.match(line.split(", ", 1)[0]) for line in lines)  # the first line is data, not a header
    assert all(line.count(", ") >= 1 and not line.startswith('"') for line in lines)
    keys = [line.split(", ", 1)[0] for line in lines]
    assert len(keys) == len(set(keys))


def test_label_proportions_are_close_to_the_real_file(demo, truth):
    rows = label_lines(demo)
    records = Counter(truth["record_number"].to_list())
    suffixed = [k for k, _ in rows if "-" in k]
    unmatched = [k for k, _ in rows if int(k.split("-")[0]) not in records]
    joined = [t for _, t in rows if "+" in t]
    assert 0.15 < len(suffixed) / len(rows) < 0.32  # real 93 / 408
    assert 0.01 < len(unmatched) / len(rows) < 0.07  # real 14 / 408
    assert 0.03 < len(joined) / len(rows) < 0.12  # real 27 / 408
    assert any(t.endswith(" ") for _, t in rows)
    labelled = (truth["ecg_count"] > 0).mean()
    assert 0.5 < labelled < 0.7  # real 343 / 581
    groups: dict[str, list[str]] = {}
    for key, text in rows:
        groups.setdefault(key.split("-")[0], []).append(text)
    matched = {b: t for b, t in groups.items() if int(b) in records}
    multi = [t for t in matched.values() if len(t) > 1]
    assert 0.05 < len(multi) / len(matched) < 0.2  # real 42 / 343
    assert any(len(set(t)) > 1 for t in multi)  # some records have differing labels
    assert all("-" in k for k, _ in rows if len(groups[k.split("-")[0]]) > 1)


@needs_real
def test_label_texts_are_real_variants_with_similar_frequencies(demo_big):
    real = Counter(t for _, t in label_lines(REAL_DIR))
    ours = Counter(t for _, t in label_lines(demo_big))
    assert set(ours) <= set(real)
    for text in ("Non-cardiac", "Non-cardiac ", "Ischemia", "Tachycardia"):
        assert abs(ours[text] / sum(ours.values()) - real[text] / sum(real.values())) < 0.05, text
    for variant in ("ISCHEMIA", "MI", "Myocardial infarction", "LBBB", "Left bundle branch block", "AF+RBBB", "vt", "Ischemia + atrial fibrillation", "Tachycardia+ ischemia"):
        assert variant in ours, variant


def test_label_rows_name_exactly_the_truth_findings(demo, truth):
    by_key = {}
    for keys, findings in zip(truth["ecg_keys"].to_list(), truth["ecg_findings"].to_list()):
        for key, ecg in zip(keys, findings):
            by_key[key] = ecg
    meaning = {text: list(codes) for text, codes, _ in P.LABEL_VARIANTS}
    rows = label_lines(demo)
    matched_rows = 0
    for key, text in rows:
        if key in by_key:
            assert meaning[text] == by_key[key], key
            matched_rows += 1
    assert matched_rows == len(by_key) == truth["ecg_count"].sum() - sum_shared_duplicates(truth)
    assert all(code in P.FINDING_CODES for codes in truth["findings"].to_list() for code in codes)
    assert ((truth["ecg_count"] == 0) == (truth["findings"].list.len() == 0)).all()
    labels = generate_demo_labels(574, 0)
    assert labels["key"].to_list() == [k for k, _ in rows]
    assert labels["label_text"].to_list() == [t for _, t in rows]


def sum_shared_duplicates(truth: pl.DataFrame) -> int:
    """ECG rows counted twice in `ecg_count` because two patients share the record number."""
    first = truth.unique("record_number", keep="first", maintain_order=True)
    return int(truth["ecg_count"].sum() - first["ecg_count"].sum())


def test_label_texts_parse_to_their_findings_with_the_pipeline_parser():
    from cardioml_pipeline.clinical.labels import parse_label_text

    for text, codes, _ in P.LABEL_VARIANTS:
        assert [f.code for f in parse_label_text(text)] == list(codes), text


# --- clinical consistency --------------------------------------------------------------------------------


def test_clinical_values_agree_with_the_findings_and_outcome():
    big = generate_demo_patients(20_000, 5)
    fast = big.filter(pl.col("findings").list.contains("tachycardia") | pl.col("findings").list.contains("ventricular_tachycardia"))
    slow = big.filter(pl.col("findings").list.contains("sinus_bradycardia"))
    assert fast.height > 100 and slow.height > 10
    assert fast["pulse_rate"].null_count() == 0 and fast["pulse_rate"].min() > 100
    assert slow["pulse_rate"].null_count() == 0 and slow["pulse_rate"].max() < 60
    cardiac = big.filter((pl.col("findings").list.len() > 0) & ~pl.col("findings").list.contains("non_cardiac"))
    other = big.filter(pl.col("findings").list.len() == 0)
    share = lambda frame: (frame["Initial diagnosis "] == "Cardiac").sum() / frame["Initial diagnosis "].is_not_null().sum()
    assert share(cardiac) > share(other) + 0.1
    deceased = big["Patient Status on Discharge"] == "Deceased"
    assert (deceased == (big["death"] == 1).fill_null(False)).all()
    assert big.filter(pl.col("Cause of death").is_not_null())["death"].to_list() == [1] * big["Cause of death"].is_not_null().sum()
    ages = big.group_by("death").agg(pl.col("age").mean()).drop_nulls("death").sort("death")["age"].to_list()
    assert ages[1] > ages[0] + 5
    assert 0.01 < (big["death"] == 1).sum() / big["death"].is_not_null().sum() < 0.03  # real 10 / 567


# --- sizes ---------------------------------------------------------------------------------------------------


def test_a_single_patient(tmp_path):
    summary = write_demo_dataset(tmp_path, patients=1, seed=0)
    for name in CLINICAL_TABLE_FILES:
        header, rows = read_table(tmp_path / "Clinical_Data" / name)
        assert len(rows) == 1 and rows[0][0] == "1001" and len(rows[0]) == len(header)
    assert summary["label_rows"] == len(label_lines(tmp_path)) <= 4
    assert generate_demo_patients(1, 0).height == 1


def test_one_hundred_thousand_patients(tmp_path):
    summary = write_demo_dataset(tmp_path, patients=100_000, seed=0)
    for name in CLINICAL_TABLE_FILES:
        data = (tmp_path / "Clinical_Data" / name).read_bytes()
        assert data.count(b"\r\n") == 100_001, name
    label_rows = (tmp_path / "ECG Labels.csv").read_bytes().count(b"\r\n")
    assert label_rows == summary["label_rows"] and 55_000 < label_rows < 85_000
