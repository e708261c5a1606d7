"""ECG features from digitized lead signals: per lead, then summarized across the leads that pass QC.

Input: one row per (file_number, lead) in the `staging.ecg_signals` contract (`signal_mv` in mV at
`sampling_rate_hz`, the digitizer's `qc_passed` / `qc_reasons`); a patient's leads are taken as
simultaneous (the CARDIO-ML strips each show the same 10 s). Output: one row per (file_number, lead)
with the measurements below (`extract_lead_features`), and a wide per-patient frame with one column
per (lead, measure) plus the patient's global measurements and cross-lead summaries
(`patient_ecg_features`).

Method:
1. Per lead (QC): neurokit2 `ecg_clean` (0.5 Hz high-pass, powerline filter) and `ecg_peaks` (R
   peaks, neurokit method), each peak re-centred on the dominant QRS deflection within +-60 ms; RR
   intervals -> the lead's heart rate, RR mean and SDNN; signal quality = the median over beats of
   the Pearson correlation of each beat with the median beat (the beat-to-template idea of
   neurokit2's `ecg_quality(method="averageQRS")`, made absolute and cheap).
2. QC verdict: the digitizer's verdict AND at least 3 beats AND quality >= 0.5 AND heart rate in
   20-250 bpm. Failed leads keep their measurements (null where they could not be made) and the
   reasons, and are left out of the patient's measurement and the cross-lead summaries. A lead
   with fewer than 3 beats (a whole page's 2.5 s segment often has 2) is not measured at all: its
   rate and per-lead measures are null and its reasons say "too few beats".
3. Measurements (intervals, axes, amplitudes, ST): `features.ecg_measure.measure_ecg` over all
   QC-passed leads of the patient together, as the interpretive programs (GE 12SL, Glasgow) do -
   global QRS boundaries from all leads, PR from the earliest robust P onset, QT to the T offset
   over leads, QTc by Bazett and Fridericia, frontal axes, null (with a reason, in
   `global_null_reasons`) without P waves or outside physiological ranges; per lead, amplitudes
   and ST on the baseline-corrected, unsmoothed median beat of the dominant beats (PVCs left
   out). The global values are repeated on each of the patient's rows (`global_*` columns); a
   lead that fails QC gets the same measurement made on it alone. Validated against LUDB's
   cardiologists by benchmarks/ecg_measurements.py (figures in the README).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from cardioml_pipeline.ecg_images.index import SIGNAL_SCHEMA
from cardioml_pipeline.features.ecg_measure import MAX_MISSING_FRACTION, _interpolate_gaps  # one gap rule for both

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
ECG_PROCESSING_VERSION = "ecg-features-5"  # 5: PR null in 2:1 atrial flutter and atrially paced rhythms; 4: QRS boundaries on the median beats low-passed at 35 Hz, offset at 8 %; 3: the QRS onset is not searched before a pacing spike

MIN_BEATS = 3
MIN_QUALITY = 0.5
HEART_RATE_RANGE = (20.0, 250.0)
MIN_SECONDS = 1.5

# Input contract (staging.ecg_signals / signals/**/*.parquet).
# the staging.ecg_signals contract, without the image stage's bookkeeping column
SIGNAL_COLUMNS: dict[str, pl.DataType] = {c: t for c, t in SIGNAL_SCHEMA.items() if c != "n_samples"}


@dataclass(frozen=True)
class Measure:
    name: str
    dtype: pl.DataType
    unit: str | None
    description: str
    formula: str
    inputs: tuple[str, ...] = ("signal_mv", "sampling_rate_hz")  # staging.ecg_signals columns used


_GLOBAL_INPUTS = ("signal_mv", "sampling_rate_hz", "lead", "qc_passed")  # measured on all QC-passed leads of the patient together
LEAD_MEASURES: tuple[Measure, ...] = (
    Measure("n_beats", pl.Int32, "beats", "R peaks detected in the lead.", "count of neurokit2 ecg_peaks R peaks"),
    Measure("heart_rate_bpm", pl.Float64, "beats/min", "Mean heart rate of the lead.", "60000 / rr_mean_ms"),
    Measure("rr_mean_ms", pl.Float64, "ms", "Mean RR interval of the lead.", "mean of successive R-peak differences * 1000 / sampling_rate_hz"),
    Measure("rr_sdnn_ms", pl.Float64, "ms", "SDNN: standard deviation of the RR intervals (sample SD; null with fewer than 2 intervals).", "std(RR, ddof=1)"),
    Measure("pr_ms", pl.Float64, "ms", "PR interval in this lead: its P onset to the global QRS onset, on the median beat of the dominant beats; null without P waves (atrial fibrillation, flutter including 2:1, junctional rhythm, atrial pacing) or when the lead shows no P wave.", "global qrs_onset - p_onset (P onset: where the P wave falls to 10 % of its height)", _GLOBAL_INPUTS),
    Measure("qrs_ms", pl.Float64, "ms", "Global QRS duration (the same in every QC-passed lead: QRS boundaries are taken on all leads together).", "global qrs_offset - qrs_onset (spatial velocity of the median beats, low-passed at 35 Hz, above 5 % (onset) / 8 % (offset) of its QRS maximum)", _GLOBAL_INPUTS),
    Measure("qt_ms", pl.Float64, "ms", "QT interval in this lead: global QRS onset to this lead's T offset (null when its T wave is below 0.1 mV).", "t_offset - global qrs_onset (T offset: trapezium-area method)", _GLOBAL_INPUTS),
    Measure("qtc_ms", pl.Float64, "ms", "This lead's QT corrected for heart rate, Bazett.", "qt_ms / sqrt(global rr_mean_ms / 1000)", _GLOBAL_INPUTS),
    Measure("p_amplitude_mv", pl.Float64, "mV", "P amplitude (signed extreme of the P wave) on the median beat, relative to the PR segment; null without P waves.", "beat[p_peak] - PR-segment level", _GLOBAL_INPUTS),
    Measure("q_amplitude_mv", pl.Float64, "mV", "Q amplitude: the negative deflection before the first R wave (<= 0; 0 when there is none).", "min(beat[qrs_onset..first R]) - PR-segment level", _GLOBAL_INPUTS),
    Measure("r_amplitude_mv", pl.Float64, "mV", "R amplitude: the first positive QRS deflection on the unsmoothed median beat, relative to the PR segment (>= 0; 0 in a QS complex).", "max(first positive lobe of the QRS) - PR-segment level", _GLOBAL_INPUTS),
    Measure("s_amplitude_mv", pl.Float64, "mV", "S amplitude: the first negative deflection after R (<= 0; the whole negative deflection of a QS complex).", "min(first negative lobe after R) - PR-segment level", _GLOBAL_INPUTS),
    Measure("r_prime_amplitude_mv", pl.Float64, "mV", "R' amplitude: a second positive QRS deflection (null when there is none).", "max(second positive lobe of the QRS) - PR-segment level", _GLOBAL_INPUTS),
    Measure("s_prime_amplitude_mv", pl.Float64, "mV", "S' amplitude: a negative deflection after R' (null when there is none).", "min(negative lobe after R') - PR-segment level", _GLOBAL_INPUTS),
    Measure("t_amplitude_mv", pl.Float64, "mV", "T amplitude: signed extreme of the T wave, relative to the PR segment.", "beat[t_peak] - PR-segment level", _GLOBAL_INPUTS),
    Measure("t_polarity", pl.Int8, None, "T-wave polarity: 1 positive, -1 negative, 0 flat (below 0.05 mV), 2 biphasic (both phases >= 25 % of the larger).", "sign of the T wave's extremes", _GLOBAL_INPUTS),
    Measure("st_j_mv", pl.Float64, "mV", "ST level at the J point (global QRS offset), relative to the PR segment (positive = elevation).", "beat[qrs_offset] - PR-segment level", _GLOBAL_INPUTS),
    Measure("st_deviation_mv", pl.Float64, "mV", "ST deviation at J+60 ms (J+40 ms above 100 bpm) on the median beat, relative to the PR segment (positive = elevation).", "mean(beat[J+60 ms +- 4 ms]) - PR-segment level (J+40 ms when heart rate > 100)", _GLOBAL_INPUTS),
    Measure("signal_quality", pl.Float64, None, "Signal quality index: median Pearson correlation of the beats with the median beat (1 = identical beats).", "median_i corr(beat_i, median beat)"),
    Measure("qc_passed", pl.Int8, None, "1 when the lead passed QC (digitizer verdict, >= 3 beats, quality >= 0.5, heart rate 20-250 bpm), 0 when it failed; null when there is no signal for the lead.", "digitizer qc_passed AND n_beats >= 3 AND signal_quality >= 0.5 AND 20 <= heart_rate_bpm <= 250", ("signal_mv", "sampling_rate_hz", "qc_passed")),
)
# measurements taken from the patient's global measurement (features.ecg_measure), per lead
GLOBAL_LEAD_MEASURES = (
    "pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "p_amplitude_mv", "q_amplitude_mv", "r_amplitude_mv", "s_amplitude_mv",
    "r_prime_amplitude_mv", "s_prime_amplitude_mv", "t_amplitude_mv", "t_polarity", "st_j_mv", "st_deviation_mv",
)
T_POLARITY_CODES = {"positive": 1, "negative": -1, "flat": 0, "biphasic": 2}

# The patient's global 12-lead measurements (features.ecg_measure.measure_ecg over the QC-passed
# leads), repeated on each of the patient's rows of the lead table: name -> (dtype, unit, description, formula)
GLOBAL_MEASURES: dict[str, tuple[str, str, str]] = {
    "heart_rate_bpm": ("beats/min", "Heart rate from the beats detected on all QC-passed leads together.", "60000 / rr_mean_ms"),
    "rr_mean_ms": ("ms", "Mean RR interval (all beats, all QC-passed leads together).", "mean of successive beat differences * 1000 / sampling_rate_hz"),
    "pr_ms": ("ms", "Global PR interval: earliest robust P onset (25th percentile over leads with a P wave) to the global QRS onset; null without P waves (atrial fibrillation, flutter including 2:1, junctional rhythm, atrial pacing) or outside 80-400 ms.", "qrs_onset - p_onset"),
    "p_duration_ms": ("ms", "Global P-wave duration: earliest robust P onset to latest robust P offset (25th / 75th percentiles over leads); null without P waves or outside 40-200 ms.", "p_offset - p_onset"),
    "qrs_ms": ("ms", "Global QRS duration: onset and offset where the spatial velocity of the median beats (sum over leads of |d/dt| of the beats low-passed at 35 Hz) crosses 5 % (onset) / 8 % (offset) of its QRS maximum; null outside 40-250 ms.", "qrs_offset - qrs_onset"),
    "qt_ms": ("ms", "Global QT interval: QRS onset to the T offset (median over leads with a T wave >= 0.1 mV, trapezium-area method); null outside 200-700 ms.", "t_offset - qrs_onset"),
    "qtc_bazett_ms": ("ms", "QTc, Bazett (over-corrects above about 90 bpm); null outside 250-700 ms.", "qt_ms / sqrt(rr_mean_ms / 1000)"),
    "qtc_fridericia_ms": ("ms", "QTc, Fridericia (preferred at high and low rates); null outside 250-700 ms.", "qt_ms / (rr_mean_ms / 1000)^(1/3)"),
    "p_axis_deg": ("degrees", "Frontal P axis from the limb leads' net P areas (least squares on the hexaxial reference); null without P waves.", "atan2 of the least-squares frontal vector of the net P areas"),
    "qrs_axis_deg": ("degrees", "Frontal QRS axis from the limb leads' net QRS areas (least squares on the hexaxial reference).", "atan2 of the least-squares frontal vector of the net QRS areas"),
    "t_axis_deg": ("degrees", "Frontal T axis from the limb leads' net T areas (least squares on the hexaxial reference).", "atan2 of the least-squares frontal vector of the net T areas"),
}
MEASURES_BY_NAME = {m.name: m for m in LEAD_MEASURES}

# Long table (features.ecg_lead_features): identifiers, measures, QC detail.
LEAD_TABLE_SCHEMA: dict[str, pl.DataType] = {
    "file_number": pl.Int64,
    "lead": pl.String,
    "sampling_rate_hz": pl.Int32,
    "duration_s": pl.Float64,
    **{m.name: m.dtype for m in LEAD_MEASURES},
    "qc_reasons": pl.List(pl.String),
    **{f"global_{name}": pl.Float64 for name in GLOBAL_MEASURES},
    "global_null_reasons": pl.List(pl.String),
    "digitizer_qc_passed": pl.Boolean,
    "source_sha256": pl.String,
    "processing_version": pl.String,
}

# Cross-lead summaries: name -> (measure, aggregation, description). Aggregation "global" takes the
# patient's global measurement (global_<measure> of the lead table); the others aggregate the
# per-lead measure over QC-passed leads.
SUMMARIES: dict[str, tuple[str, str, str]] = {
    "ecg_heart_rate_bpm": ("heart_rate_bpm", "global", "Heart rate from all QC-passed leads together."),
    "ecg_rr_mean_ms": ("rr_mean_ms", "global", "Mean RR interval from all QC-passed leads together."),
    "ecg_rr_sdnn_ms": ("rr_sdnn_ms", "median", "SDNN, median over QC-passed leads."),
    "ecg_pr_ms": ("pr_ms", "global", "Global PR interval (earliest robust P onset to QRS onset); null without P waves (AF, flutter including 2:1, junctional rhythm, atrial pacing)."),
    "ecg_p_duration_ms": ("p_duration_ms", "global", "Global P-wave duration; null without P waves."),
    "ecg_qrs_ms": ("qrs_ms", "global", "Global QRS duration (earliest onset to latest offset over all leads, from their spatial velocity)."),
    "ecg_qrs_max_ms": ("qrs_ms", "global", "Global QRS duration, the QRS that spans every lead (formerly the longest per-lead QRS, which overestimated it); equal to ecg_qrs_ms."),
    "ecg_qt_ms": ("qt_ms", "global", "Global QT interval (QRS onset to T offset over leads)."),
    "ecg_qtc_ms": ("qtc_bazett_ms", "global", "QTc (Bazett) of the global QT."),
    "ecg_qtc_fridericia_ms": ("qtc_fridericia_ms", "global", "QTc (Fridericia) of the global QT."),
    "ecg_p_axis_deg": ("p_axis_deg", "global", "Frontal P axis (limb leads)."),
    "ecg_qrs_axis_deg": ("qrs_axis_deg", "global", "Frontal QRS axis (limb leads)."),
    "ecg_t_axis_deg": ("t_axis_deg", "global", "Frontal T axis (limb leads)."),
    "ecg_r_amplitude_max_mv": ("r_amplitude_mv", "max", "Largest R amplitude over QC-passed leads."),
    "ecg_s_amplitude_min_mv": ("s_amplitude_mv", "min", "Deepest S amplitude over QC-passed leads (<= 0)."),
    "ecg_st_deviation_max_mv": ("st_deviation_mv", "max", "Largest ST deviation (most elevated) over QC-passed leads."),
    "ecg_st_deviation_min_mv": ("st_deviation_mv", "min", "Smallest ST deviation (most depressed) over QC-passed leads."),
    "ecg_signal_quality": ("signal_quality", "median", "Signal quality index, median over QC-passed leads."),
}
COUNT_COLUMNS: dict[str, str] = {
    "ecg_leads_available": "Leads with a digitized signal (0-12).",
    "ecg_leads_passed": "Leads that passed QC (0-12).",
}


def lead_column(lead: str, measure: str) -> str:
    return f"ecg_{lead.lower()}_{measure}"


# ---------------------------------------------------------------------------------------------
# One lead.


def _empty_measures() -> dict[str, object]:
    return {m.name: None for m in LEAD_MEASURES}


def _recentre_peaks(clean: np.ndarray, peaks: np.ndarray, fs: int) -> np.ndarray:
    """Move each R peak to the largest absolute deflection within +-60 ms (negative QRS too)."""
    half = max(1, int(0.06 * fs))
    level = np.median(clean)
    out = []
    for p in peaks:
        lo, hi = max(0, p - half), min(len(clean), p + half + 1)
        out.append(lo + int(np.argmax(np.abs(clean[lo:hi] - level))))
    out = np.unique(np.asarray(out, dtype=np.int64))
    if len(out) > 1:  # two detections collapsed within a refractory 200 ms: keep the larger
        keep = [out[0]]
        for p in out[1:]:
            if p - keep[-1] < int(0.2 * fs):
                if abs(clean[p] - level) > abs(clean[keep[-1]] - level):
                    keep[-1] = p
            else:
                keep.append(p)
        out = np.asarray(keep, dtype=np.int64)
    return out


def _beat_quality(clean: np.ndarray, peaks: np.ndarray, fs: int, rr_s: float) -> float | None:
    """Median correlation of the beats (aligned on their R peaks) with the median beat."""
    pre = int(min(0.45, 0.45 * rr_s) * fs)
    post = int(min(0.65, 0.70 * rr_s) * fs)
    beats = np.array([clean[p - pre : p + post] for p in peaks if p - pre >= 0 and p + post <= len(clean)])
    if len(beats) < 2:
        return None
    template = np.median(beats, axis=0)
    centred = beats - beats.mean(axis=1, keepdims=True)
    t_centred = template - template.mean()
    denominator = np.linalg.norm(centred, axis=1) * np.linalg.norm(t_centred)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlations = (centred @ t_centred) / denominator
    return float(np.nanmedian(correlations)) if np.isfinite(correlations).any() else 0.0


def _apply_measurement(row: dict[str, object], measurement: dict[str, object], lead: str) -> None:
    """The per-lead measures of `lead` (and its Bazett QTc) from a measure_ecg result."""
    values = measurement["leads"].get(lead, {})  # type: ignore[union-attr]
    for name in GLOBAL_LEAD_MEASURES:
        if name == "qtc_ms":
            continue
        value = values.get(name)
        row[name] = T_POLARITY_CODES.get(value) if name == "t_polarity" and value is not None else value
    row["st_deviation_mv"] = values.get("st_j60_mv")
    rr = measurement.get("rr_mean_ms")
    row["qtc_ms"] = row["qt_ms"] / math.sqrt(rr / 1000.0) if row.get("qt_ms") is not None and rr else None


def _single_lead_measurement(x: np.ndarray, fs: int) -> dict[str, object] | None:
    from cardioml_pipeline.features.ecg_measure import MeasurementError, measure_ecg

    try:
        return measure_ecg({"lead": x}, fs)
    except MeasurementError:
        return None


def lead_features(signal: Iterable[float] | np.ndarray, sampling_rate: int, digitizer_qc_passed: bool | None = True) -> dict[str, object]:
    """Measurements of one lead (see LEAD_MEASURES), plus `duration_s` and `qc_reasons`.

    Never raises on bad signals: what cannot be measured is null and the reason is listed."""
    import neurokit2 as nk

    result = _empty_measures()
    reasons: list[str] = []
    fs = int(sampling_rate) if sampling_rate else 0
    x = np.asarray(signal if signal is not None else [], dtype=np.float64)
    duration = len(x) / fs if fs > 0 else 0.0
    result["duration_s"] = duration
    if digitizer_qc_passed is False:
        reasons.append("digitizer QC failed")
    if fs <= 0:
        reasons.append("no sampling rate")
    elif duration < MIN_SECONDS:
        reasons.append(f"signal shorter than {MIN_SECONDS} s")
    else:
        x = _interpolate_gaps(x)
        if x is None:
            reasons.append(f"more than {MAX_MISSING_FRACTION:.0%} of the samples missing")
        elif float(np.ptp(x)) < 1e-6:
            reasons.append("flat signal")
    if len(reasons) and not (len(reasons) == 1 and reasons[0] == "digitizer QC failed"):
        result["n_beats"] = 0
        result["qc_passed"] = 0
        result["qc_reasons"] = reasons
        return result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            clean = nk.ecg_clean(x, sampling_rate=fs, method="neurokit")
            _, info = nk.ecg_peaks(clean, sampling_rate=fs, method="neurokit")
            peaks = _recentre_peaks(clean, np.asarray(info["ECG_R_Peaks"], dtype=np.int64), fs)
        except Exception as error:  # noqa: BLE001 - neurokit2 fails on degenerate input
            reasons.append(f"R-peak detection failed: {type(error).__name__}")
            peaks = np.empty(0, dtype=np.int64)
            clean = x
    result["n_beats"] = int(len(peaks))
    if len(peaks) >= MIN_BEATS:
        rr = np.diff(peaks) / fs * 1000.0
        result["rr_mean_ms"] = float(rr.mean())
        result["heart_rate_bpm"] = 60000.0 / float(rr.mean())
        result["rr_sdnn_ms"] = float(rr.std(ddof=1)) if len(rr) >= 2 else None
        result["signal_quality"] = _beat_quality(clean, peaks, fs, float(np.median(rr)) / 1000.0)
        # intervals and amplitudes: the measurement core on this lead alone (the feature table
        # replaces them with the patient's all-lead measurement where the lead passes QC)
        measurement = _single_lead_measurement(x, fs)
        if measurement is not None:
            _apply_measurement(result, measurement, "lead")
    if len(peaks) < MIN_BEATS:
        # a 2.5 s segment of a page holds 2-3 beats: one RR interval is no rate, one or two beats
        # no median beat; nothing is measured rather than guessed from them
        reasons.append(
            f"fewer than {MIN_BEATS} beats detected: too few beats ({len(peaks)} in {duration:.1f} s) "
            "to measure rate or per-lead intervals (left null)"
        )
    quality = result.get("signal_quality")
    if quality is None:
        if len(peaks) >= MIN_BEATS:
            reasons.append("no median beat")
    elif quality < MIN_QUALITY:
        reasons.append(f"signal quality {quality:.2f} < {MIN_QUALITY}")
    rate = result.get("heart_rate_bpm")
    if rate is not None and not HEART_RATE_RANGE[0] <= rate <= HEART_RATE_RANGE[1]:
        reasons.append(f"heart rate {rate:.0f} bpm outside {HEART_RATE_RANGE[0]:.0f}-{HEART_RATE_RANGE[1]:.0f}")
    result["qc_passed"] = int(not reasons)
    result["qc_reasons"] = reasons
    return result


# ---------------------------------------------------------------------------------------------
# Many leads.


def empty_signals() -> pl.DataFrame:
    return pl.DataFrame(schema=SIGNAL_COLUMNS)


def conform_signals(frame: pl.DataFrame) -> pl.DataFrame:
    """The contract columns in contract dtypes (missing optional columns become null)."""
    return frame.select(
        [pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c) for c, t in SIGNAL_COLUMNS.items()]
    )


PARALLEL_MIN_LEADS = 1500  # below this, spawning workers costs more than it saves
BATCH_LEADS = 100


def _global_measurement(rows: list[dict], signals: dict[str, np.ndarray], rates: dict[str, int]) -> tuple[dict[str, object] | None, list[str]]:
    """measure_ecg over the patient's QC-passed leads at their common sampling rate."""
    from cardioml_pipeline.features.ecg_measure import MeasurementError, measure_ecg

    passed = [r["lead"] for r in rows if r["qc_passed"] == 1 and rates.get(r["lead"])]
    if not passed:
        return None, ["no lead passed QC"]
    fs = max(set(rates[lead] for lead in passed), key=lambda f: sum(rates[lead] == f for lead in passed))
    chosen = {lead: _interpolate_gaps(np.asarray(signals[lead], dtype=np.float64)) for lead in passed if rates[lead] == fs}
    chosen = {lead: x for lead, x in chosen.items() if x is not None}
    try:
        return measure_ecg(chosen, fs), []
    except MeasurementError as error:
        return None, [f"all leads: {error}"]


