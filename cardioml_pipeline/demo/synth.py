"""Synthetic 12-lead ECGs whose rate, rhythm and morphology follow a patient's finding codes.

Model
-----
* **Waves.** Every wave (P, the parts of the QRS, the T wave) is a Gaussian bump in time, the
  morphology model of ECGSYN (McSharry et al. 2003) that neurokit2's `ecg_simulate(method="ecgsyn")`
  integrates; the wave timing of a normal beat starts from neurokit2's ECGSYN defaults
  (`ti=(-70, -15, 0, 15, 100)` degrees at 60 bpm) and is scaled per beat. ST deviations are a smooth
  plateau from the J point to the end of the T wave.
* **Dipole.** Each wave carries a 3-D heart vector (x: to the patient's left, y: inferior,
  z: anterior) in mV. The 12 leads are projections of that vector: I = x, II = x/2 + y*sqrt(3)/2, and
  III, aVR, aVL, aVF are *derived from I and II*, so Einthoven's and Goldberger's relations hold
  exactly (III = II - I, aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2). The chest leads are
  projections on transverse-plane directions from V1 (right, anterior) to V6 (left). This makes
  axis deviation, R-wave progression, reciprocal ST changes and bundle-branch patterns come out
  of a handful of vectors instead of per-lead tuning.
* **Rhythm.** A beat scheduler places atrial events (P waves, or continuous fibrillation /
  flutter waves) and ventricular events (conducted QRS-T of the patient's QRS class, or ectopic
  wide complexes) on the time axis, then sums the waves.

Why not `neurokit2.ecg_simulate` directly (measured on neurokit2 0.2.13):
``method="multileads"`` rescales each lead independently to [-0.4, 1.2] mV, so the limb leads violate
Einthoven's law and the amplitudes are not physiological; the ECGSYN ODE is integrated with
`solve_ivp` at default tolerance and unbounded step, which shifted a 12 ms R wave by ~30 ms and
smeared it; and there is no per-beat control (premature beats, dropped beats, AV dissociation,
fibrillation/flutter waves). So the Gaussian wave model is evaluated in closed form here, beat by
beat (the "post-process beats" route). neurokit2 checks the result: the tests run `nk.ecg_peaks`
on the output and require it to find the same beats as `qc.detect_beats` (scipy), which QC uses.

Finding -> signal
-----------------
rate: tachycardia / sinus_tachycardia > 100 bpm, sinus_bradycardia / bradycardia < 60 bpm (the given
``heart_rate_bpm`` is used when it agrees with the findings, else a rate is drawn);
atrial_fibrillation: no P waves, 4-9 Hz fibrillatory waves, irregularly irregular RR;
atrial_flutter: 250-330/min saw-tooth F waves, 2:1-4:1 conduction; premature_atrial_contraction /
premature_ventricular_contraction: 1-3 early beats (ectopic P + normal QRS, non-compensatory pause /
wide ectopic QRS-T without P, compensatory pause; sometimes bigeminy); ventricular_tachycardia: wide
regular complexes >= 120 bpm with dissociated P waves (whole strip, or a run inside sinus rhythm);
left/right_bundle_branch_block: QRS 130-170 / 120-150 ms with the classic vector patterns (broad
notched R in I/V6 and QS in V1; RSR' in V1 and a wide S in I/V6) and discordant T waves;
left_anterior_fascicular_block: frontal QRS axis -45..-75 degrees; prolonged_qt: QTc 480-560 ms
(Bazett); low_qrs_voltage: QRS scaled so limb leads stay < 0.5 mV; ischemia: diffuse ST depression
(ST vector towards aVR) with, half of the time, lateral T inversion; myocardial_infarction: ST
elevation with reciprocal depression, Q waves and hyperacute T in a random territory (anterior,
inferior, lateral); first_degree_av_block: PR 220-340 ms; av_block: Mobitz I, Mobitz II, 2:1 or
complete block (chosen from the rate); sinoatrial_block: 1-2 dropped P-QRS-T (pause = 2 RR);
asystole: no QRS (P waves only, or a flat line). Unlabelled patients get sinus rhythm at their
pulse rate; labelled ones without a rate or rhythm finding (non_cardiac, blocks, ischemia, ...)
sinus rhythm at their pulse rate brought into 60-100 bpm, as the experts' labels imply.

Everything random comes from ``numpy.random.default_rng(seed)``: same arguments, same output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

KNOWN_FINDINGS: frozenset[str] = frozenset(
    {
        "non_cardiac", "ischemia", "tachycardia", "sinus_tachycardia", "myocardial_infarction",
        "premature_ventricular_contraction", "low_qrs_voltage", "prolonged_qt",
        "left_bundle_branch_block", "right_bundle_branch_block", "first_degree_av_block", "av_block",
        "ventricular_tachycardia", "sinus_bradycardia", "bradycardia", "sinoatrial_block",
        "premature_atrial_contraction", "left_anterior_fascicular_block", "atrial_flutter",
        "atrial_fibrillation", "asystole",
    }
)

# chest-lead directions in the transverse plane (degrees from the patient's left towards anterior)
# and gains (chest electrodes sit closer to the heart than the limb electrodes)
_CHEST_ANGLE = np.deg2rad([118.0, 98.0, 78.0, 58.0, 34.0, 8.0])
_CHEST_GAIN = np.array([0.95, 1.35, 1.45, 1.35, 1.15, 0.95])
_CHEST_Y = np.array([0.0, 0.0, 0.05, 0.1, 0.15, 0.15])

_FAST = {"tachycardia", "sinus_tachycardia"}
_SLOW = {"sinus_bradycardia", "bradycardia"}
# findings whose rhythm sets its own rate; with none of these (nor a rate finding) a labelled ECG is
# sinus rhythm at 60-100 bpm: outside that range the experts would have labelled it brady/tachycardia
_OWN_RATE = _FAST | _SLOW | {"atrial_fibrillation", "atrial_flutter", "ventricular_tachycardia", "av_block", "asystole"}


def projection_matrix() -> np.ndarray:
    """12x3 matrix mapping the heart vector (x left, y inferior, z anterior) to LEADS."""
    i = np.array([1.0, 0.0, 0.0])
    ii = np.array([0.5, math.sqrt(3) / 2, 0.0])
    rows = [i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2]
    for ang, g, y in zip(_CHEST_ANGLE, _CHEST_GAIN, _CHEST_Y):
        rows.append(g * np.array([math.cos(ang), y, math.sin(ang)]))
    return np.array(rows)


@dataclass
class _Wave:
    center: float  # s (gauss) or J point (plateau)
    width: float  # s: Gaussian sd, or plateau end - J
    vector: np.ndarray  # mV (x, y, z)
    kind: str = "gauss"


@dataclass
class _Morphology:
    """One patient's per-class beat shapes: vectors and relative timings."""

    qrs: dict[str, list[tuple[float, float, np.ndarray]]] = field(default_factory=dict)  # (frac of d, sd frac, vec)
    t_vec: dict[str, np.ndarray] = field(default_factory=dict)
    st_vec: np.ndarray = field(default_factory=lambda: np.zeros(3))
    p_vec: np.ndarray = field(default_factory=lambda: np.array([0.07, 0.12, 0.02]))
    p_ectopic_vec: np.ndarray = field(default_factory=lambda: np.array([0.05, -0.08, 0.03]))
    qrs_d: dict[str, float] = field(default_factory=dict)
    qtc: float = 0.41
    pr: float = 0.16


