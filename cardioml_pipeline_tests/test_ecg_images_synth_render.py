"""Synthetic 12-lead ECGs (findings -> rate, rhythm, morphology) and the lead renderer."""

from __future__ import annotations

import numpy as np
import pytest

from cardioml_pipeline.ecg_images.qc import detect_beats
from cardioml_pipeline.demo.render import PROCESSED_DPI, RenderSpec, random_render_spec, render_lead
from cardioml_pipeline.demo.synth import LEADS, synthesize_12_lead

FS = 500


def _rr(sig: np.ndarray) -> np.ndarray:
    return np.diff(detect_beats(sig, FS)) / FS


def _template(sig: np.ndarray, beats: np.ndarray, before: float = 0.3, after: float = 0.6) -> np.ndarray:
    a, b = int(before * FS), int(after * FS)
    segs = [sig[p - a : p + b] for p in beats if p - a >= 0 and p + b <= sig.size]
    return np.median(np.stack(segs), axis=0) - np.median(sig)


def test_shape_dtype_leads_and_determinism():
    s = synthesize_12_lead(["myocardial_infarction"], 80, seed=3)
    assert tuple(s) == LEADS == ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    for v in s.values():
        assert v.dtype == np.float32 and v.shape == (5000,) and np.all(np.isfinite(v))
    again = synthesize_12_lead(["myocardial_infarction"], 80, seed=3)
    assert all(np.array_equal(s[k], again[k]) for k in LEADS)
    other = synthesize_12_lead(["myocardial_infarction"], 80, seed=4)
    assert not np.array_equal(s["II"], other["II"])
    short = synthesize_12_lead([], 70, seed=1, duration_s=2.5, fs=250)
    assert short["I"].shape == (625,)


@pytest.mark.parametrize("findings", [[], ["atrial_fibrillation", "left_bundle_branch_block"], ["ventricular_tachycardia"]])
def test_einthoven_and_goldberger(findings):
    s = {k: v.astype(np.float64) for k, v in synthesize_12_lead(findings, 90, seed=11).items()}
    tol = 1e-5
    assert np.max(np.abs(s["III"] - (s["II"] - s["I"]))) < tol
    assert np.max(np.abs(s["aVR"] + (s["I"] + s["II"]) / 2)) < tol
    assert np.max(np.abs(s["aVL"] - (s["I"] - s["II"] / 2))) < tol
    assert np.max(np.abs(s["aVF"] - (s["II"] - s["I"] / 2))) < tol


def test_amplitudes_are_physiological():
    s = synthesize_12_lead([], 72, seed=5)
    p2p = {k: float(np.ptp(v)) for k, v in s.items()}
    assert 0.5 < max(p2p[k] for k in ("I", "II", "aVF")) < 3.5
    assert 0.8 < max(p2p[k] for k in LEADS[6:]) < 4.5


@pytest.mark.parametrize(
    "findings,hr,lo,hi",
    [
        ([], 72, 65, 80), ([], 50, 44, 56), (["non_cardiac"], 95, 86, 104), (["tachycardia"], 80, 100, 140),
        (["sinus_bradycardia"], 75, 38, 60), (["non_cardiac"], 50, 58, 72), (["ischemia"], 120, 88, 102),
    ],
)
def test_rate_follows_pulse_and_findings(findings, hr, lo, hi):
    rr = _rr(synthesize_12_lead(findings, hr, seed=2)["II"])
    assert lo <= 60 / np.median(rr) <= hi


def test_missing_pulse_and_unknown_codes():
    s = synthesize_12_lead(["not_a_code"], None, seed=1)
    rate = 60 / np.median(_rr(s["II"]))
    assert 55 <= rate <= 100
    assert np.all(np.isfinite(synthesize_12_lead([], float("nan"), seed=1)["V2"]))


def test_atrial_fibrillation_is_irregular_and_sinus_is_not():
    cv = lambda rr: float(np.std(rr) / np.mean(rr))  # noqa: E731
    af = [cv(_rr(synthesize_12_lead(["atrial_fibrillation"], 90, seed=k)["II"])) for k in range(3)]
    sinus = [cv(_rr(synthesize_12_lead([], 90, seed=k)["II"])) for k in range(3)]
    assert min(af) > 0.1
    assert max(sinus) < 0.06


def test_ventricular_tachycardia_on_short_strips():
    """The demo renders 5 s strips at normal rates: a run of non-sustained VT must fit in them."""
    for seed in range(40):
        sig = synthesize_12_lead(["ventricular_tachycardia"], 80.0, seed=seed, duration_s=5.0)
        assert sig["II"].size == 5 * FS and np.isfinite(sig["II"]).all()
        assert detect_beats(sig["II"], FS).size >= 2  # at least the wide VT complexes stand out


def test_premature_beats_present():
    for code in ("premature_ventricular_contraction", "premature_atrial_contraction"):
        s = synthesize_12_lead([code], 70, seed=4)
        # an ectopic beat's vector can be perpendicular to a lead; most leads show it
        early = [rr.size > 2 and rr.min() < 0.8 * np.median(rr) for rr in (_rr(s[k]) for k in LEADS)]
        assert sum(early) >= 6, code