def _patient_rows(batch: list[list[tuple]]) -> list[dict]:
    """Feature rows of a batch of patients, each a list of (file_number, lead, sampling_rate_hz,
    signal, qc_passed, sha, version): per-lead QC, then the measurement of all QC-passed leads
    together, whose per-lead values replace the single-lead ones of those leads."""
    out = []
    for leads in batch:
        rows, signals, rates = [], {}, {}
        for file_number, lead, fs, signal, qc_passed, sha, version in leads:
            features = lead_features(signal, fs or 0, qc_passed)
            rows.append(
                {
                    "file_number": file_number,
                    "lead": lead,
                    "sampling_rate_hz": fs,
                    **features,
                    "digitizer_qc_passed": qc_passed,
                    "source_sha256": sha,
                    "processing_version": version,
                }
            )
            signals[lead], rates[lead] = signal, int(fs or 0)
        measurement, problems = _global_measurement(rows, signals, rates)
        global_values = {f"global_{name}": (measurement or {}).get(name) for name in GLOBAL_MEASURES}
        if measurement is not None:
            problems = [f"{name}: {reason}" for name, reason in measurement["null_reasons"].items() if name in GLOBAL_MEASURES]  # type: ignore[union-attr]
        for row in rows:
            if measurement is not None and row["lead"] in measurement["leads"]:  # type: ignore[operator]
                _apply_measurement(row, measurement, row["lead"])
            row.update(global_values)
            row["global_null_reasons"] = problems
        out.extend(rows)
    return out