def _rot(v: np.ndarray, frontal_deg: float, transverse_deg: float) -> np.ndarray:
    """Rotate a heart vector in the frontal (x-y) then transverse (x-z) plane."""
    a, b = math.radians(frontal_deg), math.radians(transverse_deg)
    x, y, z = v
    x, y = x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)
    x, z = x * math.cos(b) - z * math.sin(b), x * math.sin(b) + z * math.cos(b)
    return np.array([x, y, z])


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)


def _morphology(f: set[str], rng: np.random.Generator) -> _Morphology:
    m = _Morphology()
    amp = float(np.exp(rng.normal(0.0, 0.15)))
    frontal = float(rng.normal(0.0, 12.0))
    transverse = float(rng.normal(0.0, 8.0))
    if "left_anterior_fascicular_block" in f:
        # main QRS force of the normal template sits at about +37 degrees; LAFB moves it to -45..-75
        frontal = float(rng.uniform(-75.0, -45.0) - 37.0)

    def vec(*v: float) -> np.ndarray:
        return _rot(np.array(v) * amp, frontal, transverse)

    # (centre as a fraction of QRS duration, sd as a fraction of QRS duration, heart vector)
    m.qrs["normal"] = [
        (0.14, 0.07, vec(-0.10, 0.03, 0.20)),  # septal: q in I/V6, r in V1
        (0.45, 0.12, vec(1.0, 0.75, 0.12)),  # main left ventricular force
        (0.62, 0.11, vec(-0.05, 0.05, -0.70)),  # posterior force: S in V1-V3
        (0.84, 0.08, vec(-0.18, -0.12, -0.05)),  # terminal: small s
    ]
    m.t_vec["normal"] = vec(0.20, 0.20, 0.12) * rng.uniform(0.8, 1.3)
    m.qrs_d["normal"] = rng.uniform(0.08, 0.10)
    if "left_anterior_fascicular_block" in f:
        m.qrs_d["normal"] = rng.uniform(0.095, 0.115)

    m.qrs["lbbb"] = [
        (0.33, 0.14, vec(0.95, 0.35, -0.85)),
        (0.68, 0.13, vec(1.05, 0.25, -0.75)),
    ]
    m.t_vec["lbbb"] = vec(-0.28, -0.06, 0.32)
    m.qrs_d["lbbb"] = rng.uniform(0.13, 0.17)

    m.qrs["rbbb"] = [
        (0.10, 0.06, vec(-0.10, 0.03, 0.22)),
        (0.36, 0.10, vec(1.05, 0.80, -0.30)),
        (0.50, 0.09, vec(-0.05, 0.0, -0.55)),
        (0.80, 0.10, vec(-0.45, -0.08, 0.60)),  # terminal right-anterior force: R' in V1, wide S in I/V6
    ]
    m.t_vec["rbbb"] = vec(0.20, 0.18, -0.16)
    m.qrs_d["rbbb"] = rng.uniform(0.12, 0.15)

    # ventricular ectopic beats: left (RBBB-like) or right (LBBB-like) ventricular origin
    if rng.random() < 0.5:
        ect = [(0.35, 0.13, vec(-0.6, 1.0, 1.4)), (0.72, 0.10, vec(-0.4, 0.3, 0.6))]
    else:
        ect = [(0.35, 0.13, vec(1.3, 0.8, -1.3)), (0.72, 0.10, vec(0.6, 0.4, -0.4))]
    m.qrs["ectopic"] = ect
    main = ect[0][2]
    m.t_vec["ectopic"] = -0.35 * main
    m.qrs_d["ectopic"] = rng.uniform(0.14, 0.18)

    if "low_qrs_voltage" in f:
        for k in m.qrs:
            m.qrs[k] = [(c, s, v * rng.uniform(0.28, 0.38)) for c, s, v in m.qrs[k]]
        for k in m.t_vec:
            m.t_vec[k] = m.t_vec[k] * 0.6
        m.p_vec = m.p_vec * 0.8

    if "ischemia" in f:
        # subendocardial ischaemia: ST vector towards aVR (-150 degrees), diffuse ST depression
        depth = rng.uniform(0.10, 0.22)
        m.st_vec = m.st_vec + depth * np.array([-0.87, -0.50, -0.15])
        if rng.random() < 0.5:
            m.t_vec["normal"] = m.t_vec["normal"] * np.array([-0.8, 0.4, -0.3]) + np.array([0.0, 0.05, 0.0])

    if "myocardial_infarction" in f:
        territory = rng.choice(["anterior", "inferior", "lateral"])
        tv = {
            "anterior": _unit([0.25, 0.0, 1.0]),
            "inferior": _unit([0.0, 1.0, -0.1]),
            "lateral": _unit([1.0, -0.45, 0.15]),
        }[territory]
        m.st_vec = m.st_vec + rng.uniform(0.2, 0.4) * tv
        q = (0.10, 0.07, -rng.uniform(0.25, 0.45) * tv)
        for k in ("normal", "lbbb", "rbbb"):
            m.qrs[k] = [q] + m.qrs[k]
            m.t_vec[k] = m.t_vec[k] + rng.uniform(0.15, 0.3) * tv

    m.qtc = rng.uniform(0.38, 0.44) if "prolonged_qt" not in f else rng.uniform(0.48, 0.56)
    m.pr = rng.uniform(0.13, 0.19) if "first_degree_av_block" not in f else rng.uniform(0.22, 0.34)
    m.p_vec = m.p_vec * rng.uniform(0.8, 1.25)
    return m


