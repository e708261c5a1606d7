"""ECG features from digitized lead signals: per lead, then summarized across the leads that pass QC.

Input: one row per (file_number, lead) in the `staging.ecg_signals` contract (`signal_mv` in mV at
`sampling_rate_hz`, the digitizer's `qc_passed` / `qc_reasons`). Output: one row per (file_number,
lead) with the measurements below (`lead_features`), and a wide per-patient frame with one column per
(lead, measure) plus cross-lead summaries (`patient_ecg_features`).

Method (per lead, every step documented in `LEAD_MEASURES`):
1. neurokit2 `ecg_clean` (0.5 Hz high-pass, powerline filter) and `ecg_peaks` (R peaks, neurokit
   method). Each peak is re-centred on the dominant QRS deflection within +-60 ms, so negative leads
   (aVR, V1) are handled like positive ones.
2. RR intervals -> heart rate (60000 / mean RR), RR mean and SDNN.
3. Intervals and amplitudes are measured on the median beat (the beats aligned on their R peaks,
   sample-wise median), as 12-lead interpretation programs do: the median beat averages out noise
   and single ectopic beats. On the median beat:
   - QRS onset/offset: walking out of the span where the absolute slope (8 ms moving average)
     exceeds 20 % of its QRS maximum, the first sample where it falls below 8 %, or reaches a local
     minimum below 20 % (the J point of a wide complex runs straight into a steep ST-T limb);
   - baseline (isoelectric level): mean of the flattest 20 ms of the 100 ms before the QRS onset;
   - P wave: the last prominent deflection (>= 0.04 mV) 30-400 ms before the QRS onset; T wave: the
     largest deflection from J+40 ms to 70 % of the RR interval after the R peak. P onset and T
     offset by the tangent method: the tangent at the steepest point of the wave's outer limb,
     intersected with the baseline;
   - R amplitude: highest point of the QRS above baseline (>= 0); S amplitude: lowest point after
     the first positive deflection, below baseline (<= 0; a QS complex has only S); ST deviation:
     level at J+60 ms (QRS offset + 60 ms) minus baseline;
   - measurements outside plausible ranges (PR 60-400, QRS 40-250, QT 200-700 ms) are left null.
4. Signal quality: the median over beats of the Pearson correlation of each beat with the median beat
   (1 = identical beats; the median keeps a few ectopic beats from failing a clean lead). This is
   the beat-to-template idea of neurokit2's `ecg_quality(method="averageQRS")`, made absolute (that
   method rescales each recording to 0-1) and cheap; neurokit2's Zhao-2018 class is not used: it
   took 70 % of the per-lead time and grades clean synthetic strips "Barely acceptable".
5. QC verdict: the digitizer's verdict AND at least 3 beats AND quality >= 0.5 AND heart rate in
   20-250 bpm. Failed leads keep their measurements (null where they could not be made) and the
   reasons, and are left out of the cross-lead summaries.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from cardioml_pipeline.ecg_images.index import SIGNAL_SCHEMA

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
ECG_PROCESSING_VERSION = "ecg-features-1"

MIN_BEATS = 3
MIN_QUALITY = 0.5
HEART_RATE_RANGE = (20.0, 250.0)
MIN_SECONDS = 1.5
MAX_MISSING_FRACTION = 0.05
# plausible ranges; a measurement outside is reported as null (not a QC failure)
INTERVAL_RANGES_MS = {"pr_ms": (60.0, 400.0), "qrs_ms": (40.0, 250.0), "qt_ms": (200.0, 700.0)}

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


LEAD_MEASURES: tuple[Measure, ...] = (
    Measure("n_beats", pl.Int32, "beats", "R peaks detected in the lead.", "count of neurokit2 ecg_peaks R peaks"),
    Measure("heart_rate_bpm", pl.Float64, "beats/min", "Mean heart rate.", "60000 / rr_mean_ms"),
    Measure("rr_mean_ms", pl.Float64, "ms", "Mean RR interval.", "mean of successive R-peak differences * 1000 / sampling_rate_hz"),
    Measure("rr_sdnn_ms", pl.Float64, "ms", "SDNN: standard deviation of the RR intervals (sample SD; null with fewer than 2 intervals).", "std(RR, ddof=1)"),
    Measure("pr_ms", pl.Float64, "ms", "PR interval on the median beat (P onset to QRS onset); null when no P wave is found.", "qrs_onset - p_onset (tangent method for P onset)"),
    Measure("qrs_ms", pl.Float64, "ms", "QRS duration on the median beat.", "qrs_offset - qrs_onset (median-beat slope envelope: below 8 % of its maximum, or a local minimum below 20 %)"),
    Measure("qt_ms", pl.Float64, "ms", "QT interval on the median beat (QRS onset to T offset).", "t_offset - qrs_onset (tangent method for T offset)"),
    Measure("qtc_ms", pl.Float64, "ms", "Heart-rate corrected QT, Bazett.", "qt_ms / sqrt(rr_mean_ms / 1000)"),
    Measure("r_amplitude_mv", pl.Float64, "mV", "R amplitude on the median beat, above baseline (>= 0).", "max(beat[qrs]) - baseline"),
    Measure("s_amplitude_mv", pl.Float64, "mV", "S amplitude on the median beat, below baseline (<= 0; the whole negative deflection of a QS complex).", "min(beat[first positive deflection..qrs_offset]) - baseline"),
    Measure("st_deviation_mv", pl.Float64, "mV", "ST deviation at J+60 ms on the median beat (positive = elevation).", "beat[qrs_offset + 60 ms] - baseline"),
    Measure("signal_quality", pl.Float64, None, "Signal quality index: median Pearson correlation of the beats with the median beat (1 = identical beats).", "median_i corr(beat_i, median beat)"),
    Measure("qc_passed", pl.Int8, None, "1 when the lead passed QC (digitizer verdict, >= 3 beats, quality >= 0.5, heart rate 20-250 bpm), 0 when it failed; null when there is no signal for the lead.", "digitizer qc_passed AND n_beats >= 3 AND signal_quality >= 0.5 AND 20 <= heart_rate_bpm <= 250", ("signal_mv", "sampling_rate_hz", "qc_passed")),
)
MEASURES_BY_NAME = {m.name: m for m in LEAD_MEASURES}

# Long table (features.ecg_lead_features): identifiers, measures, QC detail.
LEAD_TABLE_SCHEMA: dict[str, pl.DataType] = {
    "file_number": pl.Int64,
    "lead": pl.String,
    "sampling_rate_hz": pl.Int32,
    "duration_s": pl.Float64,
    **{m.name: m.dtype for m in LEAD_MEASURES},
    "qc_reasons": pl.List(pl.String),
    "digitizer_qc_passed": pl.Boolean,
    "source_sha256": pl.String,
    "processing_version": pl.String,
}

# Cross-lead summaries over QC-passed leads: name -> (measure, aggregation, description)
SUMMARIES: dict[str, tuple[str, str, str]] = {
    "ecg_heart_rate_bpm": ("heart_rate_bpm", "median", "Heart rate, median over QC-passed leads."),
    "ecg_rr_mean_ms": ("rr_mean_ms", "median", "RR mean, median over QC-passed leads."),
    "ecg_rr_sdnn_ms": ("rr_sdnn_ms", "median", "SDNN, median over QC-passed leads."),
    "ecg_pr_ms": ("pr_ms", "median", "PR interval, median over QC-passed leads."),
    "ecg_qrs_ms": ("qrs_ms", "median", "QRS duration, median over QC-passed leads."),
    "ecg_qrs_max_ms": ("qrs_ms", "max", "QRS duration, longest over QC-passed leads (global QRS spans every lead)."),
    "ecg_qt_ms": ("qt_ms", "median", "QT interval, median over QC-passed leads."),
    "ecg_qtc_ms": ("qtc_ms", "median", "QTc (Bazett), median over QC-passed leads."),
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


def _interpolate_gaps(x: np.ndarray) -> np.ndarray | None:
    missing = ~np.isfinite(x)
    if not missing.any():
        return x
    if missing.mean() > MAX_MISSING_FRACTION:
        return None
    idx = np.arange(len(x))
    x = x.copy()
    x[missing] = np.interp(idx[missing], idx[~missing], x[~missing])
    return x


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x
    kernel = np.ones(width) / width
    return np.convolve(x, kernel, mode="same")


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


def _tangent_crossing(y: np.ndarray, start: int, stop: int, rising: bool) -> float | None:
    """Where the tangent at the steepest point of y[start:stop] meets zero (the baseline).

    rising=True looks for the steepest rise of |y| (an onset, searching before the wave's peak);
    rising=False for the steepest fall of |y| (an offset, after the peak)."""
    if stop - start < 3:
        return None
    segment = y[start:stop]
    slope = np.gradient(segment)
    sign = 1.0 if segment[np.argmax(np.abs(segment))] >= 0 else -1.0
    steep = sign * slope if rising else -sign * slope
    k = int(np.argmax(steep))
    if steep[k] <= 0:
        return None
    crossing = start + k - segment[k] / slope[k]
    return float(crossing)


def _slope_settles(slope: np.ndarray, start: int, step: int, peak_slope: float, window: int) -> int | None:
    """Walking from `start` (inside the QRS) in direction `step`, the first sample where the slope
    envelope falls below 8 % of its QRS maximum, or reaches a local minimum below 20 % of it (the
    steep ST-T limb of a wide complex follows the J point without a flat segment)."""
    i = start
    while 0 <= i < len(slope):
        if slope[i] < 0.08 * peak_slope:
            return i
        if slope[i] < 0.20 * peak_slope:
            ahead = slope[i : i + step * window : step] if step > 0 else slope[max(0, i - window) : i + 1][::-1]
            if ahead.size and slope[i] <= ahead.min():
                return i
        i += step
    return None


def _median_beat_measures(clean: np.ndarray, peaks: np.ndarray, fs: int, rr_s: float) -> dict[str, object]:
    pre = int(min(0.45, 0.45 * rr_s) * fs)
    post = int(min(0.65, 0.70 * rr_s) * fs)  # ends before the next P wave
    beats = np.array([clean[p - pre : p + post] for p in peaks if p - pre >= 0 and p + post <= len(clean)])
    out: dict[str, object] = {}
    if len(beats) < 2:
        return out
    template = np.median(beats, axis=0)
    centred = beats - beats.mean(axis=1, keepdims=True)
    t_centred = template - template.mean()
    denominator = np.linalg.norm(centred, axis=1) * np.linalg.norm(t_centred)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlations = (centred @ t_centred) / denominator
    out["signal_quality"] = float(np.nanmedian(correlations)) if np.isfinite(correlations).any() else 0.0
    z = pre
    ms = fs / 1000.0

    # QRS onset / offset from the slope envelope (baseline-free)
    slope = _moving_average(np.abs(np.gradient(template)) * fs, max(1, int(8 * ms)))
    lo, hi = max(0, z - int(150 * ms)), min(len(template), z + int(200 * ms))
    core = slope[max(0, z - int(60 * ms)) : min(len(template), z + int(60 * ms))]
    peak_slope = float(core.max()) if core.size else 0.0
    if peak_slope <= 0:
        return out
    strong = np.flatnonzero(slope[lo:hi] >= 0.20 * peak_slope) + lo
    first_strong, last_strong = int(strong[0]), int(strong[-1])
    onset = _slope_settles(slope, first_strong, -1, peak_slope, int(10 * ms))
    offset = _slope_settles(slope, last_strong, +1, peak_slope, int(10 * ms))
    if onset is None or offset is None:
        return out

    # baseline (isoelectric level): the flattest 20 ms of the PR segment (100 ms before the QRS)
    width = max(2, int(20 * ms))
    pr_lo = max(0, onset - int(100 * ms))
    if onset - pr_lo < width:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(template[pr_lo:onset], width)
    flattest = int(np.argmin(windows.max(axis=1) - windows.min(axis=1)))
    baseline = float(windows[flattest].mean())
    noise = float(np.std(windows[flattest]))
    y = template - baseline

    qrs = y[onset : offset + 1]
    out["qrs_ms"] = (offset - onset) / ms
    out["r_amplitude_mv"] = max(0.0, float(qrs.max()))
    # S: the negative deflection after the first positive (R) deflection; a QS complex has no R
    positive = np.flatnonzero(qrs >= 0.05)
    s_from = int(positive[0]) if positive.size else 0
    out["s_amplitude_mv"] = min(0.0, float(qrs[s_from:].min()))
    j60 = offset + int(60 * ms)
    if j60 + int(4 * ms) < len(y):
        out["st_deviation_mv"] = float(y[j60 - int(4 * ms) : j60 + int(4 * ms) + 1].mean())

    # T wave: largest deflection between J+40 ms and the end of the beat window
    t_lo = offset + int(40 * ms)
    if t_lo < len(y) - int(40 * ms):
        t_region = y[t_lo:]
        t_peak = t_lo + int(np.argmax(np.abs(t_region)))
        if abs(y[t_peak]) >= 0.05 and t_peak < len(y) - 2:
            t_off = _tangent_crossing(y, t_peak, len(y), rising=False)
            if t_off is not None and t_peak < t_off <= len(y) + int(40 * ms):
                out["qt_ms"] = (t_off - onset) / ms

    # P wave: the last prominent deflection 30-400 ms before the QRS onset (the previous T wave,
    # when it reaches into the window, comes earlier)
    p_lo, p_hi = max(0, onset - int(400 * ms)), onset - int(30 * ms)
    if p_hi - p_lo > int(20 * ms):
        from scipy.signal import find_peaks

        magnitude = np.abs(y[p_lo:p_hi])
        candidates, props = find_peaks(magnitude, prominence=max(0.03, 3 * noise), height=max(0.04, 4 * noise))
        if candidates.size:
            p_peak = p_lo + int(candidates[-1])
            p_start = p_lo + int(props["left_bases"][-1])
            p_on = _tangent_crossing(y, p_start, p_peak + 1, rising=True)
            if p_on is not None and p_start - int(10 * ms) <= p_on < p_peak:
                out["pr_ms"] = (onset - p_on) / ms
    return out


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
    if len(peaks) >= 2:
        rr = np.diff(peaks) / fs * 1000.0
        result["rr_mean_ms"] = float(rr.mean())
        result["heart_rate_bpm"] = 60000.0 / float(rr.mean())
        result["rr_sdnn_ms"] = float(rr.std(ddof=1)) if len(rr) >= 2 else None
        result.update(_median_beat_measures(clean, peaks, fs, float(np.median(rr)) / 1000.0))
        if result.get("qt_ms") is not None:
            result["qtc_ms"] = result["qt_ms"] / math.sqrt(result["rr_mean_ms"] / 1000.0)
    for name, (low, high) in INTERVAL_RANGES_MS.items():
        value = result.get(name)
        if value is not None and not low <= value <= high:
            result[name] = None
            if name == "qt_ms":
                result["qtc_ms"] = None
    if len(peaks) < MIN_BEATS:
        reasons.append(f"fewer than {MIN_BEATS} beats detected")
    quality = result.get("signal_quality")
    if quality is None:
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


def _lead_rows(batch: list[tuple]) -> list[dict]:
    """Features of a batch of (file_number, lead, sampling_rate_hz, signal, qc_passed, sha, version)."""
    out = []
    for file_number, lead, fs, signal, qc_passed, sha, version in batch:
        features = lead_features(signal, fs or 0, qc_passed)
        out.append(
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

    Duplicate (file_number, lead) rows keep the first; rows of unknown leads are ignored. With
    workers > 1 and many leads, batches run in spawned worker processes (safe inside Dagster)."""
    from cardioml_pipeline.parallel import bounded_map

    signals = conform_signals(signals).filter(pl.col("file_number").is_not_null() & pl.col("lead").is_in(LEADS))
    signals = signals.unique(["file_number", "lead"], keep="first", maintain_order=True).sort("file_number", "lead")
    if signals.height == 0:
        return pl.DataFrame(schema=LEAD_TABLE_SCHEMA)
    arrays = _signal_arrays(signals)
    items = [
        (row[0], row[1], row[2], arrays[i], row[3], row[4], row[5])
        for i, row in enumerate(signals.select("file_number", "lead", "sampling_rate_hz", "qc_passed", "source_sha256", "processing_version").iter_rows())
    ]
    batches = [items[i : i + BATCH_LEADS] for i in range(0, len(items), BATCH_LEADS)]
    use = workers if len(items) >= PARALLEL_MIN_LEADS else 1
    rows = [row for _, batch_rows in bounded_map(_lead_rows, batches, use) for row in batch_rows]
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
    for name, (measure, how, _) in SUMMARIES.items():
        col = pl.col(measure).cast(pl.Float64)
        aggregations.append(getattr(col, how)().alias(name))
    summaries = passed.group_by("file_number").agg(aggregations) if passed.height else pl.DataFrame(schema={"file_number": pl.Int64, **{n: pl.Float64 for n in SUMMARIES}})
    wide = patients.join(counts, on="file_number", how="left").join(summaries, on="file_number", how="left")
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
