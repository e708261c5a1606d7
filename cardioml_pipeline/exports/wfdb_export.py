"""Each patient's digitized ECG as a WFDB record, the format ECG tools read (wfdb, neurokit2,
PhysioNet/CinC Challenge code).

A record holds the 12 leads at 500 Hz in format 16 (16-bit), with gain and baseline chosen per lead
by the wfdb package from that lead's range, so no sample clips. Samples a lead lacks (a shorter
strip, a rejected or missing image) are written as WFDB's invalid-sample value and read back as
NaN. A lead whose signal row carries `start_s` (a segment cut from a whole page) is placed at that
time in the record. Header comments follow the PhysioNet/CinC Challenge style:

    #Age: 54
    #Sex: Male
    #Dx: 164889003,427172004          SNOMED CT codes of the patient's ECG labels
    #Findings: atrial_fibrillation,premature_ventricular_contraction
    #Image_sha256 II: <sha256 of the source image>
    #QC II: passed | failed: <reasons> | rejected: <reason> | missing

Pure functions here; the asset (`exports/wfdb`) and the CLI (`cardioml export-wfdb`) only gather
the inputs.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from cardioml_pipeline.ecg_images.discovery import LEADS
from cardioml_pipeline.ecg_images.index import ArtifactLayout, read_patient_signals, scan_index

SAMPLING_RATE_HZ = 500
FORMAT = "16"
SEX_NAMES = {"M": "Male", "F": "Female"}
INVALID_SAMPLE = -32768  # format 16's "no sample here"
DIGITAL_MIN = -32766  # valid samples stay in [-32767, 32767], one step clear of the invalid value
DIGITAL_SPAN = 65532
DEFAULT_GAIN = 1000.0  # digital units per mV, PhysioNet's usual choice (1 uV steps)
MAX_GAIN = 1e7


@dataclass
class PatientEcg:
    """What one record is written from."""

    file_number: int
    age: float | None
    sex: str | None  # F / M
    findings: list[str] = field(default_factory=list)
    snomed_codes: list[str] = field(default_factory=list)
    # lead -> (signal in mV, start in seconds); leads without a signal are absent
    signals: dict[str, tuple[np.ndarray, float]] = field(default_factory=dict)
    # lead -> (source image sha256, QC verdict text)
    images: dict[str, tuple[str | None, str]] = field(default_factory=dict)


def record_name(file_number: int) -> str:
    return f"patient_{file_number}"


def signal_matrix(signals: dict[str, tuple[np.ndarray, float]], fs: int = SAMPLING_RATE_HZ) -> np.ndarray:
    """(samples, 12) float64 in mV in LEADS order; NaN where a lead has no sample."""
    spans = {lead: (int(round(start * fs)), np.asarray(signal, dtype=np.float64)) for lead, (signal, start) in signals.items()}
    length = max((offset + len(signal) for offset, signal in spans.values()), default=0)
    matrix = np.full((max(length, 1), len(LEADS)), np.nan)
    for column, lead in enumerate(LEADS):
        if lead in spans:
            offset, signal = spans[lead]
            matrix[offset : offset + len(signal), column] = signal
    return matrix


def header_comments(ecg: PatientEcg) -> list[str]:
    age = "Unknown" if ecg.age is None or np.isnan(ecg.age) else str(int(ecg.age))
    comments = [
        f"Age: {age}",
        f"Sex: {SEX_NAMES.get(ecg.sex or '', 'Unknown')}",
        f"Dx: {','.join(ecg.snomed_codes)}",
        f"Findings: {','.join(ecg.findings)}",
    ]
    for lead in LEADS:
        sha, verdict = ecg.images.get(lead, (None, "missing"))
        if sha:
            comments.append(f"Image_sha256 {lead}: {sha}")
        comments.append(f"QC {lead}: {verdict}")
    return comments


def digitize(matrix: np.ndarray) -> tuple[np.ndarray, list[float], list[int]]:
    """Format-16 samples with a gain and baseline per lead that span the lead's own range, so no
    sample clips: physical = (digital - baseline) / gain, within half a quantization step. NaN
    (no sample) becomes the invalid value; a lead with no sample gets the conventional 1000/mV."""
    digital = np.full(matrix.shape, INVALID_SAMPLE, dtype=np.int64)
    gains: list[float] = []
    baselines: list[int] = []
    for column in range(matrix.shape[1]):
        values = matrix[:, column]
        valid = ~np.isnan(values)
        if not valid.any():
            gains.append(DEFAULT_GAIN)
            baselines.append(0)
            continue
        low, high = float(values[valid].min()), float(values[valid].max())
        # 65,532 steps across the range; flat or tiny leads keep a gain no larger than MAX_GAIN
        gain = min(DIGITAL_SPAN / (high - low), MAX_GAIN) if high > low else DEFAULT_GAIN
        baseline = int(np.floor(DIGITAL_MIN - low * gain))
        samples = np.round(values[valid] * gain + baseline)
        assert samples.min() > INVALID_SAMPLE and samples.max() <= 32767, "would clip"
        digital[valid, column] = samples.astype(np.int64)
        gains.append(gain)
        baselines.append(baseline)
    return digital, gains, baselines


def write_record(ecg: PatientEcg, out_dir: Path) -> Path:
    """Write `<out_dir>/patient_<n>.hea` and `.dat`; returns the record path without suffix.
    Written in a temporary folder and moved into place, so a reader never sees half a record."""
    import wfdb

    out_dir.mkdir(parents=True, exist_ok=True)
    name = record_name(ecg.file_number)
    digital, gains, baselines = digitize(signal_matrix(ecg.signals))
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".wfdb-") as staging:
        wfdb.wrsamp(
            name,
            fs=SAMPLING_RATE_HZ,
            units=["mV"] * len(LEADS),
            sig_name=list(LEADS),
            d_signal=digital,
            fmt=[FORMAT] * len(LEADS),
            adc_gain=gains,
            baseline=baselines,
            comments=header_comments(ecg),
            write_dir=staging,
        )
        for suffix in (".dat", ".hea"):  # the header last: it names the data file
            os.replace(Path(staging) / f"{name}{suffix}", out_dir / f"{name}{suffix}")
    return out_dir / name


def qc_verdict(qc_passed: bool | None, qc_reasons: list[str] | None, reject_reason: str | None) -> str:
    if reject_reason:
        return f"rejected: {reject_reason}"
    if qc_passed:
        return "passed"
    return "failed: " + "; ".join(qc_reasons or []) if qc_reasons else "failed"


@dataclass
class ClinicalContext:
    """Age, sex and ECG labels per patient, read from the warehouse in one short read."""

    patients: dict[int, tuple[float | None, str | None]]
    labels: dict[int, tuple[list[str], list[str]]]  # findings, SNOMED CT codes


def read_clinical_context(conn) -> ClinicalContext:
    patients = {n: (float(age) if age is not None else None, sex) for n, age, sex in conn.execute("SELECT file_number, age, gender FROM staging.patients").fetchall()}
    labels: dict[int, tuple[list[str], list[str]]] = {}
    for number, finding, code in conn.execute(
        "SELECT DISTINCT file_number, finding, snomed_ct_code FROM staging.ecg_labels WHERE file_number IS NOT NULL AND finding IS NOT NULL ORDER BY 1, 2"
    ).fetchall():
        findings, codes = labels.setdefault(number, ([], []))
        findings.append(finding)
        if code and code not in codes:
            codes.append(code)
    return ClinicalContext(patients, labels)


def gather(layout: ArtifactLayout, clinical: ClinicalContext, file_numbers: Iterable[int] | None = None) -> Iterator[PatientEcg]:
    """Patients with at least one image under the artifacts (the image index and the signal
    files), one at a time."""
    index = scan_index(layout).select("file_number", "lead", "source_sha256", "qc_passed", "qc_reasons", "reject_reason")
    if file_numbers is not None:
        index = index.filter(pl.col("file_number").is_in([int(n) for n in file_numbers]))
    images = index.filter(pl.col("file_number").is_not_null()).collect()
    for (number,), rows in sorted(images.group_by("file_number"), key=lambda group: group[0][0]):
        age, sex = clinical.patients.get(number, (None, None))
        findings, codes = clinical.labels.get(number, ([], []))
        ecg = PatientEcg(number, age, sex, list(findings), list(codes))
        for row in rows.iter_rows(named=True):
            if row["lead"] in LEADS:
                ecg.images[row["lead"]] = (row["source_sha256"], qc_verdict(row["qc_passed"], row["qc_reasons"], row["reject_reason"]))
        signals = read_patient_signals(layout, number)
        starts = signals["start_s"] if "start_s" in signals.columns else pl.Series([0.0] * signals.height)
        for lead, signal, start in zip(signals["lead"], signals["signal_mv"], starts):
            if lead in LEADS and signal is not None and len(signal):
                ecg.signals[lead] = (np.asarray(signal, dtype=np.float64), float(start or 0.0))
        yield ecg


def export_wfdb(layout: ArtifactLayout, clinical: ClinicalContext, out_dir: Path, file_numbers: Iterable[int] | None = None, replace: bool = False) -> list[Path]:
    """Write one record per patient with images; `replace` removes `out_dir`'s other records
    (the asset's full export), so records of patients gone from the dataset do not linger."""
    out_dir = Path(out_dir)
    written = [write_record(ecg, out_dir) for ecg in gather(layout, clinical, file_numbers)]
    if replace:
        keep = {path.name for path in written}
        for path in out_dir.glob("patient_*.*"):
            if path.suffix in (".hea", ".dat") and path.with_suffix("").name not in keep:
                path.unlink()
    return written