@dataclass
class _Schedule:
    p_onsets: list[tuple[float, str]] = field(default_factory=list)  # (time, "sinus" | "ectopic")
    qrs: list[tuple[float, str, float]] = field(default_factory=list)  # (QRS onset, class, preceding RR)
    af: bool = False
    flutter_rate: float | None = None
    flutter_phase: float = 0.0


def _sinus_times(t0: float, t1: float, rr: float, rng: np.random.Generator) -> list[float]:
    """P-onset times with mild respiratory sinus arrhythmia."""
    phase = rng.uniform(0, 2 * np.pi)
    out, t = [], t0
    while t < t1:
        out.append(t)
        t += rr * (1.0 + 0.025 * math.sin(2 * np.pi * 0.25 * t + phase) + 0.008 * rng.normal())
    return out


def _rate(f: set[str], hr: float | None, rng: np.random.Generator) -> float:
    if hr is None or not np.isfinite(hr) or hr <= 0:
        hr = float(rng.uniform(62, 92))
    if f & _FAST and hr <= 100:
        hr = float(rng.uniform(104, 135))
    if f & _SLOW and hr >= 60:
        hr = float(rng.uniform(42, 58))
    if f and not f & _OWN_RATE:
        if hr < 60:
            hr = float(rng.uniform(60, 70))
        elif hr > 100:
            hr = float(rng.uniform(90, 100))
    return float(np.clip(hr, 25, 240))