def _signal_arrays(signals: pl.DataFrame) -> list[np.ndarray]:
    """signal_mv as one float64 array per row (zero-copy slices of the Arrow buffer)."""
    import pyarrow as pa

    column = signals["signal_mv"].to_arrow()
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    offsets = column.offsets.to_numpy()
    values = column.values.to_numpy(zero_copy_only=False).astype(np.float64)
    return [values[offsets[i] : offsets[i + 1]] for i in range(len(column))]


def extract_lead_features(signals: pl.DataFrame, workers: int = 1) -> pl.DataFrame:
    """One row per (file_number, lead) of `signals` with LEAD_TABLE_SCHEMA columns.

    Duplicate (file_number, lead) rows keep the longest signal (a whole page's 10 s rhythm strip or a
    per-lead image over a page's 2.5 s segment), then the first; rows of unknown leads are ignored. With
    workers > 1 and many leads, batches run in spawned worker processes (safe inside Dagster)."""
    from cardioml_pipeline.parallel import bounded_map

    signals = conform_signals(signals).filter(pl.col("file_number").is_not_null() & pl.col("lead").is_in(LEADS))
    signals = signals.sort(pl.col("signal_mv").list.len(), descending=True, maintain_order=True, nulls_last=True)
    signals = signals.unique(["file_number", "lead"], keep="first", maintain_order=True).sort("file_number", "lead")
    if signals.height == 0:
        return pl.DataFrame(schema=LEAD_TABLE_SCHEMA)
    arrays = _signal_arrays(signals)
    items = [
        (row[0], row[1], row[2], arrays[i], row[3], row[4], row[5])
        for i, row in enumerate(signals.select("file_number", "lead", "sampling_rate_hz", "qc_passed", "source_sha256", "processing_version").iter_rows())
    ]
    patients: list[list[tuple]] = []
    for item in items:  # sorted by file number: a patient's leads are consecutive
        if patients and patients[-1][0][0] == item[0]:
            patients[-1].append(item)
        else:
            patients.append([item])
    per_batch = max(1, BATCH_LEADS // len(LEADS))
    batches = [patients[i : i + per_batch] for i in range(0, len(patients), per_batch)]
    use = workers if len(items) >= PARALLEL_MIN_LEADS else 1
    rows = [row for _, batch_rows in bounded_map(_patient_rows, batches, use) for row in batch_rows]
    return pl.DataFrame(rows, schema=LEAD_TABLE_SCHEMA).sort("file_number", "lead")


def patient_ecg_columns() -> list[tuple[str, pl.DataType]]:
    """Column names and dtypes of the wide per-patient ECG block, in table order."""
    columns: list[tuple[str, pl.DataType]] = [(name, pl.Int32) for name in COUNT_COLUMNS]
    columns += [(name, pl.Float64) for name in SUMMARIES]
    for lead in LEADS:
        columns += [(lead_column(lead, m.name), m.dtype) for m in LEAD_MEASURES]
    return columns


def patient_ecg_features(lead_table: pl.DataFrame, file_numbers: pl.Series) -> pl.DataFrame:
    """Wide ECG block, one row per file number (every patient; null where no signal)."""
    patients = pl.DataFrame({"file_number": file_numbers.cast(pl.Int64)}).unique(maintain_order=True)
    leads = lead_table.filter(pl.col("lead").is_in(LEADS))
    counts = leads.group_by("file_number").agg(
        pl.len().cast(pl.Int32).alias("ecg_leads_available"),
        pl.col("qc_passed").cast(pl.Int32).sum().alias("ecg_leads_passed"),
    )
    passed = leads.filter(pl.col("qc_passed") == 1)
    aggregations = []
    global_aggregations = []
    for name, (measure, how, _) in SUMMARIES.items():
        if how == "global":  # the patient's all-lead measurement, repeated on each of its rows
            if f"global_{measure}" in leads.columns:
                global_aggregations.append(pl.col(f"global_{measure}").cast(pl.Float64).drop_nulls().first().alias(name))
            else:
                global_aggregations.append(pl.lit(None, dtype=pl.Float64).alias(name))
            continue
        col = pl.col(measure).cast(pl.Float64)
        aggregations.append(getattr(col, how)().alias(name))
    lead_names = [n for n, (_, how, _) in SUMMARIES.items() if how != "global"]
    global_names = [n for n, (_, how, _) in SUMMARIES.items() if how == "global"]
    summaries = passed.group_by("file_number").agg(aggregations) if passed.height else pl.DataFrame(schema={"file_number": pl.Int64, **{n: pl.Float64 for n in lead_names}})
    globals_ = leads.group_by("file_number").agg(global_aggregations) if leads.height else pl.DataFrame(schema={"file_number": pl.Int64, **{n: pl.Float64 for n in global_names}})
    wide = patients.join(counts, on="file_number", how="left").join(summaries, on="file_number", how="left").join(globals_, on="file_number", how="left")
    wide = wide.with_columns(pl.col("ecg_leads_available").fill_null(0), pl.col("ecg_leads_passed").fill_null(0))
    per_lead = []
    for lead in LEADS:
        block = leads.filter(pl.col("lead") == lead).select(
            "file_number", *[pl.col(m.name).cast(m.dtype).alias(lead_column(lead, m.name)) for m in LEAD_MEASURES]
        )
        per_lead.append(block)
    for block in per_lead:
        wide = wide.join(block, on="file_number", how="left")
    return wide.select("file_number", *[pl.col(name).cast(dtype) for name, dtype in patient_ecg_columns()])
