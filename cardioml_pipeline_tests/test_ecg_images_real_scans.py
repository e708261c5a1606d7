"""Real scanned ECG images (ecg-image-kit samples in ../shared/datasets/ecg-image-samples).

What the data allows (measured): the two `-strip` files are 10 s rhythm strips (8 and 15 beats);
the per-lead crops are 2.5 s cuts of the same two scans, so they hold only 1-4 beats each and the
"at least four beats" rule can only be asserted on the strips. All of them have a faint grey-pink
grid at about 5.3 px/mm (~135 dpi) and are rotated by about 1 degree. The two whole 12-lead pages are
only checked not to crash (one lead per image is the contract). Skipped, with the reason, where
../shared is absent (never in CI).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from cardioml_pipeline.ecg_images.pipeline import process_lead_image
from cardioml_pipeline_tests.conftest import require_shared

SAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ecg-image-samples"


@pytest.fixture(scope="module")
def samples() -> dict[str, object]:
    require_shared(SAMPLES)
    out = {}
    for path in sorted(SAMPLES.glob("*.png")):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert image is not None, path
        out[path.name] = (image, process_lead_image(image))
    assert any(k.endswith("-strip.png") for k in out)
    return out


def _crops(samples):
    return {k: v for k, v in samples.items() if k.startswith("ecgseg") and not k.endswith("-strip.png")}


def test_every_image_is_processed_without_error(samples):
    for name, (image, out) in samples.items():
        assert out.signal_mv.dtype == np.float32, name
        assert out.processed_image.dtype == np.uint8 and out.processed_image.ndim == 2, name
        assert out.qc_passed == (not out.qc_reasons), name
        assert image.shape[2] in (3, 4)  # RGB and RGBA (as read: BGR / BGRA) both occur


def test_grid_found_and_calibrated(samples):
    ppm = {}
    for name, (_, out) in samples.items():
        if not name.startswith("ecgseg"):
            continue
        assert out.calibration_source == "grid", name
        assert 4.5 < out.px_per_mm_x < 6.5, (name, out.px_per_mm_x)
        assert abs(out.qc_metrics["skew_deg"]) < 3, name
        ppm.setdefault(name[:11], []).append(out.px_per_mm_x)
    for scan, values in ppm.items():  # crops of one scan share the scale
        assert np.ptp(values) / np.median(values) < 0.08, (scan, values)


def test_strips_pass_qc(samples):
    for name, (_, out) in samples.items():
        if not name.endswith("-strip.png"):
            continue
        m = out.qc_metrics
        assert out.qc_passed, (name, out.qc_reasons)
        assert m["beats_found"] >= 4, name
        assert 30 <= m["heart_rate_bpm"] <= 200, name
        assert m["grid_residue"] < 0.05, name
        assert m["trace_coverage"] > 0.95, name
        assert out.signal_mv.size / 500 > 8  # a 10 s strip, less the margins


# Crops whose digitized signal misses a beat the image shows. ecgseg00002-v5: the fast strokes of its
# middle QRS are fainter than the weak ink level, so only the R tip survives and two beats 2.2 s apart
# remain (27 bpm). A vertical-run hysteresis recovered the beat but put spikes on grid lines of the
# trace's own hue elsewhere (kit bw/wrinkles -16 dB), so it was not kept.
KNOWN_LOST_BEATS = {"ecgseg00002-v5.png"}


def test_per_lead_crops(samples):
    crops = _crops(samples)
    assert len(crops) == 24
    residues = [out.qc_metrics["grid_residue"] for _, out in crops.values()]
    assert np.median(residues) < 0.1
    for name, (_, out) in crops.items():
        m = out.qc_metrics
        assert m["trace_span"] > 0.3, name
        assert out.signal_mv.size / 500 > 1.0, name
        if name in KNOWN_LOST_BEATS:
            # a known defect, kept visible: it must at least not pass as good
            assert not out.qc_passed, name
        elif m["beats_found"] >= 2:
            assert 30 <= m["heart_rate_bpm"] <= 200, name
    # the crops of one scan agree on the heart rate of its strip
    for scan in ("ecgseg00001", "ecgseg00002"):
        strip = samples[f"{scan}-v2-strip.png"][1].qc_metrics["heart_rate_bpm"]
        rates = [o.qc_metrics["heart_rate_bpm"] for k, (_, o) in crops.items() if k.startswith(scan) and o.qc_metrics["beats_found"] >= 2]
        assert rates and abs(np.median(rates) - strip) < 0.1 * strip


def test_grid_residue_metric_sees_a_grid_that_was_not_removed(samples):
    """The metric is not trivially low: binarize a strip without grid removal and it rises."""
    from cardioml_pipeline.ecg_images import preprocess as P
    from cardioml_pipeline.ecg_images import qc as Q
    from cardioml_pipeline.ecg_images.digitize import column_positions, trace_columns

    image, out = samples["ecgseg00002-v2-strip.png"]
    bgr = P.to_bgr_uint8(image)
    luma = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    grid = P.estimate_grid(P._darkness(luma, 15))
    d = P._rotate(P._darkness(luma, 15), -grid.skew_deg)
    grid = P._finish_grid(grid, d)
    naive = (d > 0.10).astype(np.uint8)  # a plain threshold keeps the grid lines
    x0, x1, mask = trace_columns(naive, grid.px_per_mm_x)
    trace = column_positions(mask, x0, x1)
    residue, _ = Q.off_trace_fractions(naive, trace, (grid.phase_x, grid.phase_y), (grid.px_per_mm_x, grid.px_per_mm_y))
    assert residue > 5 * max(out.qc_metrics["grid_residue"], 0.01)


def test_whole_pages_do_not_crash(samples):
    for name in ("ecg00003.png", "ecg00007.png"):
        _, out = samples[name]
        assert out.calibration_source == "grid"
        assert 5.0 < out.px_per_mm_x < 8.0