def _schedule(f: set[str], hr: float, qrs_class: str, pr: float, duration: float, rng: np.random.Generator) -> _Schedule:
    s = _Schedule()
    t0, t1 = -1.6, duration + 0.6
    rr = 60.0 / hr

    if "asystole" in f:
        if rng.random() < 0.6:  # ventricular standstill: P waves without QRS
            s.p_onsets = [(t, "sinus") for t in _sinus_times(t0 + rng.uniform(0, 1.2), t1, 60 / rng.uniform(40, 70), rng)]
        return s

    if "ventricular_tachycardia" in f:
        vt_rate = float(np.clip(hr, 120, 220)) if hr >= 120 else float(rng.uniform(130, 190))
        vrr = 60.0 / vt_rate
        p_times = _sinus_times(t0 + rng.uniform(0, 0.8), t1, 60 / rng.uniform(65, 90), rng)
        s.p_onsets = [(t, "sinus") for t in p_times]  # AV dissociation
        if rng.random() < 0.7:  # VT over the whole strip
            t = t0 + rng.uniform(0, vrr)
            while t < t1:
                s.qrs.append((t, "ectopic", vrr))
                t += vrr * (1 + 0.015 * rng.normal())
            return s
        # a run of non-sustained VT inside sinus rhythm
        s.p_onsets = []
        sinus_rr = 60.0 / float(rng.uniform(70, 95))
        # the run starts 2.5 s in on a 10 s strip; on a short strip (5 s) as early as it must
        earliest = min(2.5, 0.25 * duration)
        start = float(rng.uniform(earliest, max(earliest, duration - 4.0)))
        n_run = int(rng.integers(4, 9))
        t = t0 + rng.uniform(0, sinus_rr)
        while t + pr < start:
            s.p_onsets.append((t, "sinus"))
            s.qrs.append((t + pr, qrs_class, sinus_rr))
            t += sinus_rr
        q = s.qrs[-1][0] + 0.45 * sinus_rr if s.qrs else start
        for _ in range(n_run):
            s.qrs.append((q, "ectopic", vrr))
            q += vrr
        t = q + 0.6 * sinus_rr - pr
        while t < t1:
            s.p_onsets.append((t, "sinus"))
            s.qrs.append((t + pr, qrs_class, sinus_rr))
            t += sinus_rr
        return s

    if "atrial_fibrillation" in f:
        s.af = True
        t = t0 + rng.uniform(0, rr)
        prev = rr
        while t < t1:
            s.qrs.append((t, qrs_class, prev))
            prev = float(np.clip(rr * math.exp(rng.normal(0.0, 0.2)), 0.33, 2.2))
            t += prev
        _add_pvcs(s, f, rr, rng)
        return s

    if "atrial_flutter" in f:
        fr = float(rng.uniform(250, 330))
        ratio = int(np.clip(round(fr / hr), 2, 4))
        s.flutter_rate = fr
        fperiod = 60.0 / fr
        variable = rng.random() < 0.3
        k = 0
        t_first = t0 + rng.uniform(0, fperiod)
        prev = ratio * fperiod
        while True:
            t = t_first + k * fperiod + 0.22
            if t > t1:
                break
            s.qrs.append((t, qrs_class, prev))
            step = int(rng.choice([2, 4])) if variable else ratio
            prev = step * fperiod
            k += step
        s.flutter_phase = t_first  # flutter waves are added as continuous atrial activity
        return s

    av = "av_block" in f
    av_type = None
    if av:
        if hr < 50:
            av_type = str(rng.choice(["complete", "2:1"]))
        else:
            av_type = str(rng.choice(["mobitz1", "mobitz2", "complete"], p=[0.45, 0.3, 0.25]))

    if av_type == "complete":
        atrial = float(rng.uniform(70, 95))
        s.p_onsets = [(t, "sinus") for t in _sinus_times(t0 + rng.uniform(0, 0.8), t1, 60 / atrial, rng)]
        escape = float(hr) if hr < 55 else float(rng.uniform(32, 48))
        esc_class = qrs_class if rng.random() < 0.5 else "ectopic"
        t = t0 + rng.uniform(0, 60 / escape)
        while t < t1:
            s.qrs.append((t, esc_class, 60 / escape))
            t += 60 / escape * (1 + 0.01 * rng.normal())
        return s

    atrial_rr = rr / 2 if av_type == "2:1" else rr
    p_times = _sinus_times(t0 + rng.uniform(0, atrial_rr), t1, atrial_rr, rng)
    conducted = [True] * len(p_times)
    prs = [pr] * len(p_times)
    if av_type == "2:1":
        off = int(rng.integers(0, 2))
        conducted = [(i + off) % 2 == 0 for i in range(len(p_times))]
    elif av_type == "mobitz1":
        cycle = int(rng.integers(3, 6))
        off = int(rng.integers(0, cycle))
        for i in range(len(p_times)):
            pos = (i + off) % cycle
            if pos == cycle - 1:
                conducted[i] = False
            prs[i] = pr + pos * rng.uniform(0.05, 0.08) if pos else pr
    elif av_type == "mobitz2":
        cycle = int(rng.integers(3, 5))
        off = int(rng.integers(0, cycle))
        conducted = [(i + off) % cycle != cycle - 1 for i in range(len(p_times))]

    kinds = ["sinus"] * len(p_times)
    if "sinoatrial_block" in f:
        visible = [i for i, t in enumerate(p_times) if 0.8 < t < duration - 1.5]
        if visible:
            for i in rng.choice(visible, size=min(len(visible), int(rng.integers(1, 3))), replace=False):
                kinds[int(i)] = "dropped"

    if "premature_atrial_contraction" in f:
        p_times, kinds, conducted, prs = _add_pacs(p_times, kinds, conducted, prs, rr, duration, rng)

    prev_q = None
    for t, kind, c, p in zip(p_times, kinds, conducted, prs):
        if kind == "dropped":
            continue
        s.p_onsets.append((t, kind))
        if c:
            q = t + p
            s.qrs.append((q, qrs_class, (q - prev_q) if prev_q is not None else rr))
            prev_q = q
    _add_pvcs(s, f, rr, rng)
    return s


