"""Quality metrics and the pass/fail verdict for one processed lead image.

Each metric is declared once, in `QC_METRICS` (name, description, threshold, the reason it gives):
the image index's columns, their descriptions in the UI and `verdict` all read it. The process also
records ``px_per_mm_x``, ``px_per_mm_y``, ``thickness_px``, ``duration_s``, ``grid_strength`` and
``gain_mm_mv`` (not judged). An upside-down or mirrored scan is told by ``time_reversal`` on a lead
(strong cases) and, for all of a patient's leads together, by `backwards_patient_reason` (applied by
the image stage to each patient's freshly processed leads).

`verdict` returns the reasons a lead fails (empty = pass). The at-least-four-beats rule is the
published dataset's own cropping standard.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage, signal as sps

from cardioml_pipeline.ecg_images.digitize import Trace, signal_agreement  # noqa: F401  (re-exported)
from cardioml_pipeline.ecg_images.preprocess import connected_labels, percentile

MIN_COVERAGE = 0.90
MIN_SPAN = 0.50
MAX_GRID_RESIDUE = 0.04
MAX_OFF_TRACE_INK = 0.06
MAX_NOISE_MV = 0.05
MAX_IMAGE_NOISE = 0.25
MIN_BEATS = 4
MAX_CLIPPING = 0.01
HR_RANGE = (20.0, 300.0)
MIN_QRS_SLOPE_MV_S = 3.0  # smoothed |dV/dt| a QRS of a full-size lead must reach (P and T waves stay below) ...
FULL_SIZE_MV = 0.6  # ... scaled down in proportion for a smaller lead (peak to peak below this), so the
# beats of a low-amplitude lead (III, aVL: QRS of 0.2 mV) are still counted, down to a floor that a
# flat line's noise and wander do not reach
MIN_QRS_SLOPE_FLOOR_MV_S = 1.0


@functools.lru_cache(maxsize=8)
def _qrs_band_filter(fs: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The QRS band-pass as second-order sections, its step-response initial state (`sosfilt_zi`)
    and the edge length `sosfiltfilt` pads with by default (3 x the filter's tap count)."""
    sos = sps.butter(2, [5.0, 30.0], btype="bandpass", fs=fs, output="sos")
    taps = 2 * sos.shape[0] + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return sos, sps.sosfilt_zi(sos), 3 * taps


def _zero_phase_band_pass(x: np.ndarray, fs: int) -> np.ndarray:
    """`scipy.signal.sosfiltfilt(sos, x)` with its defaults (odd extension, 3 x taps), bit for bit,
    with the filter's initial state computed once per rate instead of once per call (it solves a
    linear system: half the cost of the call on a 10 s lead). ValueError when x is too short."""
    sos, zi, edge = _qrs_band_filter(fs)
    if x.size <= edge:
        raise ValueError(f"signal of {x.size} samples is too short for the filter's {edge}-sample edge")
    extended = np.concatenate((2 * x[0] - x[edge:0:-1], x, 2 * x[-1] - x[-2 : -(edge + 2) : -1]))
    forward, _ = sps.sosfilt(sos, extended, zi=zi * extended[0])
    backward, _ = sps.sosfilt(sos, forward[::-1], zi=zi * forward[-1])
    return backward[::-1][edge:-edge]


CLOSE_BEATS_S = 0.36  # two QRS candidates this close (above 167 bpm) ...
MINOR_DEFLECTION = 0.5  # ... where one deflects less than half as far as the other: the lesser is a T wave or a notch


def _drop_close_minor_peaks(peaks: np.ndarray, size: np.ndarray, fs: int) -> np.ndarray:
    """In the spirit of Pan-Tompkins' T-wave rule, both ways: of two beats closer than
    `CLOSE_BEATS_S`, one whose deflection (`size`: |signal - median| at the beat) is below
    `MINOR_DEFLECTION` of the other's is not a beat of its own."""
    if peaks.size < 2:
        return peaks
    keep = list(peaks[:1])
    for p in peaks[1:]:
        q = keep[-1]
        if p - q < CLOSE_BEATS_S * fs:
            if size[p] < MINOR_DEFLECTION * size[q]:
                continue
            if size[q] < MINOR_DEFLECTION * size[p]:
                keep[-1] = p
                continue
        keep.append(p)
    return np.asarray(keep, dtype=peaks.dtype)


