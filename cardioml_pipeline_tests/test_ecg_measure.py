"""ECG measurements (features.ecg_measure through the feature layer) on signals with known truth,
on LUDB's cardiologists' annotations, and the `cardioml measure` command.

The synthetic 12-lead ECGs here are built from a heart vector (x left, y inferior, z anterior)
projected on the leads, so Einthoven's relations hold and every wave starts and ends exactly
where stated: QRS parts are triangles (a clear onset and J point), P and T waves are rounded
(Hann) bumps. Each finding of issue 14 is a test here that failed on ecg-features-1.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from cardioml_pipeline.features.ecg import LEADS, extract_lead_features, patient_ecg_features
from cardioml_pipeline.features.ecg_measure import measure_ecg
from cardioml_pipeline_tests.conftest import require_shared

FS = 500
ROOT = Path(__file__).resolve().parents[1]
LUDB = ROOT.parent / "shared" / "datasets" / "ludb"
BIN = Path(sys.executable).parent

# heart vector -> leads: I = x, II = x/2 + y sqrt(3)/2, the other limb leads derived from I and II;
# chest leads on transverse-plane directions from V1 (right, anterior) to V6 (left)
_CHEST = [(118.0, 0.95), (98.0, 1.35), (78.0, 1.45), (58.0, 1.35), (34.0, 1.15), (8.0, 0.95)]


def project(vec: tuple[float, float, float]) -> dict[str, float]:
    x, y, z = vec
    i, ii = x, x / 2 + y * math.sqrt(3) / 2
    out = {"I": i, "II": ii, "III": ii - i, "aVR": -(i + ii) / 2, "aVL": i - ii / 2, "aVF": ii - i / 2}
    for k, (angle, gain) in enumerate(_CHEST):
        a = math.radians(angle)
        out[f"V{k + 1}"] = gain * (x * math.cos(a) + z * math.sin(a))
    return out


def triangle(t: np.ndarray, start: float, stop: float) -> np.ndarray:
    mid = (start + stop) / 2
    return np.clip(1 - np.abs(t - mid) / ((stop - start) / 2), 0, None)


def hann(t: np.ndarray, start: float, stop: float) -> np.ndarray:
    u = (t - start) / (stop - start)
    return np.where((u >= 0) & (u <= 1), 0.5 * (1 - np.cos(2 * np.pi * u)), 0.0)


NORMAL = {
    "q": (-0.1, 0.0, -0.05),
    "r": (0.5, 0.8, 0.35),
    "s": (-0.3, -0.2, -0.5),
    "p": (0.08, 0.12, 0.0),
    "t": (0.2, 0.25, 0.15),
}
# net QRS vector: the triangles' areas (q 20 %, R and S 40 % of the QRS) times their vectors
NET_QRS = tuple(0.2 * q + 0.4 * r + 0.4 * s for q, r, s in zip(NORMAL["q"], NORMAL["r"], NORMAL["s"]))


def twelve_lead(
    hr: float = 70.0,
    pr: float = 160.0,
    qrs: float = 90.0,
    qt: float = 380.0,
    seconds: float = 10.0,
    vectors: dict | None = None,
    st: tuple[float, float, float] = (0.0, 0.0, 0.0),
    p_waves: str = "sinus",  # sinus | none | dissociated | flutter
    atrial_rate: float = 75.0,
    pvc_beats: tuple[int, ...] = (),
    noise: float = 0.01,
    seed: int = 0,
    flutter_phase_ms: float = 0.0,
    atrial_spike_mv: float = 0.0,
    ventricular_spike_mv: float = 0.0,
) -> dict[str, np.ndarray]:
    """12 leads (mV, FS Hz): QRS onset every 60000/hr ms from 400 ms, P wave (90 ms) starting `pr`
    before it, QRS of `qrs` ms (q 0-20 %, R 20-60 %, S 60-100 %), ST level `st` from the J point to
    the T wave, T wave ending at QRS onset + qt. PVC beats (by index) are wide (160 ms), early
    and without a P wave; 'dissociated' P waves march at `atrial_rate` (complete AV block);
    'flutter' is a continuous saw-tooth at `atrial_rate` (negative in the inferior leads, as in
    typical flutter; its cycle starts at `flutter_phase_ms`). A pacing spike (one sample, on all
    leads) of `atrial_spike_mv` 10 ms before each P wave, of `ventricular_spike_mv` 2 ms before
    each QRS."""
    v = {**NORMAL, **(vectors or {})}
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS * 1000.0
    heart = np.zeros((3, len(t)))

    def add(vec, shape):
        heart[:] += np.asarray(vec, dtype=float)[:, None] * shape[None, :]

    rr = 60000.0 / hr
    onsets = list(np.arange(400.0, t[-1] - qt - 50, rr))
    for k, on in enumerate(onsets):
        if k in pvc_beats:
            on -= 0.3 * rr  # premature
            add((-0.9, -0.6, -0.8), triangle(t, on, on + 160))
            add((0.5, 0.4, 0.5), hann(t, on + 200, on + 460))
            continue
        if p_waves == "sinus":
            add(v["p"], hann(t, on - pr, on - pr + 90))
        add(v["q"], triangle(t, on, on + 0.2 * qrs))
        add(v["r"], triangle(t, on + 0.2 * qrs, on + 0.6 * qrs))
        add(v["s"], triangle(t, on + 0.6 * qrs, on + qrs))
        t_start = max(on + qrs + 40.0, on + qt - 220.0)
        if any(st):
            add(st, ((t >= on + qrs) & (t < t_start)).astype(float))
        add(v["t"], hann(t, t_start, on + qt))
    if p_waves == "dissociated":
        for on in np.arange(130.0, t[-1] - 100, 60000.0 / atrial_rate):
            add(v["p"], hann(t, on, on + 90))
    if p_waves == "flutter":
        phase = 2 * np.pi * atrial_rate / 60000.0 * (t - flutter_phase_ms)
        saw = sum((-1) ** (k + 1) * np.sin(k * phase) / k for k in range(1, 7))
        add((0.0, -0.15, 0.075), saw / np.abs(saw).max())
    for size, before in ((atrial_spike_mv, pr + 10.0), (ventricular_spike_mv, 2.0)):
        if size:
            spike = np.zeros(len(t))
            for k, on in enumerate(onsets):
                if k not in pvc_beats:
                    spike[int(round((on - before) * FS / 1000.0))] = 1.0
            add((0.6 * size, 0.8 * size, -0.3 * size), spike)
    signals = {}
    for lead in LEADS:
        weights = np.array([project(e)[lead] for e in ((1, 0, 0), (0, 1, 0), (0, 0, 1))])
        signals[lead] = (weights @ heart + rng.normal(0, noise, len(t)) + 0.03 * np.sin(2 * np.pi * 0.25 * t / 1000)).astype(np.float32)
    return signals


def features_of(signals: dict[str, np.ndarray], file_number: int = 1) -> tuple[dict, pl.DataFrame]:
    """The patient's ECG features (features.patient_features' ECG block) and its lead table."""
    frame = pl.DataFrame(
        {
            "file_number": [file_number] * len(signals),
            "lead": list(signals),
            "sampling_rate_hz": [FS] * len(signals),
            "signal_mv": [np.asarray(x, dtype=np.float32).tolist() for x in signals.values()],
            "qc_passed": [True] * len(signals),
            "source_sha256": [f"sha-{lead}" for lead in signals],
            "processing_version": ["test"] * len(signals),
        },
        schema_overrides={"signal_mv": pl.List(pl.Float32)},
    )
    table = extract_lead_features(frame)
    wide = patient_ecg_features(table, pl.Series([file_number]))
    return wide.row(0, named=True), table


# ---------------------------------------------------------------------------------------------
# Findings of issue 14, each on a signal with known truth.


def test_r_and_s_amplitudes_are_not_shrunk_by_smoothing():
    """R fell 14-43 % (V2 0.29 -> 0.17 mV) and S 10-45 % on neurokit2's smoothed signal."""
    signals = twelve_lead()
    q, r, s = project(NORMAL["q"]), project(NORMAL["r"]), project(NORMAL["s"])
    features, _ = features_of(signals)
    # leads with a plain qRS (q <= 0 < R, S < 0): each part measured where it is
    plain = [lead for lead in LEADS if q[lead] <= 0 < r[lead] and s[lead] < -0.1 and r[lead] > 0.2]
    assert {"II", "V2", "V3", "V4"} <= set(plain)
    for lead in plain:
        assert features[f"ecg_{lead.lower()}_r_amplitude_mv"] == pytest.approx(r[lead], rel=0.08, abs=0.02), lead
        assert features[f"ecg_{lead.lower()}_s_amplitude_mv"] == pytest.approx(s[lead], rel=0.08, abs=0.02), lead
        if q[lead] < -0.04:
            assert features[f"ecg_{lead.lower()}_q_amplitude_mv"] == pytest.approx(q[lead], rel=0.2, abs=0.02), lead
    assert features["ecg_r_amplitude_max_mv"] == pytest.approx(max(r.values()), rel=0.08)
    assert features["ecg_s_amplitude_min_mv"] == pytest.approx(min(s.values()), rel=0.08)