def _add_pacs(p_times, kinds, conducted, prs, rr, duration, rng):
    candidates = [i for i, t in enumerate(p_times) if 0.5 < t < duration - 1.2 and kinds[i] == "sinus"]
    if not candidates:
        return p_times, kinds, conducted, prs
    n = min(len(candidates), int(rng.integers(1, 4)))
    chosen = sorted(int(i) for i in rng.choice(candidates, size=n, replace=False))
    times, ks, cs, ps = list(p_times), list(kinds), list(conducted), list(prs)
    for i in reversed(chosen):
        if i == 0:
            continue
        early = times[i - 1] + rr * rng.uniform(0.6, 0.75)
        shift = early + rr - times[i]  # the sinus node resets: everything after moves
        times = times[:i] + [early] + [t + shift for t in times[i:]]
        ks = ks[:i] + ["ectopic"] + ks[i:]
        cs = cs[:i] + [True] + cs[i:]
        ps = ps[:i] + [prs[i] + 0.01] + ps[i:]
    return times, ks, cs, ps


def _add_pvcs(s: _Schedule, f: set[str], rr: float, rng: np.random.Generator) -> None:
    if "premature_ventricular_contraction" not in f or len(s.qrs) < 4:
        return
    qrs = list(s.qrs)
    idx = [i for i in range(1, len(qrs)) if 0.4 < qrs[i][0] < 9.4]
    if not idx:
        return
    if rng.random() < 0.2:  # bigeminy
        chosen = idx[int(rng.integers(0, 2)) :: 2]
    else:
        chosen = sorted(int(i) for i in rng.choice(idx, size=min(len(idx), int(rng.integers(1, 4))), replace=False))
    for i in chosen:
        prev_q = qrs[i - 1][0]
        rr_local = qrs[i][0] - prev_q
        qrs[i] = (prev_q + rr_local * rng.uniform(0.5, 0.65), "ectopic", rr_local)  # the sinus QRS is replaced
    s.qrs = qrs


