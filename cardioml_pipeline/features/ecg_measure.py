"""Global 12-lead ECG measurements, as the interpretive programs (GE 12SL, Glasgow) take them.

`measure_ecg(signals, sampling_rate)` takes simultaneous leads (name -> mV array, one sampling rate,
1-12 leads) and returns the global intervals and axes, and per lead the amplitudes on the median
beat. Plain numpy/scipy: no Dagster, no neurokit2, so the feature assets, the `cardioml measure`
command and the LUDB benchmark (benchmarks/ecg_measurements.py) run the same code.

Method:
1. Per lead: gaps interpolated; baseline wander removed by a zero-phase 0.5 Hz high-pass. No
   low-pass and no notch: amplitudes are measured on this signal, so QRS peaks keep their height
   (a 20 ms moving average shrinks R by 14-43 %), and an IIR notch would ring for tens of ms
   after a pacemaker spike; the median beat averages hum out.
2. Beats: QRS energy from all leads together (5-25 Hz band-pass, absolute derivative, each lead
   scaled by its 99th percentile, summed, 80 ms integration window), peaks at least 250 ms apart
   and above 35 % of the typical beat's energy. Each beat is then aligned on the template by the
   shift (+-10 ms) that best correlates its QRS with the median QRS over all leads.
3. Heart rate and RR from all beats (60000 / mean RR). Dominant beats: those whose QRS (all leads)
   correlates >= 0.90 with the median QRS; other beats (PVCs, aberrant beats) are kept out of the
   median beat. The median beat of each lead is the sample-wise median of its dominant beats.
4. Boundaries, on the median beats of all leads together (one time frame):
   - QRS onset and offset from the spatial velocity (sum over leads of |d/dt| of the median beats
     low-passed at 35 Hz, pacemaker spikes bridged first; the onset never before the last spike
     that precedes the peak): walking out from its peak, the first sample below 5 % (onset) /
     8 % (offset: the QRS ends in the sloping ST-T, it starts from the flat PR segment) of its
     QRS maximum above the isoelectric floor - so the earliest onset and latest offset that the
     leads together support; the low-pass keeps the small fast wiggles at the ends of a noisy or
     fragmented QRS from adding up into a late offset. A dip shorter than 12 ms followed by a
     steep stretch (a wave's apex, a notch) does not end the QRS, and after 120 ms a local
     minimum of the unfiltered velocity below 15 % does (the J point of a wide complex runs into
     a steep ST-T limb);
   - P wave: per lead, the last prominent deflection 40-350 ms before the QRS onset (from the
     baseline in the 100 ms before the QRS; where that finds none, from the flattest 20 ms of the
     350 ms before it, since a P wave running into the QRS contains the first); P onset and
     offset where it falls to 10 % of its height above the lowest point within 80 ms; global P
     onset = 25th percentile over the leads with a P wave (earliest robust), P offset = 75th;
   - T wave: per lead, the largest deflection (>= 0.1 mV) from J+60 ms to 0.5 sqrt(RR) s after
     the QRS onset; T offset by the trapezium-area method (Vazquez-Seisdedos 2011, reference
     point 150 ms after the T peak; robust to noise and to flat T ends); global T offset = the
     median over those leads.
   These choices were made on LUDB records 1-100 (benchmarks/ecg_measurements.py); records
   101-200 are kept apart for an independent check.
5. PR = QRS onset - P onset; P duration; QRS; QT = T offset - QRS onset; QTc by Bazett
   (QT / RR^1/2) and Fridericia (QT / RR^1/3), RR in s. PR is null when there are no P waves:
   atrial fibrillation (irregular RR with no P wave repeated beat to beat, or P waves in fewer
   than half the leads), flutter (the stretch before the QRS repeats faster than 240/min; or,
   2:1 flutter, the "P wave" recurs half an RR earlier on the ST-T, where half an RR is a flutter
   cycle of 150-250 ms), no P wave found; when the P wave is retrograde (negative in II and aVF
   with PR < 120 ms: junctional rhythm); and in an atrially paced rhythm (a pacing spike - a few
   ms wide, as steep as the QRS, on many leads at once - before the P wave). Every interval
   outside its physiological range is null, with the reason in `null_reasons`.
6. Axes (frontal plane): least squares over the limb leads present (I 0, II 60, III 120,
   aVR -150, aVL -30, aVF 90 degrees; augmented leads scaled by sqrt(3)/2) of each wave's net
   area on the median beat; degrees in (-180, 180].
7. Per lead, relative to the PR segment (mean from the P offset to the QRS onset; without a P wave
   the flattest 20 ms of the 100 ms before the QRS onset): P amplitude (signed extreme), Q, R, S,
   R', S' (lobes of >= 0.03 mV between the global onset and offset: Q = negative lobe before the
   first R, S after it, R'/S' the second positive lobe and the negative lobe after it), T
   amplitude (signed extreme) and polarity, ST at the J point (global QRS offset) and at J+60 ms
   (J+40 ms above 100 bpm).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

LIMB_LEAD_ANGLES = {"I": 0.0, "II": 60.0, "III": 120.0, "aVR": -150.0, "aVL": -30.0, "aVF": 90.0}
AUGMENTED = {"aVR", "aVL", "aVF"}

# physiological ranges: outside, the interval is null with a reason (never an absurd value)
RANGES = {
    "heart_rate_bpm": (20.0, 300.0),
    "rr_mean_ms": (200.0, 3000.0),
    "pr_ms": (80.0, 400.0),
    "p_duration_ms": (40.0, 200.0),
    "qrs_ms": (40.0, 250.0),
    "qt_ms": (200.0, 700.0),
    "qtc_bazett_ms": (250.0, 700.0),
    "qtc_fridericia_ms": (250.0, 700.0),
}
GLOBAL_FIELDS = (
    "heart_rate_bpm",
    "rr_mean_ms",
    "pr_ms",
    "p_duration_ms",
    "qrs_ms",
    "qt_ms",
    "qtc_bazett_ms",
    "qtc_fridericia_ms",
    "p_axis_deg",
    "qrs_axis_deg",
    "t_axis_deg",
)
LEAD_FIELDS = (
    "p_amplitude_mv",
    "q_amplitude_mv",
    "r_amplitude_mv",
    "s_amplitude_mv",
    "r_prime_amplitude_mv",
    "s_prime_amplitude_mv",
    "t_amplitude_mv",
    "st_j_mv",
    "st_j60_mv",
    "t_polarity",
    "pr_ms",
    "qrs_ms",
    "qt_ms",
)

MIN_SECONDS = 1.5
MAX_MISSING_FRACTION = 0.05
DOMINANT_CORRELATION = 0.90
QRS_ONSET_THRESHOLD = 0.05
QRS_OFFSET_THRESHOLD = 0.08
QRS_LOWPASS_HZ = 35.0
QRS_GAP_S = 0.012
QRS_BRIDGE = 0.1
WIDE_QRS_S = 0.12
WIDE_J_FRACTION = 0.15
P_MIN_MV = 0.04
T_MIN_MV = 0.10
FLAT_T_MV = 0.05
LOBE_MIN_MV = 0.03
P_REACH_S = 0.08
P_BASELINE_S = 0.35
FLUTTER_CYCLES = 1.5
ATRIAL_STRETCH_S = 0.60
P_FRACTION = 0.1
T_REACH_S = 0.15
P_ONSET_PERCENTILE = 25
T_OFFSET_PERCENTILE = 50
SPIKE_FILTER_S = 0.012
SPIKE_RATIO = 4.0
PACING_SPIKE_FRACTION = 1.0
# 2:1 atrial flutter: the "P wave" recurs half an RR earlier, inside the ST-T (see _half_cycle_echo)
FLUTTER_ECHO_LEADS = ("II", "III", "aVF", "V1")
FLUTTER_CYCLE_S = (0.15, 0.25)  # atrial rates 240-400/min
ECHO_HALF_S = 0.03
ECHO_LAG_TOLERANCE = 0.04
ECHO_CORRELATION = 0.9
ECHO_AMPLITUDE_RATIO = 1.5
ECHO_T_APEX_S = 0.06
# atrial pacing: a narrow, steep deflection on many leads at once before the P wave (_atrial_pacing_spike)
ATRIAL_SPIKE_NARROW = 2.5
ATRIAL_SPIKE_STEEP = 0.6
ATRIAL_SPIKE_LEAD_SHARE = 0.4
ATRIAL_SPIKE_MIN_FS = 200.0
NOTCH = False  # IIR notches ring for tens of ms after a pacing spike; the median beat averages hum out


class MeasurementError(ValueError):
    """The signals cannot be measured at all (too short, flat, no beats)."""


# ---------------------------------------------------------------------------------------------
# Preprocessing and beats.


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


def _preprocess(x: np.ndarray, fs: float) -> np.ndarray:
    from scipy.signal import butter, filtfilt, iirnotch, sosfiltfilt

    sos = butter(2, 0.5, btype="highpass", fs=fs, output="sos")
    y = sosfiltfilt(sos, x - np.median(x))
    if NOTCH:
        for hum in (50.0, 60.0):
            if fs > 2.5 * hum:
                b, a = iirnotch(hum, 30.0, fs=fs)
                y = filtfilt(b, a, y)
    return y


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x
    return np.convolve(x, np.ones(width) / width, mode="same")


def _detect_beats(leads: np.ndarray, fs: float) -> np.ndarray:
    """R-wave fiducials (samples) from the QRS energy of all leads together."""
    from scipy.signal import butter, find_peaks, sosfiltfilt

    high = min(25.0, 0.45 * fs)
    sos = butter(2, [5.0, high], btype="bandpass", fs=fs, output="sos")
    band = sosfiltfilt(sos, leads, axis=1)
    energy = np.abs(np.gradient(band, axis=1))
    scale = np.percentile(energy, 99, axis=1, keepdims=True)
    scale[scale <= 0] = 1.0
    combined = (energy / scale).sum(axis=0)
    integrated = _moving_average(combined, max(1, int(0.08 * fs)))
    peaks, _ = find_peaks(integrated, distance=max(1, int(0.25 * fs)))
    if peaks.size == 0:
        return peaks
    heights = integrated[peaks]
    expected = max(1, int(len(integrated) / fs / 2.0))  # at least 30 beats/min
    typical = float(np.median(np.sort(heights)[-expected:]))
    peaks = peaks[heights >= 0.35 * typical]
    # fiducial: the sharpest point of the combined energy near the integrated peak
    sharp = _moving_average(combined, max(1, int(0.01 * fs)))
    half = int(0.06 * fs)
    out = []
    for p in peaks:
        lo, hi = max(0, p - half), min(len(sharp), p + half + 1)
        out.append(lo + int(np.argmax(sharp[lo:hi])))
    return np.unique(np.asarray(out, dtype=np.int64))


def _windows(leads: np.ndarray, centres: np.ndarray, pre: int, post: int) -> tuple[np.ndarray, np.ndarray]:
    """beats x leads x samples around each centre that fits entirely; and the centres kept."""
    n = leads.shape[1]
    keep = centres[(centres - pre >= 0) & (centres + post <= n)]
    if keep.size == 0:
        return np.empty((0, leads.shape[0], pre + post)), keep
    index = keep[:, None] + np.arange(-pre, post)[None, :]
    return np.transpose(leads[:, index], (1, 0, 2)), keep


def _correlations(beats: np.ndarray, template: np.ndarray) -> np.ndarray:
    b = beats.reshape(len(beats), -1)
    t = template.reshape(-1)
    b = b - b.mean(axis=1, keepdims=True)
    t = t - t.mean()
    denominator = np.linalg.norm(b, axis=1) * np.linalg.norm(t)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (b @ t) / denominator
    return np.nan_to_num(r, nan=0.0)


def _align(leads: np.ndarray, fiducials: np.ndarray, fs: float) -> np.ndarray:
    """Each fiducial shifted (+-10 ms) to best match the median QRS over all leads."""
    pre, post, shift = int(0.08 * fs), int(0.10 * fs), int(0.01 * fs)
    beats, kept = _windows(leads, fiducials, pre + shift, post + shift)
    if len(beats) < 2 or shift < 1:
        return fiducials
    template = np.median(beats[:, :, shift:-shift], axis=0)
    moved = {}
    for i, c in enumerate(kept):
        scores = [_correlations(beats[i : i + 1, :, shift + s : shift + s + pre + post], template)[0] for s in range(-shift, shift + 1)]
        moved[int(c)] = int(c) + int(np.argmax(scores)) - shift
    return np.asarray([moved.get(int(c), int(c)) for c in fiducials], dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# Waves on the median beats.


def _falls_to(y: np.ndarray, peak: int, stop: int, fraction: float) -> int:
    """Walking from `peak` towards `stop`, the first sample where the wave has fallen to `fraction`
    of its height above the lowest point on that side (a local reference: the wave may sit on a
    slope or an offset)."""
    step = 1 if stop > peak else -1
    sign = 1.0 if y[peak] >= 0 else -1.0
    side = sign * (y[min(peak, stop) : max(peak, stop) + 1])
    if side.size < 2:
        return peak
    floor = float(side.min())
    level = floor + fraction * (sign * y[peak] - floor)
    i = peak
    while i != stop and sign * y[i] > level:
        i += step
    return i


def _trapezium_end(y: np.ndarray, peak: int, stop: int) -> int | None:
    """T-wave end by the trapezium-area method (Vazquez-Seisdedos 2011): from the steepest point of
    the descending limb (xm), the sample t in [xm, stop) maximizing (y[xm] - y[t]) * (2 stop - t - xm)."""
    if stop - peak < 4:
        return None
    sign = 1.0 if y[peak] >= 0 else -1.0
    z = sign * y
    slope = np.gradient(z[peak:stop])
    xm = peak + int(np.argmin(slope))
    if xm >= stop - 2:
        return None
    t = np.arange(xm, stop)
    area = (z[xm] - z[t]) * (2 * stop - t - xm)
    return int(t[int(np.argmax(area))])


def _baseline_before(y: np.ndarray, onset: int, width: int, span: int) -> float:
    lo = max(0, onset - span)
    if onset - lo < width:
        return float(y[max(0, onset - 1)])
    windows = np.lib.stride_tricks.sliding_window_view(y[lo:onset], width)
    flattest = int(np.argmin(windows.max(axis=1) - windows.min(axis=1)))
    return float(windows[flattest].mean())


def _qrs_bounds(medians: np.ndarray, z: int, fs: float) -> tuple[int, int] | None:
    """Global QRS onset and offset from the spatial velocity of the median beats."""
    from scipy.signal import butter, medfilt, sosfiltfilt

    raw = np.abs(np.gradient(medians, axis=1)).sum(axis=0) * fs
    # pacemaker spikes (and digitization glitches): a few ms of extreme slope, not QRS; found on
    # the unfiltered velocity as samples far above its running median (a QRS, >= 10 ms of steep
    # slope, keeps its running median high)
    running = medfilt(raw, 2 * max(1, int(SPIKE_FILTER_S * fs / 2)) + 1)
    spikes = raw > SPIKE_RATIO * running + 1e-12
    unfiltered = _moving_average(np.where(spikes, running, raw), max(1, int(0.004 * fs)))
    velocity = unfiltered
    if QRS_LOWPASS_HZ and fs > 2.5 * QRS_LOWPASS_HZ:
        # the boundaries are found on the median beats low-passed at QRS_LOWPASS_HZ: the small fast
        # wiggles at the edges of a noisy or fragmented QRS (which the cardiologists look through)
        # cancel out instead of adding up in |d/dt|; spikes are bridged first, so they do not smear
        smooth = medians
        if spikes.any():
            pad = max(1, int(0.002 * fs))
            mask = np.convolve(spikes.astype(float), np.ones(2 * pad + 1), mode="same") > 0
            idx = np.arange(medians.shape[1])
            if (~mask).sum() >= 2:
                smooth = np.vstack([np.interp(idx, idx[~mask], y[~mask]) for y in medians])
        smooth = sosfiltfilt(butter(2, QRS_LOWPASS_HZ, fs=fs, output="sos"), smooth, axis=1)
        velocity = _moving_average(np.abs(np.gradient(smooth, axis=1)).sum(axis=0) * fs, max(1, int(0.004 * fs)))
    return _walk_qrs(velocity, unfiltered, raw, spikes, z, fs)


def _walk_qrs(
    velocity: np.ndarray, unfiltered: np.ndarray, raw: np.ndarray, spikes: np.ndarray, z: int, fs: float
) -> tuple[int, int] | None:
    """Onset and offset where the spatial `velocity` falls below QRS_ONSET_THRESHOLD /
    QRS_OFFSET_THRESHOLD of its QRS maximum above the isoelectric floor, walking out from its peak.
    `unfiltered` (not low-passed, spikes removed) and `raw` (with spikes) judge pacing spikes and
    the J point of a wide complex."""
    n = len(velocity)
    lo, hi = max(0, z - int(0.12 * fs)), min(n, z + int(0.16 * fs))
    core_lo, core_hi = max(0, z - int(0.05 * fs)), min(n, z + int(0.05 * fs))
    core = velocity[core_lo:core_hi]
    if core.size == 0:
        return None
    # isoelectric floor: the quietest 20 ms before and after the QRS
    width = max(2, int(0.02 * fs))
    before = velocity[max(0, z - int(0.30 * fs)) : lo + width]
    after = velocity[hi - width : min(n, z + int(0.35 * fs))]
    floors = [float(np.min(_moving_average(s, width))) for s in (before, after) if s.size > width]
    floor = min(floors) if floors else 0.0
    top = float(core.max()) - floor
    if top <= 0:
        return None
    # the walk starts from the peak of the unfiltered velocity: the low-pass may move the peak past
    # a sharp spike inside the QRS, which the pacing rule below would then take for a pacing spike
    peak = core_lo + int(np.argmax(unfiltered[core_lo:core_hi]))
    # walk out of the QRS; a dip below the level shorter than QRS_GAP_S followed by a steep
    # stretch again (the apex of a wave, the turn between R and S, a notch) does not end it.
    # The offset's level is higher than the onset's: the QRS ends in the ST-T limb, which still
    # has slope, while it starts from the flat PR segment
    gap = max(1, int(QRS_GAP_S * fs))
    steep = velocity > floor + QRS_BRIDGE * top
    window = max(2, int(0.02 * fs))
    # a pacemaker spike before the peak precedes the ventricular activation it triggers: the onset
    # is not searched before it (what is left of the spike, its shoulders, would bridge the walk
    # across it to the isoelectric line before the spike: QRS 20-40 ms long on paced records)
    # A pacing spike is steeper than anything in the QRS; a sharp R apex that trips the spike
    # filter in one lead is not
    qrs_max = float(unfiltered[core_lo:core_hi].max())
    unfiltered_top = qrs_max - floor
    paced = np.flatnonzero(spikes[lo:peak] & (raw[lo:peak] >= PACING_SPIKE_FRACTION * qrs_max))
    if paced.size:
        lo = lo + int(paced[-1]) + 1
    above = velocity > floor + QRS_ONSET_THRESHOLD * top
    onset = peak
    while onset > lo and (above[onset] or steep[max(lo, onset - gap) : onset].any()):
        onset -= 1
    above = velocity > floor + QRS_OFFSET_THRESHOLD * top
    offset = peak
    wide_from = onset + int(WIDE_QRS_S * fs)
    while offset < hi - 1 and (above[offset] or steep[offset + 1 : min(hi, offset + 1 + gap)].any()):
        # the J point of a wide complex runs straight into a steep ST-T limb: a local minimum
        # of the velocity below WIDE_J_FRACTION of its maximum ends it
        # (judged on the unfiltered velocity: the low-pass deepens the dip at a wave's apex)
        u = unfiltered
        if offset >= wide_from and u[offset] < floor + WIDE_J_FRACTION * unfiltered_top and u[offset] <= u[offset : offset + window].min():
            break
        offset += 1
    return onset, offset


def _lobes(y: np.ndarray) -> list[tuple[int, float]]:
    """Deflections of the QRS: (sign, extreme) of each run of one sign reaching >= LOBE_MIN_MV."""
    out: list[tuple[int, float]] = []
    sign = np.sign(y)
    start = 0
    for i in range(1, len(y) + 1):
        if i == len(y) or sign[i] != sign[start]:
            segment = y[start:i]
            if sign[start] != 0:
                extreme = float(segment.max() if sign[start] > 0 else segment.min())
                if abs(extreme) >= LOBE_MIN_MV:
                    if out and out[-1][0] == int(sign[start]):  # a dip that did not reach the threshold
                        previous = out[-1][1]
                        out[-1] = (out[-1][0], max(previous, extreme) if extreme > 0 else min(previous, extreme))
                    else:
                        out.append((int(sign[start]), extreme))
            start = i
    return out


def _qrs_components(y: np.ndarray) -> dict[str, float | None]:
    lobes = _lobes(y)
    out: dict[str, float | None] = dict.fromkeys(("q_amplitude_mv", "r_amplitude_mv", "s_amplitude_mv", "r_prime_amplitude_mv", "s_prime_amplitude_mv"))
    positives = [i for i, (s, _) in enumerate(lobes) if s > 0]
    if not positives:  # QS complex: the whole negative deflection is S (no R)
        out["r_amplitude_mv"] = 0.0
        out["q_amplitude_mv"] = 0.0
        out["s_amplitude_mv"] = min(0.0, float(y.min())) if y.size else 0.0
        return out
    first_r = positives[0]
    out["q_amplitude_mv"] = lobes[first_r - 1][1] if first_r > 0 else 0.0
    out["r_amplitude_mv"] = lobes[first_r][1]
    negatives_after = [i for i in range(first_r + 1, len(lobes)) if lobes[i][0] < 0]
    out["s_amplitude_mv"] = lobes[negatives_after[0]][1] if negatives_after else 0.0
    if len(positives) > 1:
        out["r_prime_amplitude_mv"] = lobes[positives[1]][1]
        later = [i for i in negatives_after if i > positives[1]]
        if later:
            out["s_prime_amplitude_mv"] = lobes[later[0]][1]
    return out


def _t_polarity(t: np.ndarray) -> str | None:
    if t.size == 0:
        return None
    high, low = float(t.max()), float(t.min())
    if max(high, -low) < FLAT_T_MV:
        return "flat"
    if min(high, -low) >= 0.25 * max(high, -low) and min(high, -low) >= FLAT_T_MV:
        return "biphasic"
    return "positive" if high >= -low else "negative"


def frontal_axis(net: Mapping[str, float]) -> float | None:
    """Frontal-plane axis (degrees) from the net deflections of the limb leads present."""
    rows, values = [], []
    for lead, angle in LIMB_LEAD_ANGLES.items():
        if lead in net and net[lead] is not None and math.isfinite(net[lead]):
            gain = math.sqrt(3) / 2 if lead in AUGMENTED else 1.0
            rad = math.radians(angle)
            rows.append((gain * math.cos(rad), gain * math.sin(rad)))
            values.append(net[lead])
    if len(rows) < 2:
        return None
    solution, *_ = np.linalg.lstsq(np.asarray(rows), np.asarray(values), rcond=None)
    if np.hypot(*solution) < 1e-9:
        return None
    angle = math.degrees(math.atan2(solution[1], solution[0]))
    return 180.0 if angle == -180.0 else angle


# ---------------------------------------------------------------------------------------------


def _empty_result(names: list[str]) -> dict[str, object]:
    result: dict[str, object] = dict.fromkeys(GLOBAL_FIELDS)
    result["leads"] = {name: dict.fromkeys(LEAD_FIELDS) for name in names}
    result["null_reasons"] = {}
    result["n_beats"] = 0
    result["n_dominant_beats"] = 0
    return result


def measure_ecg(signals: Mapping[str, np.ndarray], sampling_rate: float) -> dict[str, object]:
    """Global and per-lead measurements of simultaneous leads (see the module docstring).

    Raises MeasurementError when nothing can be measured (no usable lead, no beats); values
    that cannot be measured are None with the reason in result["null_reasons"]."""
    fs = float(sampling_rate or 0)
    if fs <= 0:
        raise MeasurementError("no sampling rate")
    names = [str(k) for k in signals]
    result = _empty_result(names)
    reasons: dict[str, str] = result["null_reasons"]  # type: ignore[assignment]
    usable: dict[str, np.ndarray] = {}
    for name in names:
        x = np.asarray(signals[name], dtype=np.float64).ravel()
        if len(x) < MIN_SECONDS * fs:
            continue
        x = _interpolate_gaps(x)
        if x is None or float(np.ptp(x)) < 1e-6:
            continue
        usable[name] = x
    if not usable:
        raise MeasurementError(f"no lead of at least {MIN_SECONDS} s with a signal (flat, missing or too short)")
    length = min(len(x) for x in usable.values())
    lead_names = list(usable)
    leads = np.vstack([_preprocess(usable[n][:length], fs) for n in lead_names])
    ms = fs / 1000.0

    fiducials = _detect_beats(leads, fs)
    if len(fiducials) < 2:
        raise MeasurementError("fewer than 2 beats detected")
    result["n_beats"] = int(len(fiducials))
    rr = np.diff(fiducials) / ms
    rr_mean = float(rr.mean())
    result["rr_mean_ms"] = rr_mean
    result["heart_rate_bpm"] = 60000.0 / rr_mean
    rr_median_s = float(np.median(rr)) / 1000.0
    fiducials = _align(leads, fiducials, fs)

    # dominant morphology: beats whose QRS (all leads) matches the median QRS
    qrs_beats, qrs_kept = _windows(leads, fiducials, int(0.08 * fs), int(0.10 * fs))
    if len(qrs_beats) < 1:
        raise MeasurementError("no complete beat in the record")
    template = np.median(qrs_beats, axis=0)
    for _ in range(2):
        r = _correlations(qrs_beats, template)
        dominant = r >= DOMINANT_CORRELATION
        if dominant.sum() < max(1, 0.3 * len(qrs_beats)):
            dominant = r >= np.median(r)
        template = np.median(qrs_beats[dominant], axis=0)
    dominant_fiducials = qrs_kept[dominant]

    pre = int(min(0.45, 0.70 * rr_median_s) * fs)
    post = int(min(0.75, max(0.35, 0.95 * rr_median_s)) * fs)
    beats, kept = _windows(leads, dominant_fiducials, pre, post)
    if len(beats) < 1:
        raise MeasurementError("no complete dominant beat in the record")
    result["n_dominant_beats"] = int(len(beats))
    medians = np.median(beats, axis=0)  # leads x samples
    z = pre
    bounds = _qrs_bounds(medians, z, fs)
    if bounds is None:
        reasons["qrs_ms"] = "no QRS complex found on the median beat"
        return result
    onset, offset = bounds
    n = medians.shape[1]

    # per-lead P and T waves
    p_waves: dict[str, tuple[float, float, float]] = {}  # lead -> (onset, offset, signed amplitude)
    t_waves: dict[str, tuple[int, float]] = {}  # lead -> (offset, signed amplitude)
    t_apexes: dict[str, int] = {}  # lead -> sample of the largest deflection of the ST-T (any height)
    baselines: dict[str, float] = {}
    rr_s = rr_median_s
    t_peak_hi = min(n - 2, onset + int(min(0.5 * math.sqrt(rr_s), rr_s - 0.12) * fs))
    t_end_hi = min(n, onset + int(min(0.75 * math.sqrt(rr_s), rr_s - 0.06) * fs))
    for i, name in enumerate(lead_names):
        y0 = medians[i]
        iso = _baseline_before(y0, onset, max(2, int(0.02 * fs)), int(0.10 * fs))
        y = y0 - iso
        # P wave: last prominent deflection 40-350 ms before the QRS onset, measured from the
        # isoelectric line before it: the flattest 20 ms of those 350 ms (the TP segment). The
        # 100 ms before the QRS lie inside a P wave that runs into the QRS (no PR segment), and
        # from there the P wave read as a step, not a deflection (8 of LUDB 1-100's sinus records)
        p_lo, p_hi = max(1, onset - int(0.35 * fs)), onset - int(0.04 * fs)
        if p_hi - p_lo > int(0.03 * fs):
            from scipy.signal import find_peaks

            tp = y0 - _baseline_before(y0, onset, max(2, int(0.02 * fs)), int(P_BASELINE_S * fs))
            for yp in (y, tp):  # the PR-segment baseline first; the TP one where that finds no P wave
                noise = float(np.std(np.diff(yp[p_lo:p_hi]))) if p_hi - p_lo > 2 else 0.0
                # peaks up to 40 ms before the QRS, their prominence from the stretch up to the QRS:
                # the descending limb of a P wave close to the QRS is not cut off
                found, props = find_peaks(np.abs(yp[p_lo:onset]), prominence=max(P_MIN_MV * 0.75, 2 * noise), height=P_MIN_MV)
                found = found[found < p_hi - p_lo]
                if found.size:
                    p_peak = p_lo + int(found[-1])
                    p_on = _falls_to(yp, p_peak, max(0, p_peak - int(P_REACH_S * fs)), P_FRACTION)
                    p_off = _falls_to(yp, p_peak, min(onset, p_peak + int(P_REACH_S * fs)), P_FRACTION)
                    if p_on < p_peak < p_off:
                        p_waves[name] = (float(p_on), float(p_off), float(yp[p_peak]))
                        break
        # T wave: the largest deflection J+60 ms .. 0.5 sqrt(RR) after the QRS onset
        t_lo = offset + int(0.06 * fs)
        if t_peak_hi - t_lo > int(0.04 * fs):
            t_peak = t_lo + int(np.argmax(np.abs(y[t_lo:t_peak_hi])))
            t_apexes[name] = t_peak
            if abs(y[t_peak]) >= T_MIN_MV:
                t_end = _trapezium_end(y, t_peak, max(t_peak + 4, min(t_end_hi, t_peak + int(T_REACH_S * fs))))
                if t_end is not None:
                    t_waves[name] = (t_end, float(y[t_peak]))
        baselines[name] = iso

    t_offset = None
    if t_waves:
        t_offset = float(np.percentile([t[0] for t in t_waves.values()], T_OFFSET_PERCENTILE))
        result["qt_ms"] = (t_offset - onset) / ms
    else:
        reasons["qt_ms"] = f"no T wave of at least {T_MIN_MV} mV"

    # global P: earliest / latest robust over the leads with a P wave
    p_onset = p_offset = None
    if len(p_waves) >= max(1, min(3, len(lead_names) // 4)):
        p_onset = float(np.percentile([p[0] for p in p_waves.values()], P_ONSET_PERCENTILE))
        p_offset = float(np.percentile([p[1] for p in p_waves.values()], 100 - P_ONSET_PERCENTILE))
    # the atrial stretch before each QRS: 600 ms (at most from the previous beat's T offset) to 40 ms before it
    rr_samples = int(rr_median_s * fs)
    tp_start = max(onset - int(ATRIAL_STRETCH_S * fs), (int(t_offset) if t_offset is not None else offset + int(0.25 * fs)) - rr_samples)
    atrial = _atrial_activity(leads, lead_names, kept, rr, p_waves, p_onset, z, (tp_start, onset - int(0.04 * fs)), fs)
    if atrial is None and p_onset is not None:
        spike = _atrial_pacing_spike(medians, onset, offset, p_onset, fs)
        if spike is not None:
            atrial = f"paced rhythm: atrial pacing spike {(onset - spike) / ms:.0f} ms before the QRS, before the P wave"
        elif _half_cycle_echo(leads, lead_names, kept, z, p_waves, t_apexes, offset, rr_samples, fs):
            atrial = "atrial waves at twice the ventricular rate (P wave repeated half an RR earlier, in the ST-T): 2:1 atrial flutter"
    if atrial is not None:
        reasons["pr_ms"] = atrial
        reasons["p_duration_ms"] = atrial
        p_onset = p_offset = None
    elif p_onset is None:
        reasons["pr_ms"] = reasons["p_duration_ms"] = "no P wave found"
    else:
        result["pr_ms"] = (onset - p_onset) / ms
        result["p_duration_ms"] = (p_offset - p_onset) / ms
        retro = [p_waves[lead][2] < 0 for lead in ("II", "aVF") if lead in p_waves]
        if retro and all(retro) and result["pr_ms"] < 120:
            reasons["pr_ms"] = reasons["p_duration_ms"] = "retrograde P wave (negative in II and aVF, PR < 120 ms): junctional rhythm"
            result["pr_ms"] = result["p_duration_ms"] = None
            p_onset = p_offset = None
    result["qrs_ms"] = (offset - onset) / ms

    # ranges, then QTc from a plausible QT
    for name, (low, high) in RANGES.items():
        value = result.get(name)
        if value is not None and not low <= value <= high:
            reasons[name] = f"{value:.0f} outside the physiological range {low:.0f}-{high:.0f}"
            result[name] = None
    if result["qt_ms"] is not None and result["rr_mean_ms"] is not None:
        rr_seconds = result["rr_mean_ms"] / 1000.0
        result["qtc_bazett_ms"] = result["qt_ms"] / math.sqrt(rr_seconds)
        result["qtc_fridericia_ms"] = result["qt_ms"] / rr_seconds ** (1.0 / 3.0)
        for name in ("qtc_bazett_ms", "qtc_fridericia_ms"):
            low, high = RANGES[name]
            if not low <= result[name] <= high:
                reasons[name] = f"{result[name]:.0f} outside the physiological range {low:.0f}-{high:.0f}"
                result[name] = None
    else:
        reasons.setdefault("qtc_bazett_ms", "no QT")
        reasons.setdefault("qtc_fridericia_ms", "no QT")

    # per lead, relative to the PR segment
    hr = result["heart_rate_bpm"] or 60000.0 / max(rr_mean, 1.0)
    st_at = offset + int((0.04 if hr > 100 else 0.06) * fs)
    half = max(1, int(0.004 * fs))
    nets_p, nets_qrs, nets_t = {}, {}, {}
    for i, name in enumerate(lead_names):
        y0 = medians[i]
        if p_offset is not None and onset - int(p_offset) >= max(2, int(0.01 * fs)):
            level = float(np.mean(y0[int(p_offset) : onset]))
        else:
            level = baselines[name]
        y = y0 - level
        lead = result["leads"][name]
        lead.update(_qrs_components(y[onset : offset + 1]))
        if p_onset is not None and name in p_waves:
            lead["p_amplitude_mv"] = p_waves[name][2]
            lead["pr_ms"] = (onset - p_waves[name][0]) / ms
            nets_p[name] = float(y[int(p_onset) : int(p_offset) + 1].sum() / fs)
        lead["qrs_ms"] = (offset - onset) / ms
        lead["st_j_mv"] = float(y[offset])
        if st_at + half < n:
            lead["st_j60_mv"] = float(y[st_at - half : st_at + half + 1].mean())
        end = int(t_offset) if t_offset is not None else min(n, t_end_hi)
        t_from = offset + int(0.04 * fs)
        t_region = y[t_from : end + 1]
        if t_region.size:
            k = int(np.argmax(np.abs(t_region)))
            lead["t_amplitude_mv"] = float(t_region[k])
            # polarity on the T wave itself: as far before its peak as its end is after it, so
            # an elevated or depressed ST segment before it does not read as a second phase
            own = t_region[max(0, 2 * k - (len(t_region) - 1)) :]
            lead["t_polarity"] = _t_polarity(own)
            nets_t[name] = float(t_region.sum() / fs)
        if name in t_waves:
            lead["qt_ms"] = (t_waves[name][0] - onset) / ms
        nets_qrs[name] = float(y[onset : offset + 1].sum() / fs)
    result["qrs_axis_deg"] = frontal_axis(nets_qrs)
    result["t_axis_deg"] = frontal_axis(nets_t) if t_offset is not None else None
    result["p_axis_deg"] = frontal_axis(nets_p) if p_onset is not None else None
    for name in ("p_axis_deg", "qrs_axis_deg", "t_axis_deg"):
        if result[name] is None:
            reasons.setdefault(name, "fewer than 2 limb leads with the wave")
    return result


def _atrial_activity(
    leads: np.ndarray,
    names: list[str],
    kept: np.ndarray,
    rr: np.ndarray,
    p_waves: dict[str, tuple[float, float, float]],
    p_onset: float | None,
    z: int,
    stretch: tuple[int, int],
    fs: float,
) -> str | None:
    """Why there is no P wave to measure a PR from (None when there is one): atrial fibrillation
    (irregular RR, no P wave repeated beat to beat) or flutter (atrial waves > 240/min)."""
    irregular = len(rr) >= 3 and float(np.median(np.abs(np.diff(rr)))) / float(np.mean(rr)) > 0.06
    if p_onset is None or not p_waves:
        return "no P wave (irregular rhythm: atrial fibrillation)" if irregular else None
    if irregular and len(p_waves) < len(names) / 2:
        return "P wave in fewer than half the leads (irregular rhythm: atrial fibrillation)"
    # beat-to-beat consistency of the P wave in the lead where it is largest
    best = max(p_waves, key=lambda lead: abs(p_waves[lead][2]))
    i = names.index(best)
    p_on, p_off, _ = p_waves[best]
    segs, _ = _windows(leads[i : i + 1], kept, z - int(p_on), int(p_off) - z)
    consistency = 1.0
    if len(segs) >= 3:
        template = np.median(segs[:, 0, :], axis=0)
        consistency = float(np.median([np.corrcoef(s, template)[0, 1] if np.std(s) > 0 else 0.0 for s in segs[:, 0, :]]))
    if irregular and consistency < 0.6:
        return "no P wave repeated beat to beat (irregular rhythm: atrial fibrillation)"
    if consistency < 0.3:
        return "no P wave repeated beat to beat"
    # flutter: the atrial stretch repeats faster than 240/min in the leads that show flutter waves best
    flutter_leads = [lead for lead in ("II", "III", "aVF", "V1") if lead in names] or [best]
    votes = [_atrial_rate_above(leads[names.index(lead)], kept, z, stretch, fs, 240.0) for lead in flutter_leads]
    if sum(votes) * 2 >= len(votes) and any(votes):
        return "atrial waves faster than 240/min (atrial flutter)"
    return None


def _half_cycle_echo(
    leads: np.ndarray,
    names: list[str],
    kept: np.ndarray,
    z: int,
    p_waves: dict[str, tuple[float, float, float]],
    t_apexes: dict[str, int],
    offset: int,
    rr_samples: int,
    fs: float,
) -> bool:
    """2:1 atrial flutter: the wave taken for a P wave recurs half an RR earlier, inside the ST-T.

    With 2:1 conduction the flutter waves come at twice the ventricular rate: one sits before the
    QRS (and is taken for a P wave), the next one half an RR earlier, after the previous QRS, where
    it rides on the ST-T. The stretch before the QRS is then too short for the autocorrelation of
    `_atrial_rate_above`. Only where half the RR is a flutter cycle (FLUTTER_CYCLE_S, atrial rates
    240-400/min), in the leads that show flutter waves best (FLUTTER_ECHO_LEADS): the P wave's apex
    (+-ECHO_HALF_S, each window minus the chord between its ends, so a sloping ST-T does not count)
    is compared with the window half an RR (+-ECHO_LAG_TOLERANCE of it) earlier on a median beat
    that reaches back past the previous QRS. A lead echoes when the two correlate >=
    ECHO_CORRELATION with amplitudes within ECHO_AMPLITUDE_RATIO, and the earlier window is not the
    T wave's own apex (within ECHO_T_APEX_S of it: the apex of a T wave is an arc like a P wave's).
    Leads whose earlier window reaches into the previous QRS are not judged. Flutter when at least
    one judged lead echoes and at least half of them do.

    Why sinus rhythm does not echo: half an RR before a sinus P wave's apex lies the ST segment or
    the T wave's upstroke (a T apex there needs PR <= ~110 ms at 120/min, and is excluded above);
    with first-degree AV block, further back, in the QRS (not judged). A 2:1 flutter whose second
    wave falls inside the QRS is not detected."""
    half_rr = rr_samples / 2.0
    if not FLUTTER_CYCLE_S[0] * fs <= half_rr <= FLUTTER_CYCLE_S[1] * fs:
        return False
    half = max(2, int(round(ECHO_HALF_S * fs)))
    lag0 = int(round(half_rr))
    tolerance = max(1, int(round(ECHO_LAG_TOLERANCE * half_rr)))
    previous_offset = offset - rr_samples  # median-beat sample of the previous QRS offset
    back = z - (previous_offset - half) + 1  # a median beat reaching back to the previous QRS offset
    beats, _ = _windows(leads, kept, back, 1)
    if len(beats) < 3:
        return False
    long = np.median(beats, axis=0)
    base = z - back  # long[:, i] is median-beat sample base + i

    def chord_removed(segment: np.ndarray) -> np.ndarray:
        return segment - np.linspace(segment[0], segment[-1], len(segment))

    judged = echoes = 0
    for name in FLUTTER_ECHO_LEADS:
        if name not in p_waves:
            continue
        y = long[names.index(name)]
        p_on, p_off, amplitude = p_waves[name]
        sign = 1.0 if amplitude >= 0 else -1.0
        a, b = int(p_on) - base, int(p_off) - base
        if a < 0 or b >= len(y) or b <= a:
            continue
        apex = a + int(np.argmax(sign * y[a : b + 1]))
        if apex - half < 0 or apex + half >= len(y):
            continue
        p_wave = chord_removed(y[apex - half : apex + half + 1])
        p_norm = float(np.linalg.norm(p_wave))
        if p_norm <= 0:
            continue
        best: tuple[float, float, int] | None = None
        for lag in range(lag0 - tolerance, lag0 + tolerance + 1):
            start = apex - lag - half
            if start + base < previous_offset:
                continue
            earlier = chord_removed(y[start : start + 2 * half + 1])
            norm = float(np.linalg.norm(earlier))
            if norm <= 0:
                continue
            r = float(p_wave @ earlier) / (p_norm * norm)
            if best is None or r > best[0]:
                best = (r, norm / p_norm, start + half + base)
        if best is None:
            continue
        judged += 1
        r, ratio, centre = best
        t_apex = t_apexes.get(name)
        on_t_apex = t_apex is not None and abs(centre - (t_apex - rr_samples)) < ECHO_T_APEX_S * fs
        if r >= ECHO_CORRELATION and 1.0 / ECHO_AMPLITUDE_RATIO <= ratio <= ECHO_AMPLITUDE_RATIO and not on_t_apex:
            echoes += 1
    return echoes >= 1 and 2 * echoes >= judged


def _atrial_pacing_spike(medians: np.ndarray, onset: int, offset: int, p_onset: float, fs: float) -> int | None:
    """The median-beat sample of an atrial pacing spike before the P wave, or None.

    A pacing spike is a deflection a few ms wide on many leads at once. On the median beats, the
    spatial velocity (sum over leads of |d/dt|, unfiltered) at that sample is
    - ATRIAL_SPIKE_NARROW times its median over the 20 ms on either side (a P wave's slope is
      spread over tens of ms);
    - at least ATRIAL_SPIKE_STEEP of the QRS's steepest point on the median beats low-passed at
      QRS_LOWPASS_HZ (as steep as the QRS; P waves, noise and notches are far below);
    - carried by at least 3 leads, none with more than ATRIAL_SPIKE_LEAD_SHARE of it (a glitch in
      one lead is not a pacing spike).
    The thresholds leave room for a spike drawn on paper and digitized (at 200 dpi a pixel is 5 ms:
    the spike comes back about 10 ms wide and half as steep). It counts as atrial when it lies from
    80 ms before the P onset to 40 ms before the QRS onset (a ventricular spike precedes the QRS
    directly). Below ATRIAL_SPIKE_MIN_FS Hz a spike is not resolved: None."""
    from scipy.signal import butter, sosfiltfilt

    if fs < ATRIAL_SPIKE_MIN_FS or medians.shape[0] < 3:
        return None
    per_lead = np.abs(np.gradient(medians, axis=1)) * fs
    raw = per_lead.sum(axis=0)
    smooth = medians
    if QRS_LOWPASS_HZ and fs > 2.5 * QRS_LOWPASS_HZ:
        smooth = sosfiltfilt(butter(2, QRS_LOWPASS_HZ, fs=fs, output="sos"), medians, axis=1)
    qrs_top = float((np.abs(np.gradient(smooth, axis=1)).sum(axis=0) * fs)[onset : offset + 1].max())
    width = max(1, int(0.02 * fs))
    lo = max(width, int(p_onset) - int(0.08 * fs))
    hi = min(len(raw) - width, onset - int(0.04 * fs))
    if hi <= lo or qrs_top <= 0:
        return None
    around = np.median(np.lib.stride_tricks.sliding_window_view(raw, 2 * width + 1)[lo - width : hi - width], axis=1)
    candidates = lo + np.flatnonzero((raw[lo:hi] >= ATRIAL_SPIKE_NARROW * around) & (raw[lo:hi] >= ATRIAL_SPIKE_STEEP * qrs_top))
    for k in candidates:
        share = per_lead[:, k] / raw[k]
        if (share > 0.05).sum() >= 3 and share.max() <= ATRIAL_SPIKE_LEAD_SHARE:
            return int(k)
    return None


def _atrial_rate_above(x: np.ndarray, fiducials: np.ndarray, z: int, stretch: tuple[int, int], fs: float, rate: float) -> bool:
    """True when, before most QRS complexes, the atrial stretch (median-beat samples `stretch`)
    repeats with a period of 150 ms to 60/rate s: its autocorrelation has a peak there above 0.5,
    at a lag the stretch holds FLUTTER_CYCLES times."""
    lo_lag, hi_lag = int(0.15 * fs), int(60.0 / rate * fs)
    start, stop = stretch[0] - z, stretch[1] - z
    if stop - start < hi_lag + int(0.03 * fs):
        return False  # too short a stretch to see two atrial cycles (2:1 flutter goes undetected)
    votes = []
    for c in fiducials:
        a, b = c + start, c + stop
        if a < 0 or b > len(x):
            continue
        seg = x[a:b] - np.mean(x[a:b])
        energy = float(seg @ seg)
        if energy <= 0:
            continue
        ac = np.array([float(seg[:-k] @ seg[k:]) / energy * len(seg) / (len(seg) - k) for k in range(lo_lag, hi_lag + 1)])
        best = int(np.argmax(ac))
        # a repetition, not a coincidence: the maximum is a peak inside the lag range (at its edge
        # it only says the curve still rises), and the stretch holds 1.5 cycles at that lag (with
        # less overlap, a P wave and the end of a T wave, or the two humps of a broad P wave, do)
        interior = 0 < best < len(ac) - 1
        votes.append(bool(ac[best] > 0.5 and interior and FLUTTER_CYCLES * (lo_lag + best) <= len(seg)))
    return len(votes) >= 3 and float(np.mean(votes)) > 0.5


# ---------------------------------------------------------------------------------------------
# WFDB records (`cardioml measure`).

STANDARD_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_LEAD_ALIASES = {name.lower(): name for name in STANDARD_LEADS}
RECORD_FIELDS = ("record", *GLOBAL_FIELDS, "leads")


class RecordError(ValueError):
    """A WFDB record that cannot be read or measured; the message names the record."""


def standard_lead_name(name: str) -> str:
    """'ii' -> 'II', 'avr' -> 'aVR', 'v1' -> 'V1'; other names unchanged."""
    return _LEAD_ALIASES.get(str(name).strip().lower(), str(name).strip())


def read_wfdb_record(path: str | Path) -> tuple[dict[str, np.ndarray], float]:
    """(lead name -> mV samples, sampling rate) of a WFDB record, `path` with or without `.hea`."""
    import wfdb

    base = Path(path)
    if base.suffix.lower() == ".hea":
        base = base.with_suffix("")
    if not base.with_suffix(".hea").is_file():
        raise RecordError(f"{path}: no such WFDB header file ({base.with_suffix('.hea')})")
    try:
        record = wfdb.rdrecord(str(base), physical=True)
    except Exception as error:  # noqa: BLE001 - wfdb raises many types on corrupt files
        raise RecordError(f"{path}: unreadable WFDB record ({type(error).__name__}: {error})") from error
    if record.p_signal is None or record.fs is None or record.fs <= 0:
        raise RecordError(f"{path}: the record has no signal or no sampling rate")
    signal = np.atleast_2d(np.asarray(record.p_signal, dtype=np.float64))
    if signal.shape[0] != record.sig_len:
        signal = signal.T
    names = [standard_lead_name(n) for n in (record.sig_name or [f"lead{i + 1}" for i in range(signal.shape[1])])]
    units = [str(u).strip().lower() for u in (record.units or ["mv"] * len(names))]
    leads: dict[str, np.ndarray] = {}
    for i, name in enumerate(names):
        scale = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "v": 1e3}.get(units[i], 1.0)
        leads[name] = signal[:, i] * scale
    return leads, float(record.fs)


def measure_record(path: str | Path) -> dict[str, object]:
    """The `cardioml measure` object of one WFDB record (raises RecordError)."""
    signals, fs = read_wfdb_record(path)
    try:
        result = measure_ecg(signals, fs)
    except MeasurementError as error:
        raise RecordError(f"{path}: cannot be measured ({error})") from error
    out: dict[str, object] = {"record": str(path)}
    for name in GLOBAL_FIELDS:
        value = result[name]
        out[name] = None if value is None else round(float(value), 1)
    out["leads"] = {
        lead: {k: (round(v, 3) if isinstance(v, float) else v) for k, v in values.items()}
        for lead, values in result["leads"].items()  # type: ignore[union-attr]
    }
    out["null_reasons"] = dict(result["null_reasons"])  # type: ignore[arg-type]
    return out