@pytest.mark.parametrize("case", ["t_inversion", "pvc", "complete_av_block", "rate_110"])
def test_qt_in_common_hard_cases(case):
    if case == "t_inversion":  # ischemia: ST depression, inverted lateral T waves
        signals = twelve_lead(qt=390, vectors={"t": (-0.3, -0.1, -0.25)}, st=(-0.05, -0.05, 0.0))
        truth = 390
    elif case == "pvc":
        signals = twelve_lead(hr=66, qt=383, pvc_beats=(3,))
        truth = 383
    elif case == "complete_av_block":
        signals = twelve_lead(hr=40, qt=364, p_waves="dissociated", atrial_rate=83)
        truth = 364
    else:
        signals = twelve_lead(hr=110, pr=140, qt=300)
        truth = 300
    features, _ = features_of(signals)
    assert features["ecg_qt_ms"] == pytest.approx(truth, abs=25), case
    rr_s = features["ecg_rr_mean_ms"] / 1000
    assert features["ecg_qtc_ms"] == pytest.approx(features["ecg_qt_ms"] / math.sqrt(rr_s), rel=1e-6)
    assert features["ecg_qtc_fridericia_ms"] == pytest.approx(features["ecg_qt_ms"] / rr_s ** (1 / 3), rel=1e-6)
    assert features["ecg_qtc_ms"] < 520 and features["ecg_qtc_fridericia_ms"] < 500


