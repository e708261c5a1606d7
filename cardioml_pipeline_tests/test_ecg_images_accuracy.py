"""Digitization accuracy: demo images against the signals they were drawn from, and a real PTB-XL record.

Metric: `signal_agreement` (PhysioNet/CinC 2024 style: best whole-sample alignment within +/-0.2 s,
constant offset removed, Pearson r and SNR in dB). The PTB-XL record is read from
`../shared/datasets/wfdb-records` (skipped with the reason where that folder is absent, never in CI).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sps

from cardioml_pipeline.ecg_images.digitize import signal_agreement
from cardioml_pipeline.ecg_images.pipeline import PROCESSING_VERSION, process_lead_image
from cardioml_pipeline.demo.render import RenderSpec, random_render_spec, render_lead
from cardioml_pipeline.demo.synth import LEADS, synthesize_12_lead
from cardioml_pipeline_tests.conftest import require_shared

FS = 500
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

FINDINGS = [
    [], ["non_cardiac"], ["atrial_fibrillation"], ["left_bundle_branch_block"], ["right_bundle_branch_block"],
    ["myocardial_infarction"], ["premature_ventricular_contraction"], ["ventricular_tachycardia"], ["ischemia"],
    ["prolonged_qt"], ["av_block"], ["low_qrs_voltage"], ["sinus_bradycardia"], ["tachycardia"], ["atrial_flutter"],
    ["premature_atrial_contraction"], ["first_degree_av_block", "left_anterior_fascicular_block"], ["sinoatrial_block"],
    ["ischemia", "premature_ventricular_contraction"], [],
]


def _shared(sub: str) -> Path:
    return require_shared(SHARED / sub)


@pytest.fixture(scope="module")
def demo_results():
    """20 patients x 12 leads: paper style with random scan artefacts, a quarter processed style."""
    rng = np.random.default_rng(2024)
    rows = []
    for i, findings in enumerate(FINDINGS):
        pulse = float(rng.uniform(55, 100))
        sig = synthesize_12_lead(findings, pulse, seed=100 + i)
        for lead in LEADS:
            processed = bool(rng.random() < 0.25)
            spec = random_render_spec(rng, processed_style=processed)
            out = process_lead_image(render_lead(sig[lead], FS, spec))
            r, snr, lag = signal_agreement(sig[lead], out.signal_mv, FS)
            rows.append(dict(lead=lead, findings=findings, spec=spec, out=out, r=r, snr=snr, lag=lag))
    return rows


def test_demo_median_r_and_snr_per_lead(demo_results):
    for lead in LEADS:
        rs = [row["r"] for row in demo_results if row["lead"] == lead]
        snrs = [row["snr"] for row in demo_results if row["lead"] == lead]
        assert len(rs) == len(FINDINGS)
        assert np.median(rs) >= 0.95, (lead, np.median(rs))
        assert np.median(snrs) >= 15.0, (lead, np.median(snrs))


def test_demo_overall_quality(demo_results):
    r = np.array([row["r"] for row in demo_results])
    assert np.mean(r >= 0.9) >= 0.95  # very few outliers, whatever the artefacts
    assert all(abs(row["lag"]) <= 0.05 for row in demo_results if np.isfinite(row["lag"]))


def test_demo_calibration(demo_results):
    for row in demo_results:
        spec, out = row["spec"], row["out"]
        assert out.sampling_rate_hz == FS and out.signal_mv.dtype == np.float32
        assert out.processed_image.dtype == np.uint8 and out.processed_image.ndim == 2
        assert set(np.unique(out.processed_image)) <= {0, 255}
        if spec.processed_style:
            assert out.calibration_source == "default"
            assert out.px_per_mm_x == pytest.approx(spec.px_per_mm)
        else:
            assert out.calibration_source == "grid"
            assert out.px_per_mm_x == pytest.approx(spec.px_per_mm, rel=0.005)
            assert out.px_per_mm_y == pytest.approx(spec.px_per_mm, rel=0.03)
            assert out.qc_metrics["skew_deg"] == pytest.approx(spec.rotation_deg, abs=0.2)
        # 10 s of signal, give or take the pen's width, or a steep stroke at the very end that is
        # trimmed as an end mark (ventricular tachycardia's aVR at 127 dpi: 52 ms)
        assert out.signal_mv.size == pytest.approx(10 * FS, abs=30)


def test_demo_qc(demo_results):
    metrics_keys = {"trace_coverage", "grid_residue", "noise", "beats_found", "clipping", "heart_rate_bpm", "skew_deg"}
    passed = 0
    for row in demo_results:
        out = row["out"]
        assert metrics_keys <= set(out.qc_metrics)
        assert out.qc_passed == (not out.qc_reasons)
        passed += out.qc_passed
        if "asystole" not in row["findings"]:
            assert out.qc_metrics["trace_coverage"] > 0.9
        assert out.qc_metrics["grid_residue"] < 0.1 or row["r"] < 0.9
    assert passed / len(demo_results) >= 0.8
    assert isinstance(PROCESSING_VERSION, str) and PROCESSING_VERSION


def test_demo_heart_rate_matches_the_signal(demo_results):
    from cardioml_pipeline.ecg_images.qc import detect_beats, heart_rate

    close = []
    for row in demo_results:
        if row["lead"] != "II" or not row["out"].qc_passed:
            continue
        truth = heart_rate(detect_beats(row["out"].signal_mv, FS), FS)
        close.append(abs(row["out"].qc_metrics["heart_rate_bpm"] - truth) < 3)
    assert close and all(close)


def test_signal_agreement_metric():
    t = np.arange(5000) / FS
    ref = np.sin(2 * np.pi * 1.3 * t) + 0.3 * np.sin(2 * np.pi * 7 * t)
    r, snr, lag = signal_agreement(ref, ref + 0.25, FS)  # a constant offset is not an error
    assert r == pytest.approx(1.0) and snr > 100 and lag == 0
    r, snr, lag = signal_agreement(ref, ref[40:], FS)  # estimate starts 80 ms late
    assert r == pytest.approx(1.0) and lag == pytest.approx(0.08)
    noisy = ref + np.random.default_rng(0).normal(0, 0.1 * ref.std(), ref.size)
    r, snr, _ = signal_agreement(ref, noisy, FS)
    assert snr == pytest.approx(20, abs=0.5) and 0.99 < r < 1
    assert np.isnan(signal_agreement(ref, np.zeros(3), FS)[0])


def read_ptbxl(name: str) -> tuple[float, dict[str, np.ndarray]]:
    """A PTB-XL record through the wfdb package: sampling rate, lead name -> signal in mV."""
    import wfdb

    record = wfdb.rdrecord(str(_shared("wfdb-records") / name))
    return record.fs, {lead: record.p_signal[:, i] for i, lead in enumerate(record.sig_name)}


def test_ptbxl_record_reads():
    fs, signals = read_ptbxl("00001_lr")
    assert fs == 100 and len(signals) == 12
    assert all(v.shape == (1000,) for v in signals.values())
    ii = signals["II"]
    assert 0.2 < np.ptp(ii) < 3.0  # mV, gain 1000/mV applied
    i, iii = signals["I"], signals["III"]
    assert np.max(np.abs(iii - (ii - i))) < 0.02  # Einthoven holds in the real record (rounding)


def test_ptbxl_render_and_digitize_every_lead():
    _, signals = read_ptbxl("00001_lr")
    rng = np.random.default_rng(1)
    for k, (name, x) in enumerate(signals.items()):
        up = sps.resample_poly(x, 5, 1)  # 100 -> 500 Hz
        spec = RenderSpec(dpi=200, seed=k) if k % 2 == 0 else random_render_spec(rng)
        out = process_lead_image(render_lead(up, FS, spec))
        r, snr, _ = signal_agreement(up, out.signal_mv, FS)
        assert r >= 0.9, (name, spec.dpi, r)
