"""process_lead_image on images that are not usable ECG strips, and on arrays that are not images."""

from __future__ import annotations

import numpy as np
import pytest

from cardioml_pipeline.ecg_images.pipeline import process_lead_image
from cardioml_pipeline.demo.render import GRID_COLOURS, RenderSpec, render_lead
from cardioml_pipeline.demo.synth import synthesize_12_lead


@pytest.fixture(scope="module")
def strip() -> np.ndarray:
    return render_lead(synthesize_12_lead([], 75, seed=1)["II"], 500, RenderSpec(dpi=150, noise=0.01, seed=1))


def _failed_with(out, text: str) -> None:
    assert not out.qc_passed
    assert any(text in r for r in out.qc_reasons), out.qc_reasons
    assert out.signal_mv.dtype == np.float32 and out.sampling_rate_hz == 500
    assert out.processed_image.dtype == np.uint8


def test_blank_white_page():
    out = process_lead_image(np.full((300, 1500, 3), 255, np.uint8))
    _failed_with(out, "blank image")
    assert out.signal_mv.size == 0 and out.calibration_source == "default"


def test_blank_grey_and_black_pages():
    _failed_with(process_lead_image(np.full((200, 800), 128, np.uint8)), "blank image")
    _failed_with(process_lead_image(np.zeros((200, 800), np.uint8)), "blank image")


def test_grid_without_a_trace():
    rng = np.random.default_rng(0)
    spec = RenderSpec(dpi=150, seed=3, noise=0.01)
    img = np.empty((400, 1500, 3), np.uint8)
    img[:] = GRID_COLOURS["pink"][0]
    from cardioml_pipeline.demo.render import _draw_grid

    _draw_grid(img, spec.px_per_mm, GRID_COLOURS["pink"], (0.3, 0.6))
    img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    out = process_lead_image(img)
    _failed_with(out, "no trace found")
    assert out.calibration_source == "grid"  # the grid itself is still measured
    assert out.px_per_mm_x == pytest.approx(spec.px_per_mm, rel=0.01)


def test_tiny_images():
    _failed_with(process_lead_image(np.full((4, 6), 255, np.uint8)), "too small")
    out = process_lead_image(np.zeros((1, 1, 3), np.uint8))
    assert not out.qc_passed
    tiny_strip = np.full((20, 40), 255, np.uint8)
    tiny_strip[10, 5:35] = 0
    out = process_lead_image(tiny_strip)  # processed, but a 40 px line is no ECG
    assert not out.qc_passed and out.qc_reasons


def test_sixteen_bit_gray(strip):
    gray16 = (strip.mean(axis=2) * 257).astype(np.uint16)
    out = process_lead_image(gray16)
    ref = process_lead_image(strip)
    assert out.calibration_source == "grid"
    assert out.qc_metrics["beats_found"] == ref.qc_metrics["beats_found"] >= 10
    assert out.qc_metrics["heart_rate_bpm"] == pytest.approx(ref.qc_metrics["heart_rate_bpm"], abs=2)


def test_rgba_with_and_without_transparency(strip):
    rgba = np.dstack([strip, np.full(strip.shape[:2], 255, np.uint8)])
    assert process_lead_image(rgba).qc_passed
    clear = rgba.copy()
    clear[..., 3] = 0  # fully transparent: composited on white -> blank
    _failed_with(process_lead_image(clear), "blank image")


def test_float_bool_and_inverted_inputs(strip):
    f = strip.astype(np.float32) / 255.0
    assert process_lead_image(f).qc_metrics["beats_found"] >= 10
    proc = render_lead(synthesize_12_lead([], 75, seed=1)["II"], 500, RenderSpec(processed_style=True))
    assert process_lead_image(proc == 0).qc_metrics["beats_found"] >= 10  # bool mask, True = ink
    inverted = 255 - proc  # white trace on black
    out = process_lead_image(inverted)
    assert out.qc_passed and out.calibration_source == "default"


def test_heavy_noise():
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, (300, 1500, 3), dtype=np.uint8)
    out = process_lead_image(noise)
    assert not out.qc_passed and out.qc_reasons
    sig = synthesize_12_lead([], 75, seed=2)["II"]
    very_noisy = render_lead(sig, 500, RenderSpec(dpi=150, noise=0.45, seed=4))
    out = process_lead_image(very_noisy)
    assert not out.qc_passed and out.qc_reasons


def test_not_images_raise_value_error():
    for bad in (np.zeros((0, 10), np.uint8), np.zeros((10, 0, 3), np.uint8), np.zeros(100, np.uint8),
                np.zeros((2, 3, 4, 5), np.uint8), np.zeros((20, 20, 2), np.uint8), np.zeros((20, 20, 5), np.uint8)):
        with pytest.raises(ValueError):
            process_lead_image(bad)
    with pytest.raises(ValueError):
        process_lead_image([[0, 255], [255, 0]])  # not an ndarray
    with pytest.raises(ValueError):
        process_lead_image(np.full((50, 50), "x"))
    with pytest.raises(ValueError):
        process_lead_image(np.full((50, 200), 255, np.uint8), default_px_per_mm=0)