def test_an_implausible_qt_is_null_with_a_reason_not_an_absurd_value():
    from cardioml_pipeline.features.ecg_measure import measure_ecg

    signals = twelve_lead(hr=40, qt=730)  # beyond the 200-700 ms range
    result = measure_ecg(signals, FS)
    assert result["qt_ms"] is None and result["qtc_bazett_ms"] is None and result["qtc_fridericia_ms"] is None
    assert "outside the physiological range" in result["null_reasons"]["qt_ms"]
    features, table = features_of(signals)
    assert features["ecg_qt_ms"] is None and features["ecg_qtc_ms"] is None
    assert any(r.startswith("qt_ms: ") for r in table["global_null_reasons"][0])


def _synth_module():
    for name in ("cardioml_pipeline.demo.synth", "cardioml_pipeline.ecg_images.synth"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    pytest.fail("the project's ECG synthesizer is in neither demo/ nor ecg_images/")


@pytest.mark.parametrize("rhythm, rate", [("atrial_fibrillation", 95.0), ("atrial_flutter", 70.0)])
def test_no_pr_in_atrial_fibrillation_or_flutter(rhythm, rate):
    """PR was reported in AF and flutter (146-241 ms, from f/F waves). Flutter is told here by the
    stretch before the QRS repeating faster than 240/min, which needs a TP stretch of about
    300 ms: 4:1 flutter. 2:1 flutter has its own test below."""
    synth = _synth_module()
    for seed in (1, 2, 3):
        signals = synth.synthesize_12_lead([rhythm], rate, seed=seed)
        features, table = features_of(signals)
        assert features["ecg_pr_ms"] is None, (rhythm, seed, features["ecg_pr_ms"])
        assert features["ecg_p_duration_ms"] is None
        assert any(r.startswith("pr_ms: ") for r in table["global_null_reasons"][0])
        assert features["ecg_heart_rate_bpm"] is not None


def test_pr_of_sinus_rhythm_and_its_absence_are_told_apart():
    features, _ = features_of(twelve_lead(pr=180))
    assert features["ecg_pr_ms"] == pytest.approx(180, abs=15)
    assert features["ecg_p_axis_deg"] == pytest.approx(math.degrees(math.atan2(0.12, 0.08)), abs=8)
    features, _ = features_of(twelve_lead(p_waves="none"))
    assert features["ecg_pr_ms"] is None


@pytest.mark.parametrize("qt", [300, 320])
def test_no_pr_in_2_to_1_atrial_flutter(qt):
    """2:1 flutter (F waves at 300/min, QRS at 150/min) got a PR (LUDB record 35: 216 ms): one F
    wave sits before the QRS, where it is taken for a P wave, and the stretch before the QRS is too
    short for the flutter autocorrelation. The next F wave sits half an RR earlier, on the ST-T: the
    'P wave' repeated there is what tells 2:1 flutter from a P wave."""
    for seed in (0, 1, 2):
        signals = twelve_lead(hr=150, qt=qt, p_waves="flutter", atrial_rate=300, flutter_phase_ms=40, seed=seed)
        result = measure_ecg(signals, FS)
        assert result["heart_rate_bpm"] == pytest.approx(150, abs=2)
        assert result["pr_ms"] is None and result["p_duration_ms"] is None, (qt, seed, result["pr_ms"])
        assert "2:1 atrial flutter" in result["null_reasons"]["pr_ms"]


@pytest.mark.parametrize(
    "hr, pr, qt",
    [(150, 130, 260), (140, 120, 280), (160, 110, 250), (170, 120, 240), (120, 160, 300), (125, 280, 300), (110, 320, 320)],
)
def test_sinus_tachycardia_and_first_degree_block_keep_their_pr(hr, pr, qt):
    """The 2:1 flutter rule looks for the P wave half an RR earlier: in sinus tachycardia (P close
    to the previous T wave) and first-degree AV block (P on the T wave) it must not fire."""
    result = measure_ecg(twelve_lead(hr=hr, pr=pr, qt=qt), FS)
    assert result["pr_ms"] is not None, result["null_reasons"].get("pr_ms")


@pytest.mark.parametrize("spike_mv", [0.3, 2.0])
def test_no_pr_in_an_atrially_paced_rhythm(spike_mv):
    """An atrial pacing spike before the P wave (LUDB record 45, A+V pacing: PR 172 ms reported,
    no P wave marked by the cardiologists): the rhythm is paced, PR is null with the reason. A
    ventricular spike after a sinus P wave (P-synchronous pacing) keeps the PR."""
    result = measure_ecg(twelve_lead(hr=70, pr=160, atrial_spike_mv=spike_mv), FS)
    assert result["pr_ms"] is None and result["p_duration_ms"] is None, result["pr_ms"]
    assert result["null_reasons"]["pr_ms"].startswith("paced rhythm: atrial pacing spike")
    assert result["qrs_ms"] is not None and result["heart_rate_bpm"] == pytest.approx(70, abs=1.5)
    result = measure_ecg(twelve_lead(hr=70, pr=160, ventricular_spike_mv=spike_mv), FS)
    assert result["pr_ms"] == pytest.approx(160, abs=15), result["null_reasons"].get("pr_ms")


def test_pr_of_a_p_wave_running_into_the_qrs():
    """A P wave that ends at (or 10 ms before) the QRS onset gave no PR: its descending limb was cut
    off by the search window's end 40 ms before the QRS, and the baseline taken in the 100 ms before
    the QRS lay inside the P wave."""
    for pr in (95, 100):
        features, _ = features_of(twelve_lead(pr=pr))
        assert features["ecg_pr_ms"] == pytest.approx(pr, abs=15), pr


@pytest.mark.parametrize("qrs", [90, 150])
def test_global_qrs_is_not_the_longest_lead(qrs):
    """ecg_qrs_max_ms read 106-192 ms on normal ECGs and overestimated LBBB by 32-46 ms."""
    features, _ = features_of(twelve_lead(qrs=qrs, qt=qrs + 300))
    # The boundaries are found on median beats low-passed at 35 Hz (ecg-features-4), which rounds
    # the synthetic triangles' corners - steep to flat at once, unlike a recorded QRS - into a
    # tail of about 7 ms at each end: 106 and 164 ms here. Walking back in on the unfiltered
    # slope (at most 4-10 ms) reads 92-98 / 152-156 but takes the LUDB QRS p90 from 14.0 to
    # 20-22 ms, so the bound stays at +18; the longest lead of ecg-features-1 read 120 and 178 ms
    # on these signals, still caught
    assert qrs - 6 <= features["ecg_qrs_ms"] <= qrs + 18
    assert qrs - 6 <= features["ecg_qrs_max_ms"] <= qrs + 18


def test_st_is_isoelectric_at_133_bpm():
    """ST deviation at J+60 ms read +0.09 mV at 133 bpm: above 100 bpm it is taken at J+40 ms."""
    features, _ = features_of(twelve_lead(hr=133, pr=120, qt=280))
    assert abs(features["ecg_st_deviation_max_mv"]) < 0.05
    assert abs(features["ecg_st_deviation_min_mv"]) < 0.05


def test_st_elevation_and_t_polarity_per_lead():
    # QT 400 ms: an ST segment of 90 ms before the T wave starts. With QT 380 the synthetic ST
    # plateau (a 0.2 mV step at the J point, gone at once where the T wave starts, 70 ms later)
    # puts J+60 past the plateau: the 35 Hz low-pass reads the instant step as QRS and the J point
    # 18 ms late (QRS 108 for 90). Real ST elevation does not jump in 0 ms: on LUDB's 7 STEMI
    # records of 1-100 the J point is within -8..+8 ms of the cardiologists'; at QT >= 390 ST at
    # J+60 reads 0.172 for 0.173
    signals = twelve_lead(qt=400, st=(0.0, 0.2, 0.0), vectors={"t": (0.3, -0.3, 0.0)})
    features, table = features_of(signals)
    st = project((0.0, 0.2, 0.0))
    for lead in ("II", "III", "aVF", "I"):
        assert features[f"ecg_{lead.lower()}_st_deviation_mv"] == pytest.approx(st[lead], abs=0.04), lead
        assert features[f"ecg_{lead.lower()}_st_j_mv"] == pytest.approx(st[lead], abs=0.06), lead
    t = project((0.3, -0.3, 0.0))
    assert features["ecg_avl_t_polarity"] == 1 and t["aVL"] > 0
    assert features["ecg_avf_t_polarity"] == -1 and t["aVF"] < 0
    assert features["ecg_qrs_axis_deg"] == pytest.approx(math.degrees(math.atan2(NET_QRS[1], NET_QRS[0])), abs=10)


def test_heart_rate_from_all_leads():
    features, _ = features_of(twelve_lead(hr=72, pvc_beats=(4,)))
    assert features["ecg_heart_rate_bpm"] == pytest.approx(72, abs=2.5)  # the PVC's short and long RR average out


# ---------------------------------------------------------------------------------------------
# LUDB: cardiologists' annotations (records 1-100, the development half).


def _benchmark():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return importlib.import_module("ecg_measurements")
    finally:
        sys.path.pop(0)


def test_ludb_intervals_agree_with_the_cardiologists():
    require_shared(LUDB)
    from cardioml_pipeline.features.ecg_measure import measure_record

    bench = _benchmark()
    errors: dict[str, list[float]] = {k: [] for k in ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms")}
    pr_without_p = []
    for n in range(1, 41):
        path = LUDB / "data" / f"{n}.hea"
        reference = bench.reference(path.with_suffix(""))
        got = measure_record(path)
        if not reference["has_p"]:
            pr_without_p.append(got["pr_ms"])
            continue
        for k in errors:
            if got[k] is not None and reference[k] is not None:
                errors[k].append(abs(got[k] - reference[k]))
    assert np.median(errors["heart_rate_bpm"]) <= 0.5
    assert np.median(errors["pr_ms"]) <= 8 and len(errors["pr_ms"]) >= 25
    assert np.median(errors["qrs_ms"]) <= 8
    assert np.median(errors["qt_ms"]) <= 12
    assert all(v is None for v in pr_without_p), pr_without_p


def test_ludb_ventricular_paced_qrs_starts_after_the_pacing_spike():
    """On ventricular-paced records the QRS onset walked back across the pacemaker spike (its
    shoulders survive the spike filter), so the QRS read 20-55 ms long. The records are chosen by
    LUDB's own metadata (unipolar ventricular pacing only), not by hand."""
    require_shared(LUDB)
    import csv

    from cardioml_pipeline.features.ecg_measure import measure_record

    bench = _benchmark()
    with open(LUDB / "ludb.csv", newline="") as handle:
        paced = [
            int(row["ID"])
            for row in csv.DictReader(handle)
            if int(row["ID"]) <= 100 and "Unipolar ventricular pacing" in row["Cardiac pacing"] and "atrial pacing" not in row["Cardiac pacing"]
        ]
    assert len(paced) >= 3, paced
    errors = []
    for n in paced:
        path = LUDB / "data" / f"{n}.hea"
        errors.append(measure_record(path)["qrs_ms"] - bench.reference(path.with_suffix(""))["qrs_ms"])
    assert np.mean(np.abs(errors)) <= 15, dict(zip(paced, errors))
    assert max(errors) <= 40, dict(zip(paced, errors))


@pytest.mark.parametrize("half", ["odd", "even"])
def test_ludb_qrs_p90_within_15_ms_in_each_half(half):
    """QRS p90 on LUDB 1-100 was 21.2 ms (odd records 18.1, even 28.3): on noisy or fragmented
    complexes the small fast wiggles at the QRS ends added up in the spatial velocity and moved the
    offset 15-45 ms late (records 56, 12, 52, 93). The boundaries are now taken on the median beats
    low-passed at 35 Hz; the constants were swept on the odd records, and the even ones check
    that the result holds on records they were not chosen on."""
    require_shared(LUDB)
    from cardioml_pipeline.features.ecg_measure import measure_record

    bench = _benchmark()
    errors = {}
    for n in range(1 if half == "odd" else 2, 101, 2):
        path = LUDB / "data" / f"{n}.hea"
        got, reference = measure_record(path)["qrs_ms"], bench.reference(path.with_suffix(""))["qrs_ms"]
        if got is not None and reference is not None:
            errors[n] = got - reference
    assert len(errors) >= 48
    assert np.percentile(np.abs(list(errors.values())), 90) <= 15, errors
    assert np.median(np.abs(list(errors.values()))) <= 6, errors


def test_ludb_pr_where_the_cardiologists_marked_p_waves():
    """73 of the 85 records of LUDB 1-100 with P waves marked got a PR; 8 of the 12 misses were
    'no P wave found' (a P wave running into the QRS, seen from a baseline inside it as a step),
    and 2 were sinus records taken for atrial flutter. PR is null on all 15 records without P
    waves (AF, flutter, paced; it was given on 2: 2:1 flutter and atrial pacing), and neither
    the 2:1 flutter rule nor the atrial pacing rule fires on a record LUDB does not describe so."""
    require_shared(LUDB)
    from cardioml_pipeline.features.ecg_measure import measure_record

    bench = _benchmark()
    with open(LUDB / "ludb.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    sinus = {int(row["ID"]) for row in rows if row["Rhythms"].strip().lower().startswith("sinus")}
    atrially_paced = {int(row["ID"]) for row in rows if "atrial pacing" in row["Cardiac pacing"].lower()}
    with_p, errors, pr_without_p, sinus_as_flutter, paced_by_mistake = 0, [], 0, [], []
    for n in range(1, 101):
        path = LUDB / "data" / f"{n}.hea"
        measured = measure_record(path)
        reference, got = bench.reference(path.with_suffix("")), measured["pr_ms"]
        if n in sinus and "flutter" in measured["null_reasons"].get("pr_ms", ""):
            sinus_as_flutter.append(n)
        if n not in atrially_paced and measured["null_reasons"].get("pr_ms", "").startswith("paced rhythm"):
            paced_by_mistake.append(n)
        if not reference["has_p"]:
            pr_without_p += got is not None
            continue
        with_p += 1
        if got is not None and reference["pr_ms"] is not None:
            errors.append(abs(got - reference["pr_ms"]))
    assert with_p == 85
    assert sinus_as_flutter == [] and paced_by_mistake == []
    assert len(errors) >= 81, len(errors)
    assert np.median(errors) <= 8 and np.percentile(errors, 90) <= 20
    assert pr_without_p == 0


def test_ludb_2_to_1_flutter_and_atrial_pacing_have_no_pr():
    """Record 35 (typical flutter, 2:1: F waves at twice the ventricular rate) got PR 216 ms from an
    F wave 48 ms before the QRS, and record 45 (atrial and ventricular pacing) PR 172 ms from the
    atrial spike and the paced P wave; the cardiologists marked no P wave in either. The records'
    rhythms are checked in LUDB's own description; the code reads only the signals."""
    require_shared(LUDB)
    from cardioml_pipeline.features.ecg_measure import measure_record

    with open(LUDB / "ludb.csv", newline="") as handle:
        rows = {int(row["ID"]): row for row in csv.DictReader(handle)}
    assert rows[35]["Rhythms"].strip().lower().startswith("atrial flutter")
    assert "atrial pacing" in rows[45]["Cardiac pacing"].lower()
    flutter = measure_record(LUDB / "data" / "35.hea")
    assert flutter["pr_ms"] is None and flutter["p_duration_ms"] is None
    assert "2:1 atrial flutter" in flutter["null_reasons"]["pr_ms"]
    assert flutter["heart_rate_bpm"] == pytest.approx(131, abs=2) and flutter["qrs_ms"] is not None
    paced = measure_record(LUDB / "data" / "45.hea")
    assert paced["pr_ms"] is None and paced["p_duration_ms"] is None
    assert paced["null_reasons"]["pr_ms"].startswith("paced rhythm: atrial pacing spike")


# ---------------------------------------------------------------------------------------------
# `cardioml measure`.

REQUIRED = [
    "record", "heart_rate_bpm", "rr_mean_ms", "pr_ms", "p_duration_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms",
    "qtc_fridericia_ms", "p_axis_deg", "qrs_axis_deg", "t_axis_deg", "leads",
]


def write_record(folder: Path, name: str, signals: dict[str, np.ndarray], fs: int) -> Path:
    import wfdb

    names = list(signals)
    data = np.column_stack([np.asarray(signals[n], dtype=np.float64) for n in names])
    wfdb.wrsamp(name, fs=fs, units=["mV"] * len(names), sig_name=names, p_signal=data, fmt=["16"] * len(names), write_dir=str(folder))
    return folder / f"{name}.hea"


def measure(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "cardioml"), "measure", *args], capture_output=True, text=True, timeout=120)


def test_measure_any_sampling_rate_and_few_leads(tmp_path):
    full = twelve_lead(hr=75, pr=170, qrs=96, qt=390)
    # 250 Hz, three leads, lower-case WFDB names
    signals = {name.lower(): x[::2] for name, x in full.items() if name in ("I", "II", "V2")}
    path = write_record(tmp_path, "rec250", signals, 250)
    one = write_record(tmp_path, "lead2", {"II": full["II"]}, FS)
    done = measure(str(path), str(one))
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert [r["record"] for r in results] == [str(path), str(one)]
    for r in results:
        assert list(r)[: len(REQUIRED)] == REQUIRED
        assert r["heart_rate_bpm"] == pytest.approx(75, abs=1.5)
        assert r["qrs_ms"] == pytest.approx(96, abs=16)
        assert r["qt_ms"] == pytest.approx(390, abs=30)
    assert set(results[0]["leads"]) == {"I", "II", "V2"}
    assert results[0]["pr_ms"] == pytest.approx(170, abs=20)
    assert set(results[0]["leads"]["V2"]) >= {"p_amplitude_mv", "q_amplitude_mv", "r_amplitude_mv", "s_amplitude_mv", "t_amplitude_mv", "st_j_mv", "st_j60_mv", "t_polarity"}
    assert results[0]["leads"]["V2"]["r_amplitude_mv"] == pytest.approx(project(NORMAL["r"])["V2"], rel=0.15)
    assert results[0]["leads"]["V2"]["s_amplitude_mv"] == pytest.approx(project(NORMAL["s"])["V2"], rel=0.15)


def test_measure_reports_bad_records_and_measures_the_others(tmp_path):
    good = write_record(tmp_path, "good", twelve_lead(hr=60), FS)
    flat = write_record(tmp_path, "flat", {n: np.zeros(5000) for n in ("I", "II")}, FS)
    garbage = tmp_path / "garbage.hea"
    garbage.write_text("this is not a WFDB header\n")
    truncated = write_record(tmp_path, "truncated", twelve_lead(hr=60), FS)
    (tmp_path / "truncated.dat").write_bytes((tmp_path / "truncated.dat").read_bytes()[:100])
    missing = tmp_path / "missing.hea"
    done = measure(str(garbage), str(good), str(missing), str(flat), str(truncated))
    assert done.returncode == 1
    results = json.loads(done.stdout)
    assert [r["record"] for r in results] == [str(good)]
    assert results[0]["heart_rate_bpm"] == pytest.approx(60, abs=1)
    errors = [line for line in done.stderr.splitlines() if line.startswith("cardioml measure: ")]
    for bad in (garbage, missing, flat, truncated):
        assert any(str(bad) in line for line in errors), (bad, done.stderr)
    assert "no such WFDB header" in done.stderr and "cannot be measured" in done.stderr
    assert "Traceback" not in done.stderr


def test_measure_csv_and_table(tmp_path):
    a = write_record(tmp_path, "a", twelve_lead(hr=60), FS)
    b = write_record(tmp_path, "b", twelve_lead(hr=90, qt=340, p_waves="none"), FS)
    done = measure(str(a), str(b), "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["record"] for r in rows] == [str(a), str(b)]
    assert set(REQUIRED[:-1]) <= set(rows[0])
    assert "V2_r_amplitude_mv" in rows[0] and "aVF_t_polarity" in rows[0]
    assert float(rows[1]["heart_rate_bpm"]) == pytest.approx(90, abs=1.5)
    assert rows[1]["pr_ms"] == ""  # null: no P waves
    table = measure(str(a), "--format", "table")
    assert table.returncode == 0
    header = table.stdout.splitlines()[0].split()
    assert header[:4] == ["record", "heart_rate_bpm", "rr_mean_ms", "pr_ms"]


def test_measure_ludb_records_with_and_without_p_waves():
    require_shared(LUDB)
    sinus, af = LUDB / "data" / "2.hea", LUDB / "data" / "38.hea"
    done = measure(str(sinus), str(af))
    assert done.returncode == 0, done.stderr
    a, b = json.loads(done.stdout)
    assert set(a["leads"]) == set(LEADS)
    assert a["pr_ms"] is not None and b["pr_ms"] is None
    assert b["null_reasons"]["pr_ms"]