def detect_beats(sig: np.ndarray, fs: int) -> np.ndarray:
    """Sample indices of QRS complexes (either polarity).

    Band-pass 5-30 Hz, absolute derivative, 80 ms moving average; peaks at least 240 ms apart (up to
    250 bpm) above both 30 % of the 99th percentile of that envelope and an absolute slope floor, so
    P and T waves, a flat line or fibrillatory waves are not counted as beats; of two candidates
    closer than 360 ms the one deflecting less than half as far is dropped (`_drop_close_minor_peaks`)."""
    x = np.asarray(sig, dtype=np.float64)
    if x.size < int(0.6 * fs) or not np.all(np.isfinite(x)):
        return np.zeros(0, int)
    try:
        bp = _zero_phase_band_pass(x - np.median(x), fs)
    except ValueError:
        return np.zeros(0, int)
    env = np.abs(np.gradient(bp)) * fs  # mV/s
    win = max(1, int(0.08 * fs))
    env = np.convolve(env, np.ones(win) / win, mode="same")
    size = float(percentile(x, 99.5) - percentile(x, 0.5))
    floor = max(MIN_QRS_SLOPE_FLOOR_MV_S, MIN_QRS_SLOPE_MV_S * min(1.0, size / FULL_SIZE_MV))
    thr = max(0.3 * float(percentile(env, 99)), floor)
    peaks, _ = sps.find_peaks(env, height=thr, distance=max(1, int(0.24 * fs)))
    # locate each beat on the largest deflection within +/- 60 ms (windows over a padded copy: the
    # padding never wins, so each is the argmax over the part of the window inside the signal)
    if peaks.size == 0:
        return np.zeros(0, int)
    half = int(0.06 * fs)
    deviation = np.abs(x - np.median(x))
    padded = np.concatenate((np.full(half, -np.inf), deviation, np.full(half, -np.inf)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)[peaks]
    beats = np.unique((peaks - half + np.argmax(windows, axis=1)).astype(int))
    return _drop_close_minor_peaks(beats, deviation, fs)


MAX_REVERSAL = 4.0  # a lead whose median beat has this much more wave before the QRS than after runs backwards
# (0.4 % of upright leads, ecg-image-kit and demo, reach it; 56-62 % of turned or mirrored ones)
MAX_PATIENT_REVERSAL = 1.5  # the median over a patient's leads above which all of them run backwards
MIN_LEADS_FOR_VOTE = 6  # leads with a time_reversal needed for that vote
REVERSAL_WINDOW_S = (0.12, 0.45)  # the part of the cycle compared, on either side of the QRS


def time_reversal(sig: np.ndarray, beats: np.ndarray, fs: int) -> float:
    """How backwards the trace runs: on the median beat (the beats aligned on their QRS), the area
    between the beat and its baseline over the part of the cycle before the QRS (from 120 ms to 450
    ms or half the median RR before it) over the same area after it. In an ECG the T wave, larger and
    longer than the P wave, follows the QRS: the ratio is below 1. A scan turned upside down (180
    degrees) or mirrored runs backwards and puts the T waves before the QRS: above 1. Areas, not
    peaks: a broad T wave outweighs a P wave even where the T is low (on LUDB signals and their
    reversal, leads above 2: 1.7 % upright, 77 % reversed; by the peaks: 3.5 % and 62 %). NaN with
    fewer than 4 beats."""
    if beats.size < 4:
        return float("nan")
    x = np.asarray(sig, np.float64)
    rr = int(np.median(np.diff(beats)))
    half = min(rr // 2, int(REVERSAL_WINDOW_S[1] * fs))
    guard = int(REVERSAL_WINDOW_S[0] * fs)
    if half <= guard + int(0.04 * fs):
        return float("nan")
    inner = [int(b) for b in beats if b - half >= 0 and b + half < x.size]
    if len(inner) < 3:
        return float("nan")
    median_beat = np.median(np.stack([x[b - half : b + half] for b in inner]), axis=0)
    baseline = float(np.median(median_beat))
    before = np.abs(median_beat[: half - guard] - baseline).sum() / fs
    after = np.abs(median_beat[half + guard :] - baseline).sum() / fs
    return float((before + 1e-4) / (after + 1e-4))


def backwards_patient_reason(values: list[float | None]) -> str | None:
    """The QC reason for every lead of a patient whose leads, taken together, run backwards: the
    median `time_reversal` over at least `MIN_LEADS_FOR_VOTE` leads above `MAX_PATIENT_REVERSAL`. The
    leads of one patient come from one scanned page, so one orientation: together they tell an
    upside-down or mirrored scan where a lead with a flat T wave alone cannot (ecg-image-kit
    patients turned 180 degrees or mirrored: 95 % caught; upright: none)."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if len(finite) < MIN_LEADS_FOR_VOTE:
        return None
    median = float(np.median(finite))
    if median <= MAX_PATIENT_REVERSAL:
        return None
    return f"the patient's leads run backwards (median time_reversal {median:.1f} > {MAX_PATIENT_REVERSAL}): an upside-down or mirrored scan?"


MIN_LEADS_FOR_CONSENSUS = 4  # grid-calibrated leads of a patient needed before their pitches (skews) are compared
PITCH_AGREEMENT = 0.02  # leads within 2 % of the patient's median pitch agree with it ...
PITCH_OUTLIER = 0.05  # ... and a lead more than 5 % off is measured again near the agreed pitch
SKEW_AGREEMENT_DEG = 0.15  # leads within this of the patient's median skew agree with it ...
SKEW_OUTLIER_DEG = 0.3  # ... and a lead further off is read again at the agreed angle


def _majority_median(values: list[float], agrees) -> float | None:
    """The median of the values that agree with the median of all (`agrees(values, median)`, a bool
    per value), or None unless at least `MIN_LEADS_FOR_CONSENSUS` values are given and at least half
    of them (and `MIN_LEADS_FOR_CONSENSUS`) agree."""
    if len(values) < MIN_LEADS_FOR_CONSENSUS:
        return None
    finite = np.array(values, np.float64)
    agreeing = finite[agrees(finite, float(np.median(finite)))]
    if agreeing.size < max(MIN_LEADS_FOR_CONSENSUS, math.ceil(0.5 * finite.size)):
        return None
    return float(np.median(agreeing))


def pitch_consensus(values: list[float | None]) -> float | None:
    """The grid pitch (px/mm) a patient's leads agree on, or None when they do not: at least
    `MIN_LEADS_FOR_CONSENSUS` leads, and at least half of them (and `MIN_LEADS_FOR_CONSENSUS`) within
    `PITCH_AGREEMENT` of the median. The leads of a scanned page are cut from one scan, so one pitch;
    a lead whose grid was misread (heavy-noise strips read at 1.4-1.7 times the pitch, ecg-image-kit
    page 1035) stands out. Leads scanned at different resolutions (the demo draws each lead at its
    own) show no majority, and nothing is compared."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v) and v > 0]
    return _majority_median(finite, lambda pitches, median: np.abs(pitches / median - 1.0) <= PITCH_AGREEMENT)


def is_pitch_outlier(value: float | None, consensus: float | None) -> bool:
    """Whether a lead's pitch is more than `PITCH_OUTLIER` away from the patient's agreed pitch."""
    if consensus is None or value is None or not math.isfinite(value):
        return False
    return abs(value / consensus - 1.0) > PITCH_OUTLIER


def skew_consensus(values: list[float | None]) -> float | None:
    """The skew (degrees) a patient's grid-calibrated leads agree on, or None when they do not: at
    least `MIN_LEADS_FOR_CONSENSUS` leads, and at least half of them (and `MIN_LEADS_FOR_CONSENSUS`)
    within `SKEW_AGREEMENT_DEG` of the median. Leads cut from one scanned page share its rotation; a
    short strip whose lines measured a wrong angle (heavy noise, a 100 dpi blue grid: ecg-image-kit
    patients 1004, 1028, 1035) stands out. Leads scanned one by one (the demo turns each its own
    way) show no majority, and nothing is compared."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    return _majority_median(finite, lambda skews, median: np.abs(skews - median) <= SKEW_AGREEMENT_DEG)


def is_skew_outlier(value: float | None, consensus: float | None) -> bool:
    """Whether a lead's skew is more than `SKEW_OUTLIER_DEG` away from the patient's agreed skew."""
    if consensus is None or value is None or not math.isfinite(value):
        return False
    return abs(value - consensus) > SKEW_OUTLIER_DEG


def pitch_outlier_reason(value: float, consensus: float) -> str:
    """The QC reason for a lead whose grid pitch still disagrees with the patient's other leads."""
    return (
        f"grid pitch {value:.2f} px/mm disagrees with the {consensus:.2f} px/mm the patient's other leads agree on "
        "(time and amplitude scale uncertain)"
    )


def heart_rate(beats: np.ndarray, fs: int) -> float:
    if beats.size < 2:
        return float("nan")
    rr = np.diff(beats) / fs
    return float(60.0 / np.median(rr))


def signal_noise(sig: np.ndarray) -> float:
    """Jitter of the trace (mV): 90th percentile of |signal - 19-sample running median| / 1.645 (the
    sigma of Gaussian jitter; a percentile, not the MAD, because a clean digitized trace is piecewise
    constant and its MAD is 0 whatever happens at the QRS)."""
    if sig.size < 25:
        return float("nan")
    resid = sig - ndimage.median_filter(sig, size=19, mode="nearest")
    return float(percentile(np.abs(resid), 90) / 1.645)


# Ink is judged within this distance of the trace (1 mV at the standard gain, the calibration
# pulse's height): what lies farther (a neighbouring lead's trace, a QR code, a printed header on a
# crowded page) cannot be mistaken for this trace's ink by the reading, which follows one path.
# On the 480 ecg-image-kit strips (image stage with the patient pitch check), QC precision / recall
# for a reach of 6 / 8 / 10 / 12 mm / the whole crop: 0.943 / 0.949 / 0.951 / 0.950 / 0.950 and
# 0.944 / 0.919 / 0.901 / 0.894 / 0.894.
OFF_TRACE_REACH_MM = 10.0


def off_trace_fractions(
    ink: np.ndarray,
    trace: Trace,
    grid_phase: tuple[float, float] | None,
    px_per_mm: tuple[float, float] | None,
    reach_px: float | None = None,
) -> tuple[float, float]:
    """(grid_residue, off_trace_ink) as `QC_METRICS` describes them, over the ink within `reach_px`
    rows of the trace's run in each of its columns (all the ink when None), less the ink that enters
    across the image's top or bottom edge and stays clear of the trace (`without_intruding_ink`).

    Computed on whole arrays (a band mask around the trace, lattice rows and columns as index sets)
    rather than on per-pixel coordinate lists: the same counts, a fraction of the time."""
    ink = np.asarray(ink, dtype=np.uint8)
    h, w = ink.shape
    if trace.x1 >= trace.x0 and trace.y.size:
        ink = without_intruding_ink(ink, trace)
        if reach_px is not None:
            ink = _within_reach(ink, trace, reach_px)
    total = int(cv2.countNonZero(ink))
    if total == 0:
        return 0.0, 0.0
    tol = 3.0 * trace.thickness + 1.0
    off = ink.copy()
    if trace.x1 >= trace.x0 and trace.y.size:
        # whole rows within [lo, hi]: ceil(lo) .. floor(hi); int32 compares, and the band is cleared
        # by a multiply instead of a boolean-mask assignment (the same pixels, a third of the time)
        x0, x1, lo, hi = _rows_around_trace(trace, w, tol)
        rows = np.arange(h, dtype=np.int32)[:, None]
        outside = (rows < lo[None, :]) | (rows > hi[None, :])
        span = off[:, x0 : x1 + 1]
        np.multiply(span, outside.view(np.uint8), out=span)
    n_off = int(cv2.countNonZero(off))
    off_frac = n_off / total
    if grid_phase is None or px_per_mm is None or n_off == 0:
        return 0.0, off_frac
    (phx, phy), (ppx, ppy) = grid_phase, px_per_mm

    def on_lattice(n: int, phase: float, pitch: float) -> np.ndarray:
        pos = np.arange(n, dtype=np.float64)
        d = np.mod(pos - phase + pitch / 2.0, pitch) - pitch / 2.0
        return np.abs(d) <= max(1.0, 0.15 * pitch)

    lat_cols = on_lattice(w, phx, ppx)
    lat_rows = on_lattice(h, phy, ppy)
    off_rows = cv2.reduce(off, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    off_cols = cv2.reduce(off, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    both = int(off[np.ix_(lat_rows, lat_cols)].sum()) if lat_rows.any() and lat_cols.any() else 0
    on = int(off_rows[lat_rows].sum()) + int(off_cols[lat_cols].sum()) - both
    return on / total, off_frac


def without_intruding_ink(ink: np.ndarray, trace: Trace) -> np.ndarray:
    """`ink` without the pieces that enter the image across its top or bottom edge and never come
    near the trace (within 3 pen widths of its run): on a crowded page a lead's crop cuts through the
    neighbouring leads' QRS tips, calibration pulses and names. They are another lead's ink, not
    noise on this trace nor grid left over. A piece the reading went through is near the trace and
    stays judged (a neighbour the trace strayed onto)."""
    if not (ink[0].any() or ink[-1].any()):
        return ink
    n, labels = connected_labels((ink != 0).view(np.uint8))
    edge = np.zeros(n, bool)
    edge[labels[0]] = True
    edge[labels[-1]] = True
    edge[0] = False
    if not edge.any():
        return ink
    h, w = ink.shape
    x0, x1, lo, hi = _rows_around_trace(trace, w, 3.0 * trace.thickness + 1.0)
    rows = np.arange(h, dtype=np.int32)[:, None]
    band = (rows >= lo[None, :]) & (rows <= hi[None, :])
    near = np.zeros(n, bool)
    near[labels[:, x0 : x1 + 1][band]] = True
    intruding = edge & ~near
    if not intruding.any():
        return ink
    return np.where(intruding[labels], np.uint8(0), ink.astype(np.uint8, copy=False))


def _within_reach(ink: np.ndarray, trace: Trace, reach_px: float) -> np.ndarray:
    """The ink within `reach_px` rows of the trace's run (or its interpolated position) in each of
    the trace's columns; none outside them."""
    h, w = ink.shape
    x0, x1, lo, hi = _rows_around_trace(trace, w, reach_px)
    rows = np.arange(h, dtype=np.int32)[:, None]
    near = np.zeros_like(ink)
    near[:, x0 : x1 + 1] = ((rows >= lo[None, :]) & (rows <= hi[None, :])).view(np.uint8)
    return cv2.multiply(ink, near)


def _rows_around_trace(trace: Trace, w: int, margin: float) -> tuple[int, int, np.ndarray, np.ndarray]:
    """The trace's columns within the image (x0, x1) and, per column, the first and last whole row
    within `margin` rows of the trace's run (or of its interpolated position where it has none)."""
    x0, x1 = max(trace.x0, 0), min(trace.x1, w - 1)
    c = np.arange(x0, x1 + 1) - trace.x0
    lo = np.ceil(np.where(trace.found[c], trace.top[c], trace.y[c]) - margin).astype(np.int32)
    hi = np.floor(np.where(trace.found[c], trace.bottom[c], trace.y[c]) + margin).astype(np.int32)
    return x0, x1, lo, hi


@dataclass(frozen=True)
class QcMetric:
    """One QC metric, declared once: the index column, its description (UI, Parquet), and its part in
    the verdict. A metric fails the lead when its value is below `minimum` or above `maximum` (NaN or
    missing: never, unless `missing_fails`); `reason` is formatted with `value` and the bound it
    broke (`limit`). Metrics whose rule is more than a bound (`heart_rate_bpm`, the calibration
    pulse) give a `judge(metrics) -> reason or None` instead. `indexed`: a column of the image index.
    Adding a metric = one entry in `QC_METRICS` (and computing it in `pipeline.process_lead_image`)."""

    name: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    reason: str = ""
    missing_fails: bool = False
    missing_value: float = float("nan")
    judge: Callable[[dict[str, float]], str | None] | None = None
    indexed: bool = True

    def failure(self, metrics: dict[str, float]) -> str | None:
        """Why this metric fails the lead, or None."""
        if self.judge is not None:
            return self.judge(metrics)
        value = metrics.get(self.name)
        if _missing(value):
            if not self.missing_fails:
                return None
            value = self.missing_value
        if self.minimum is not None and value < self.minimum:
            return self.reason.format(value=value, limit=self.minimum)
        if self.maximum is not None and value > self.maximum:
            return self.reason.format(value=value, limit=self.maximum)
        return None


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def required_beats(duration_s: float | None) -> int:
    """Beats a lead must show: `MIN_BEATS` (the dataset's cropping standard) on a signal of 4 s or
    more; on a shorter one (a page's 2.5 s segment) one per whole second, at least one."""
    if duration_s is None or not math.isfinite(duration_s) or duration_s >= MIN_BEATS:
        return MIN_BEATS
    return max(1, int(duration_s))


def _judge_beats(m: dict[str, float]) -> str | None:
    beats = m.get("beats_found")
    beats = 0.0 if _missing(beats) else float(beats)
    need = required_beats(m.get("duration_s"))
    return f"{beats:.0f} beats found (< {need})" if beats < need else None


def _judge_heart_rate(m: dict[str, float]) -> str | None:
    hr = m.get("heart_rate_bpm")
    if _missing(hr) or HR_RANGE[0] <= hr <= HR_RANGE[1]:
        return None
    return f"heart rate {hr:.0f} bpm outside {HR_RANGE[0]:.0f}-{HR_RANGE[1]:.0f}"


def _judge_pulse(m: dict[str, float]) -> str | None:
    pulse, ppy, gain = m.get("calibration_pulse_height_px"), m.get("px_per_mm_y"), m.get("gain_mm_mv")
    if _missing(pulse) or _missing(ppy) or _missing(gain) or m.get("calibration_source") == "pulse":
        return None
    if abs(pulse / ppy / gain - 1.0) <= MAX_PULSE_SCALE_ERROR:
        return None
    return f"calibration pulse is {pulse / ppy:.1f} mm high, not 1 mV at {gain:.0f} mm/mV (amplitude scale uncertain)"


MAX_PULSE_SCALE_ERROR = 0.15  # a printed 1 mV pulse more than 15 % off the grid's scale at the standard gain

QC_METRICS: tuple[QcMetric, ...] = (
    QcMetric(
        "trace_coverage",
        "Fraction of the trace's columns where trace ink was found (the rest is interpolated); low = broken or faint trace.",
        minimum=MIN_COVERAGE,
        reason="trace coverage {value:.2f} < {limit:.2f} (broken or faint trace)",
        missing_fails=True,
        missing_value=0.0,
    ),
    QcMetric(
        "grid_residue",
        "Ink left on the detected grid lattice after grid removal, away from the trace, as a fraction of the ink within the trace's columns and within 10 mm (1 mV) of the trace (0 without a grid). Ink that enters the image across its top or bottom edge and never comes near the trace (a neighbouring lead the crop cut through) is not judged.",
        maximum=MAX_GRID_RESIDUE,
        reason="grid residue {value:.2f} > {limit:.2f}",
    ),
    QcMetric(
        "noise",
        "Jitter of the digitized trace in mV: 90th percentile of |signal - its 19-sample running median| / 1.645.",
        maximum=MAX_NOISE_MV,
        reason="noisy trace ({value:.3f} mV > {limit} mV)",
    ),
    QcMetric(
        "beats_found",
        "QRS complexes found on the digitized signal; the dataset's cropping standard asks for at least four "
        "(a shorter signal, such as a page's 2.5 s segment, one a second: two).",
        minimum=MIN_BEATS,
        reason="{value:.0f} beats found (< {limit})",
        missing_fails=True,
        missing_value=0.0,
        judge=_judge_beats,
    ),
    QcMetric(
        "clipping",
        "Fraction of the trace's columns whose ink touches the top or bottom border of the image.",
        maximum=MAX_CLIPPING,
        reason="trace clipped at the image border ({value:.1%} of columns)",
    ),
    QcMetric(
        "heart_rate_bpm",
        f"60 / median RR of the beats found (null with fewer than two beats); outside {HR_RANGE[0]:.0f}-{HR_RANGE[1]:.0f} bpm fails QC.",
        judge=_judge_heart_rate,
    ),
    QcMetric("skew_deg", "Rotation found from the grid and undone, in degrees (0 without a grid)."),
    QcMetric(
        "calibration_pulse_height_px",
        "Height of the printed calibration pulse (1 mV step) in pixels, pen width removed; null when none was found or the crop cut its top off. With a grid, a pulse more than 15 % off 1 mV at the standard gain fails QC.",
        judge=_judge_pulse,
    ),
    QcMetric(
        "calibration_pulse_width_px",
        "Width of the printed calibration pulse (0.2 s) in pixels, between its two strokes; null when none was found.",
    ),
    QcMetric(
        "time_reversal",
        f"Median beat's wave area before the QRS over the area after it (T waves follow the QRS: below 1). Above {MAX_REVERSAL:.0f} the lead fails QC as running backwards (an upside-down or mirrored scan); all of a patient's leads fail when their median is above {MAX_PATIENT_REVERSAL}.",
        maximum=MAX_REVERSAL,
        reason="trace runs backwards (time_reversal {value:.1f} > {limit:.0f}: waves before the QRS outweigh those after): an upside-down or mirrored scan?",
    ),
    QcMetric(
        "trace_span",
        "The trace's horizontal span as a fraction of the image width.",
        minimum=MIN_SPAN,
        reason="trace spans only {value:.0%} of the image width",
        missing_fails=True,
        missing_value=0.0,
    ),
    QcMetric(
        "off_trace_ink",
        "Ink farther than 3 trace widths from the trace, as a fraction of the ink within the trace's columns and within 10 mm (1 mV) of the trace (labels, specks, leftover grid, noise, a neighbouring trace's excursions); ink farther away cannot be taken for the trace and is not judged, nor is ink that enters the image across its top or bottom edge and never comes near the trace (a neighbouring lead the crop cut through).",
        maximum=MAX_OFF_TRACE_INK,
        reason="{value:.0%} of the ink is off the trace (noise, text or leftover grid)",
    ),
    QcMetric(
        "image_noise",
        "Standard deviation of the paper's darkness over the ink's median darkness: how close the paper's noise comes to the trace's contrast.",
        maximum=MAX_IMAGE_NOISE,
        reason="heavy image noise (paper noise {value:.2f} of the trace contrast > {limit})",
    ),
)
"""Every QC metric, in index column order (see `QcMetric`)."""

QC_METRIC_BY_NAME = {metric.name: metric for metric in QC_METRICS}

# the order reasons are reported in (the verdict's order before the registry existed)
_VERDICT_ORDER = (
    "trace_coverage", "trace_span", "grid_residue", "off_trace_ink", "noise", "image_noise", "beats_found",
    "heart_rate_bpm", "calibration_pulse_height_px", "clipping", "time_reversal",
)


def verdict(m: dict[str, float]) -> list[str]:
    """Reasons the lead fails QC (empty list = passed): each metric of `QC_METRICS` judges itself."""
    ordered = [QC_METRIC_BY_NAME[name] for name in _VERDICT_ORDER]
    ordered += [metric for metric in QC_METRICS if metric.name not in _VERDICT_ORDER]
    return [reason for metric in ordered if (reason := metric.failure(m)) is not None]