def test_bundle_branch_blocks_widen_the_qrs():
    def qrs_width(findings):
        s = synthesize_12_lead(findings, 70, seed=8)
        beats = detect_beats(s["II"], FS)
        # spatial magnitude of the QRS over all leads, aligned on lead II's beats
        mag = np.sqrt(sum(_template(s[k], beats) ** 2 for k in LEADS))
        centre = int(0.3 * FS)
        lo = centre - int(0.12 * FS)
        win = mag[lo : centre + int(0.12 * FS)]
        win = win - np.median(mag[: lo])  # P-R baseline
        return np.count_nonzero(win > 0.2 * win.max()) / FS

    normal = qrs_width([])
    assert qrs_width(["left_bundle_branch_block"]) > normal + 0.03
    assert qrs_width(["right_bundle_branch_block"]) > normal + 0.015


def test_prolonged_qt_moves_the_t_wave_later():
    def t_peak_delay(findings):
        sig = synthesize_12_lead(findings, 65, seed=6)["II"]
        t = _template(sig, detect_beats(sig, FS))
        centre = int(0.3 * FS)
        seg = t[centre + int(0.15 * FS) :]
        return (np.argmax(np.abs(seg)) + int(0.15 * FS)) / FS

    assert t_peak_delay(["prolonged_qt"]) > t_peak_delay([]) + 0.04


def test_low_voltage_and_asystole():
    low = synthesize_12_lead(["low_qrs_voltage"], 80, seed=1)
    assert max(np.ptp(low[k]) for k in LEADS[:6]) < 0.65
    flat = synthesize_12_lead(["asystole"], None, seed=1)
    assert max(np.ptp(v) for v in flat.values()) < 0.5
    assert all(detect_beats(flat[k], FS).size == 0 for k in ("V1", "V5"))


def test_first_degree_block_lengthens_pr():
    def pr(findings):
        sig = synthesize_12_lead(findings, 65, seed=9)["II"]
        t = _template(sig, detect_beats(sig, FS))
        centre = int(0.3 * FS)
        pre = t[: centre - int(0.06 * FS)]  # the P wave is the largest bump before the QRS
        return (centre - int(np.argmax(pre))) / FS

    assert pr(["first_degree_av_block"]) > pr([]) + 0.05


def test_ischemia_depresses_st_and_mi_changes_it():
    base = synthesize_12_lead([], 70, seed=12)["V5"]
    isch = synthesize_12_lead(["ischemia"], 70, seed=12)["V5"]

    def st_level(sig):
        beats = detect_beats(sig, FS)
        t = _template(sig, beats)
        centre = int(0.3 * FS)
        return float(np.median(t[centre + int(0.08 * FS) : centre + int(0.12 * FS)]))

    assert st_level(isch) < st_level(base) - 0.04
    mi = synthesize_12_lead(["myocardial_infarction"], 70, seed=12)
    assert max(abs(st_level(mi[k])) for k in LEADS) > 0.1


def test_render_paper_and_processed_styles():
    sig = synthesize_12_lead([], 70, seed=1)["II"]
    paper = render_lead(sig, FS, RenderSpec(dpi=150, rotation_deg=1.0, noise=0.02, blur=0.5, uneven_light=0.3, seed=2))
    assert paper.dtype == np.uint8 and paper.ndim == 3 and paper.shape[2] == 3
    # 10 s at 25 mm/s plus margins, at 150 dpi
    assert abs(paper.shape[1] - (250 + 12) * 150 / 25.4) < 3
    proc = render_lead(sig, FS, RenderSpec(dpi=PROCESSED_DPI, processed_style=True))
    assert proc.dtype == np.uint8 and proc.ndim == 2
    assert set(np.unique(proc)) <= {0, 255}
    assert (proc == 0).any(axis=0).mean() > 0.95  # cropped to the trace: ink in (almost) every column
    again = render_lead(sig, FS, RenderSpec(dpi=150, rotation_deg=1.0, noise=0.02, blur=0.5, uneven_light=0.3, seed=2))
    assert np.array_equal(paper, again)


def test_random_render_spec_ranges():
    rng = np.random.default_rng(0)
    specs = [random_render_spec(rng) for _ in range(200)]
    assert all(100 <= s.dpi <= 300 and abs(s.rotation_deg) <= 2 and s.grid and not s.processed_style for s in specs)
    assert max(s.noise for s in specs) > 0 and max(s.blur for s in specs) > 0 and max(s.uneven_light for s in specs) > 0
    p = random_render_spec(rng, processed_style=True)
    assert p.processed_style and not p.grid and p.dpi == PROCESSED_DPI


def test_render_rejects_bad_arguments():
    with pytest.raises(ValueError):
        render_lead(np.zeros(100), FS, RenderSpec(dpi=20))
    with pytest.raises(ValueError):
        render_lead(np.zeros(1), FS, RenderSpec())


@pytest.mark.parametrize("findings,hr", [([], 75), (["atrial_fibrillation"], 95), (["left_bundle_branch_block"], 70), (["tachycardia"], 120)])
def test_neurokit2_agrees_on_the_beats(findings, hr):
    """An independent detector (neurokit2) sees the same beats as ours on the synthetic signal."""
    import warnings

    import neurokit2 as nk

    sig = synthesize_12_lead(findings, hr, seed=7)["II"].astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, info = nk.ecg_peaks(nk.ecg_clean(sig, sampling_rate=FS), sampling_rate=FS)
    assert abs(len(info["ECG_R_Peaks"]) - detect_beats(sig, FS).size) <= 1