def _gauss(out: np.ndarray, t: np.ndarray, fs: int, center: float, sd: float, vec: np.ndarray) -> None:
    lo = max(0, int((center - 4.5 * sd) * fs))
    hi = min(len(t), int((center + 4.5 * sd) * fs) + 2)
    if hi <= lo:
        return
    shape = np.exp(-0.5 * ((t[lo:hi] - center) / sd) ** 2)
    out[:, lo:hi] += vec[:, None] * shape[None, :]


def _plateau(out: np.ndarray, t: np.ndarray, fs: int, j: float, end: float, vec: np.ndarray) -> None:
    lo = max(0, int((j - 0.06) * fs))
    hi = min(len(t), int((end + 0.25) * fs) + 2)
    if hi <= lo:
        return
    tt = t[lo:hi]
    shape = 0.5 * (np.tanh((tt - j) / 0.012) - np.tanh((tt - end) / 0.05))
    out[:, lo:hi] += vec[:, None] * shape[None, :]


def synthesize_12_lead(
    findings: list[str],
    heart_rate_bpm: float | None,
    seed: int,
    duration_s: float = 10.0,
    fs: int = 500,
) -> dict[str, np.ndarray]:
    """A 12-lead ECG in mV (float32, ``duration_s * fs`` samples per lead) consistent with ``findings``.

    ``heart_rate_bpm`` is the patient's pulse (ventricular rate); None/NaN draws a plausible one.
    Unknown finding codes are ignored. Deterministic for a seed.
    """
    if duration_s <= 0 or fs <= 0:
        raise ValueError("duration_s and fs must be positive")
    f = {str(x) for x in (findings or [])} & KNOWN_FINDINGS
    rng = np.random.default_rng(seed)
    hr = _rate(f, None if heart_rate_bpm is None else float(heart_rate_bpm), rng)
    morph = _morphology(f, rng)

    if {"left_bundle_branch_block", "right_bundle_branch_block"} <= f:
        qrs_class = "lbbb" if rng.random() < 0.5 else "rbbb"
    elif "left_bundle_branch_block" in f:
        qrs_class = "lbbb"
    elif "right_bundle_branch_block" in f:
        qrs_class = "rbbb"
    else:
        qrs_class = "normal"

    sched = _schedule(f, hr, qrs_class, morph.pr, duration_s, rng)

    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    heart = np.zeros((3, n))

    for onset, kind in sched.p_onsets:
        vec = morph.p_vec if kind == "sinus" else morph.p_ectopic_vec
        _gauss(heart, t, fs, onset + 0.05, 0.021, vec)

    for q0, cls, prev_rr in sched.qrs:
        d = morph.qrs_d[cls]
        for frac, sd, vec in morph.qrs[cls]:
            _gauss(heart, t, fs, q0 + frac * d, max(sd * d, 0.004), vec)
        qt = morph.qtc * math.sqrt(float(np.clip(prev_rr, 0.3, 1.6)))
        qt = max(qt, d + 0.16)
        if cls == "ectopic":
            qt = max(qt, d + 0.22)
        t_sd = 0.045 * float(np.clip(qt / 0.4, 0.75, 1.35))
        _gauss(heart, t, fs, q0 + qt - 2.4 * t_sd, t_sd, morph.t_vec[cls])
        st = morph.st_vec if cls != "ectopic" else np.zeros(3)
        if np.any(st):
            _plateau(heart, t, fs, q0 + d, q0 + qt - 2.4 * t_sd, st)
        if cls in ("lbbb", "ectopic"):  # secondary (discordant) ST shift of wide complexes
            _plateau(heart, t, fs, q0 + d, q0 + qt - 2.4 * t_sd, 0.25 * morph.t_vec[cls])

    if sched.af:
        vec = _unit([0.2, 0.55, 0.8]) * rng.uniform(0.06, 0.14)
        wave = np.zeros(n)
        for _ in range(4):
            fq = rng.uniform(4.0, 9.0)
            drift = np.cumsum(rng.normal(0, 0.02, n)) / fs
            wave += rng.uniform(0.5, 1.0) * np.sin(2 * np.pi * fq * (t + drift) + rng.uniform(0, 2 * np.pi))
        wave /= np.max(np.abs(wave)) + 1e-9
        heart += vec[:, None] * wave[None, :]
    if sched.flutter_rate:
        fr = sched.flutter_rate / 60.0
        ph = 2 * np.pi * fr * (t - sched.flutter_phase)
        saw = sum(((-1) ** (k + 1)) * np.sin(k * ph) / k for k in range(1, 7))  # smooth saw-tooth
        saw = saw / np.max(np.abs(saw))
        vec = np.array([0.02, -1.0, 0.55]) * rng.uniform(0.12, 0.22)
        heart += vec[:, None] * saw[None, :]

    # baseline wander (respiration) and a little measurement noise, in dipole space so that the
    # limb-lead identities still hold exactly
    for _ in range(2):
        heart += (rng.uniform(0.005, 0.03, 3)[:, None]) * np.sin(
            2 * np.pi * rng.uniform(0.12, 0.4) * t + rng.uniform(0, 2 * np.pi, 3)[:, None]
        )
    heart += rng.normal(0.0, 0.004, heart.shape)

    leads = projection_matrix()[[0, 1] + list(range(6, 12))] @ heart
    i_, ii = leads[0], leads[1]
    out = {
        "I": i_,
        "II": ii,
        "III": ii - i_,
        "aVR": -(i_ + ii) / 2,
        "aVL": i_ - ii / 2,
        "aVF": ii - i_ / 2,
    }
    for k, name in enumerate(LEADS[6:]):
        out[name] = leads[2 + k]
    return {name: out[name].astype(np.float32) for name in LEADS}


def expected_rhythm(findings: list[str]) -> str:
    """The dominant rhythm the generator draws for these findings (for tests and summaries)."""
    f = set(findings or [])
    for code in ("asystole", "ventricular_tachycardia", "atrial_fibrillation", "atrial_flutter", "av_block"):
        if code in f:
            return code
    return "sinus"
