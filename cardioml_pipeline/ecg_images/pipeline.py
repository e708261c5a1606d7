"""One lead image in, one processed lead out: `process_lead_image`.

image (gray/BGR/BGRA, uint8/uint16, grid or not)
  -> preprocess.prepare_image: normalize, flatten light, grid calibration + deskew, grid removal,
     hysteresis binarization
  -> digitize: trace span, one position per column, mV at 500 Hz
  -> qc: metrics and verdict

Calibration: from the grid when one is found (``calibration_source="grid"``), else the caller's
``default_px_per_mm`` or the declared `DEFAULT_PX_PER_MM` (``"default"``): grid-free images such as
the published, already processed CARDIO-ML images carry no scale of their own. Paper speed 25 mm/s
and gain 10 mm/mV are assumed throughout (`digitize.PAPER_SPEED_MM_S`, `digitize.GAIN_MM_MV`).

The processed image is the trace's ink (black, 0) on white (255), deskewed and cropped to the trace's
bounding box plus a 2-pixel margin: binarized, grid-free and contrast-normalized by construction,
covering every beat the input holds (nothing is cut inside the trace's span).

Failures never raise for a real image: a blank page, a page without a trace or a tiny image gives
``qc_passed=False`` with the reason, an empty signal and NaN metrics where undefined. Only arrays
that are not images (not ndarray, 0-size, wrong ndim or channel count) raise ``ValueError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from cardioml_pipeline.ecg_images import qc as Q
from cardioml_pipeline.ecg_images.digitize import (
    GAIN_MM_MV,
    OUTPUT_FS,
    PAPER_SPEED_MM_S,
    PULSE_MV,
    PULSE_S,
    THIN_PEN_PX,
    CalibrationPulse,
    column_positions,
    find_calibration_pulse,
    to_millivolts,
    trace_columns,
)
from cardioml_pipeline.ecg_images.preprocess import prepare_image, scaled_grid
from cardioml_pipeline.ecg_images.version import PROCESSING_VERSION  # noqa: F401  (re-exported)

DEFAULT_PX_PER_MM = 200 / 25.4  # 200 dpi: what the demo renders grid-free images at (demo.render.PROCESSED_DPI)
CROP_MARGIN_PX = 2

# every metric a processed lead reports: the declared QC metrics, plus what is recorded unjudged
_METRIC_KEYS = tuple(metric.name for metric in Q.QC_METRICS) + (
    "px_per_mm_x", "px_per_mm_y", "thickness_px", "duration_s", "grid_strength", "gain_mm_mv",
)
STANDARD_GAINS_MM_MV = (5.0, 10.0, 20.0)  # half, standard and double gain, as ECG machines print them


@dataclass
class ProcessedLead:
    processed_image: np.ndarray
    px_per_mm_x: float | None
    px_per_mm_y: float | None
    calibration_source: str
    signal_mv: np.ndarray
    sampling_rate_hz: int
    qc_metrics: dict[str, float]
    qc_passed: bool
    qc_reasons: list[str] = field(default_factory=list)


def _empty_metrics() -> dict[str, float]:
    m = {k: float("nan") for k in _METRIC_KEYS}
    m.update(trace_coverage=0.0, trace_span=0.0, grid_residue=0.0, off_trace_ink=0.0, beats_found=0.0, clipping=0.0, skew_deg=0.0)
    return m


def _failed(image: np.ndarray, reason: str, ppm: float | None, source: str, metrics: dict[str, float] | None = None) -> ProcessedLead:
    m = metrics or _empty_metrics()
    return ProcessedLead(
        processed_image=np.full(image.shape[:2], 255, np.uint8),
        px_per_mm_x=ppm,
        px_per_mm_y=ppm,
        calibration_source=source,
        signal_mv=np.zeros(0, np.float32),
        sampling_rate_hz=OUTPUT_FS,
        qc_metrics=m,
        qc_passed=False,
        qc_reasons=[reason],
    )


UPSAMPLE_BELOW_PX_PER_MM = 6.0  # a grid finer than this (below ~150 dpi) ...
UPSAMPLE_FACTOR = 2  # ... is read from the image enlarged twice (bicubic)
_SIZE_METRICS = ("px_per_mm_x", "px_per_mm_y", "calibration_pulse_height_px", "calibration_pulse_width_px", "thickness_px")


def process_lead_image(
    image: np.ndarray,
    default_px_per_mm: float | None = None,
    known_grid=None,
    expected_px_per_mm: float | None = None,
    known_skew_deg: float | None = None,
    known_colours=None,
    source_preparation=None,
) -> ProcessedLead:
    """Process one lead image (see module docstring). Raises ValueError only for non-images.
    `known_grid`: the grid as already measured for this image (`preprocess.GridEstimate` in its
    pixels, e.g. a whole page's grid for a lead cut from it): used instead of measuring it again.
    `expected_px_per_mm`: the grid's pitch is measured near this one (the pitch a patient's other
    leads, cut from the same scan, agree on: `processing.recheck_pitch_outliers`). `known_skew_deg`: the
    skew is taken as this one (the angle they agree on: `processing.recheck_skew_outliers`).
    `known_colours`: the trace's and grid lines' colours (`preprocess.InkColours`) as read on the same
    print (a page's, for its leads), at the source's scale (an enlarged reading reads its own).
    `source_preparation`: this image already prepared at its own scale (`preprocess.Prepared`: a page
    read at full size, cut to this crop; its grid the `known_grid`), used instead of preparing it
    again where the image is read enlarged (below `UPSAMPLE_BELOW_PX_PER_MM`): there the source-scale
    ink only tells QC which ink to judge, and the paper's noise; otherwise it is ignored.

    A low-resolution image (grid pitch below `UPSAMPLE_BELOW_PX_PER_MM`: 100-150 dpi) is processed
    enlarged `UPSAMPLE_FACTOR` times: a 1-px pen's anti-aliased grey levels then place the trace
    within a pixel, and a QRS stroke spans several columns instead of one (ecg-image-kit strips at
    100-149 dpi: median SNR 7.1 -> 9.7 dB). Sizes are reported in the source image's pixels."""
    if default_px_per_mm is not None and not (default_px_per_mm > 0):
        raise ValueError("default_px_per_mm must be positive")
    prep = source_preparation
    if prep is None or not (prep.grid.found and not prep.too_small and prep.grid.px_per_mm_x < UPSAMPLE_BELOW_PX_PER_MM):
        prep = prepare_image(image, default_px_per_mm, known_grid=known_grid, expected_px_per_mm=expected_px_per_mm, known_skew_deg=known_skew_deg, known_colours=known_colours)
    if prep.grid.found and not prep.too_small and prep.grid.px_per_mm_x < UPSAMPLE_BELOW_PX_PER_MM:
        f = UPSAMPLE_FACTOR
        enlarged = cv2.resize(prep.bgr, None, fx=f, fy=f, interpolation=cv2.INTER_CUBIC)
        enlarged_default = default_px_per_mm and default_px_per_mm * f
        grid = scaled_grid(prep.grid, f)
        fine = prepare_image(enlarged, enlarged_default, known_grid=grid)
        judged = None
        if prep.ink.any() and fine.ink.shape == enlarged.shape[:2]:
            # QC judges only the ink found at the source's own scale, drawn finer: interpolation
            # turns grid line ends and noise specks into blobs the enlarged binarization keeps (the
            # trace itself is followed on all of it: the enlarged image also closes the gaps a
            # faint trace has at the source's scale)
            near_source_ink = cv2.dilate(cv2.resize(prep.ink, enlarged.shape[1::-1], interpolation=cv2.INTER_NEAREST), np.ones((3, 3), np.uint8))
            judged = cv2.bitwise_and(fine.ink, near_source_ink)
        result = _at_source_scale(_process_prepared(enlarged, enlarged_default, fine, known_grid=grid, judged_ink=judged, scale=f), f)
        if result.signal_mv.size:
            if prep.ink_darkness > 0:
                # the paper's noise as the source shows it (interpolation invents grey levels
                # between a dense grid's lines and the paper)
                result.qc_metrics["image_noise"] = float(prep.background_noise / prep.ink_darkness)
            # judged on the source's scale (sizes in its pixels)
            result.qc_reasons = Q.verdict(result.qc_metrics)
            result.qc_passed = not result.qc_reasons
        return result
    result = _process_prepared(image, default_px_per_mm, prep, known_grid=known_grid, expected_px_per_mm=expected_px_per_mm, known_skew_deg=known_skew_deg)
    result.qc_metrics["upsampled"] = 1.0
    return result


def _at_source_scale(result: ProcessedLead, factor: int) -> ProcessedLead:
    """A result computed on an image enlarged `factor` times, in the source image's pixels."""
    for name in _SIZE_METRICS:
        if name in result.qc_metrics and result.qc_metrics[name] is not None:
            result.qc_metrics[name] = float(result.qc_metrics[name]) / factor
    result.qc_metrics["upsampled"] = float(factor)
    if result.px_per_mm_x is not None:
        result.px_per_mm_x /= factor
    if result.px_per_mm_y is not None:
        result.px_per_mm_y /= factor
    h, w = result.processed_image.shape[:2]
    small = cv2.resize(result.processed_image, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    result.processed_image = cv2.threshold(small, 191, 255, cv2.THRESH_BINARY)[1]  # any ink (< 192) stays ink (0)
    return result


def _process_prepared(
    image: np.ndarray,
    default_px_per_mm: float | None,
    prep,
    known_grid=None,
    judged_ink: np.ndarray | None = None,
    expected_px_per_mm: float | None = None,
    scale: int = 1,
    known_skew_deg: float | None = None,
) -> ProcessedLead:
    """`process_lead_image` on an image already prepared. `known_grid`: passed on to the retries'
    `prepare_image`. `judged_ink`: the ink QC's off-trace and grid-residue fractions are measured on
    (default: all the ink). `scale`: the image is the source enlarged this many times (a pen is thin
    or not as the source drew it: `digitize.THIN_PEN_PX` source pixels)."""
    default_ppm = float(default_px_per_mm) if default_px_per_mm else DEFAULT_PX_PER_MM
    if prep.too_small:
        return _failed(prep.bgr, f"image too small ({prep.bgr.shape[0]}x{prep.bgr.shape[1]} px)", default_ppm, "default")
    if prep.blank:
        return _failed(prep.bgr, "blank image", default_ppm, "default")

    g = prep.grid
    if g.found:
        ppx, ppy, source = float(g.px_per_mm_x), float(g.px_per_mm_y), "grid"
    else:
        ppx = ppy = default_ppm
        source = "default"
    metrics = _empty_metrics()
    metrics.update(skew_deg=float(g.skew_deg), px_per_mm_x=ppx, px_per_mm_y=ppy, grid_strength=float(g.strength))

    ink = prep.ink
    found = trace_columns(ink, ppx, prep.components) if ink.any() else None
    if found is None and g.found:
        # a faint trace cut to pieces where it crosses the grid lines: bridge the gaps and retry;
        # then, if a skew was found (on a short strip the angle can be wrong), without deskewing
        retries = [dict(bridge_lines=True)] + ([dict(deskew=False), dict(deskew=False, bridge_lines=True)] if abs(g.skew_deg) > 0.05 else [])
        retries += [dict(unmix=False), dict(unmix=False, deskew=False)]  # the lattice read the wrong colours
        for options in retries:
            retry = prepare_image(image, default_px_per_mm, known_grid=known_grid, expected_px_per_mm=expected_px_per_mm, known_skew_deg=known_skew_deg, **options)
            if retry.ink.any() and (found := trace_columns(retry.ink, ppx, retry.components)) is not None:
                prep, ink = retry, retry.ink
                judged_ink = None
                g = prep.grid
                metrics.update(skew_deg=float(g.skew_deg))
                break
    if found is None:
        res = _failed(prep.bgr, "no trace found", ppx, source, metrics)
        res.px_per_mm_y = ppy
        if ink.any():
            _, off = Q.off_trace_fractions(ink, _no_trace(ink), None, None)
            metrics["off_trace_ink"] = off
        return res
    x0, x1, mask = found
    pulse = _locate_pulse(mask, x0, x1, ppx, ppy, search_scales=source != "grid")
    gain = GAIN_MM_MV
    if pulse is not None:
        # the pulse is not signal: the trace starts (or ends) after it
        clear = max(1, int(round(0.4 * ppx)))
        if pulse.side == "left":
            x0 = min(x1, pulse.last_col + clear)
            mask[:, :x0] = 0
        else:
            x1 = max(x0, pulse.first_col - clear)
            mask[:, x1 + 1 :] = 0
        metrics.update(calibration_pulse_height_px=pulse.height_px, calibration_pulse_width_px=pulse.width_px)
        if not np.isfinite(pulse.height_px):  # cut off by the crop: it marks the start, nothing more
            pass
        elif source != "grid":  # no grid: the pulse gives the scale (1 mV x 0.2 s)
            ppx = pulse.width_px / (PULSE_S * PAPER_SPEED_MM_S)
            ppy = pulse.height_px / (PULSE_MV * GAIN_MM_MV)
            source = "pulse"
            metrics.update(px_per_mm_x=ppx, px_per_mm_y=ppy)
        else:  # with a grid: the pulse says the gain the ECG was printed at
            gain = pulse_gain(pulse, ppy)
    x0, x1 = _trim_end_strokes(mask, x0, x1, ppx, ppy)
    metrics["gain_mm_mv"] = gain
    trace = column_positions(mask, x0, x1, level_window=0.3 * 25.0 * ppx, thin_pen_px=THIN_PEN_PX * scale)
    sig = to_millivolts(trace, ppx, ppy, gain_mm_mv=gain)

    h, w = ink.shape
    found_cols = trace.found
    tops, bottoms = trace.top[found_cols], trace.bottom[found_cols]
    # judged within the trace's columns: a pulse, a lead name or a neighbour's mark beside the trace
    # is not grid left over, nor noise on the trace
    judged = ink if judged_ink is None else judged_ink
    span_ink = np.zeros_like(judged)
    span_ink[:, x0 : x1 + 1] = judged[:, x0 : x1 + 1]
    residue, off = Q.off_trace_fractions(
        span_ink, trace, (g.phase_x, g.phase_y) if g.found else None, (ppx, ppy) if g.found else None, reach_px=Q.OFF_TRACE_REACH_MM * ppy
    )
    beats = Q.detect_beats(sig, OUTPUT_FS)
    metrics.update(
        trace_coverage=float(found_cols.mean()),
        trace_span=float((x1 - x0 + 1) / w),
        grid_residue=residue,
        off_trace_ink=off,
        noise=Q.signal_noise(sig.astype(np.float64)),
        beats_found=float(beats.size),
        heart_rate_bpm=Q.heart_rate(beats, OUTPUT_FS),
        time_reversal=Q.time_reversal(sig, beats, OUTPUT_FS),
        clipping=float(np.mean((tops <= 0) | (bottoms >= h - 1))) if tops.size else 0.0,
        thickness_px=float(trace.thickness),
        duration_s=float(sig.size / OUTPUT_FS),
        image_noise=float(prep.background_noise / prep.ink_darkness) if prep.ink_darkness > 0 else float("nan"),
    )

    # processed image: the trace's ink, cropped to its bounding box
    m = CROP_MARGIN_PX
    r0 = max(0, int(tops.min()) - m) if tops.size else 0
    r1 = min(h, int(bottoms.max()) + m + 1) if bottoms.size else h
    c0, c1 = max(0, x0 - m), min(w, x1 + m + 1)
    crop = mask[r0:r1, c0:c1]
    processed = cv2.compare(crop, 0, cv2.CMP_EQ)  # ink (1) -> 0, paper (0) -> 255

    reasons = Q.verdict(metrics)
    return ProcessedLead(
        processed_image=np.ascontiguousarray(processed),
        px_per_mm_x=ppx,
        px_per_mm_y=ppy,
        calibration_source=source,
        signal_mv=sig,
        sampling_rate_hz=OUTPUT_FS,
        qc_metrics=metrics,
        qc_passed=not reasons,
        qc_reasons=reasons,
    )


def pulse_gain(pulse: CalibrationPulse, px_per_mm_y: float) -> float:
    """The gain (mm/mV) a calibration pulse of `pulse.height_px` shows on a grid of `px_per_mm_y`:
    the standard gain it is within 15 % of (5, 10 or 20 mm/mV), else the standard 10 (and QC says the
    pulse disagrees, `qc.verdict`)."""
    measured = pulse.height_px / px_per_mm_y / PULSE_MV
    for gain in STANDARD_GAINS_MM_MV:
        if abs(measured / gain - 1.0) <= 0.15:
            return gain
    return GAIN_MM_MV


def _trim_end_strokes(mask: np.ndarray, x0: int, x1: int, ppx: float, ppy: float) -> tuple[int, int]:
    """Cut a tall vertical stroke standing at either end of the trace and running into the image's
    top or bottom border (what is left of a calibration pulse the crop cut, or a marker line): the
    trace cannot begin or end with a 3 mm jump out of the picture within its first millimetre. Its
    columns are cleared from `mask` (in place); returns the new ends."""
    w = mask.shape[1]
    x0 = _trim_start_strokes(mask, x0, x1, ppx, ppy)
    # the right end is the left end of the mirrored view (writes go through to `mask`)
    x1 = w - 1 - _trim_start_strokes(mask[:, ::-1], w - 1 - x1, w - 1 - x0, ppx, ppy)
    return x0, x1


def _trim_start_strokes(mask: np.ndarray, x0: int, x1: int, ppx: float, ppy: float) -> int:
    edge = max(2, int(round(1.0 * ppx)))
    clear = max(1, int(round(0.4 * ppx)))
    tall = 3.0 * ppy
    for _ in range(2):  # a pulse cut on one side leaves at most two strokes
        if x1 - x0 < 10 * edge:
            break
        cols = mask[:, x0 : x0 + edge] != 0
        heights = np.where(cols.any(axis=0), mask.shape[0] - np.argmax(cols[::-1], axis=0) - np.argmax(cols, axis=0), 0)
        if heights.max(initial=0) < tall or not (cols[0].any() or cols[-1].any()):
            break
        new_x0 = x0 + int(np.flatnonzero(heights >= tall)[-1]) + clear
        mask[:, x0:new_x0] = 0
        x0 = new_x0
    return x0


def _locate_pulse(mask: np.ndarray, x0: int, x1: int, ppx: float, ppy: float, search_scales: bool) -> CalibrationPulse | None:
    """The calibration pulse at the grid's scale; without a grid the scale is unknown, so it is
    searched for over 2-24 px/mm, and a pulse counts only where its width and height agree on one
    scale (5 mm x 10 mm)."""
    pulse = find_calibration_pulse(mask, x0, x1, ppx, ppy)
    if pulse is not None or not search_scales:
        return pulse
    for scale in np.geomspace(2.0, 24.0, 12):
        pulse = find_calibration_pulse(mask, x0, x1, scale, scale)
        if pulse is not None and np.isfinite(pulse.height_px):
            sx = pulse.width_px / (PULSE_S * PAPER_SPEED_MM_S)
            sy = pulse.height_px / (PULSE_MV * GAIN_MM_MV)
            if abs(sx / sy - 1.0) <= 0.2:
                return pulse
    return None


def _no_trace(ink: np.ndarray):
    from cardioml_pipeline.ecg_images.digitize import Trace

    return Trace(0, -1, np.zeros(0), np.zeros(0, bool), np.zeros(0, int), np.zeros(0, int), 1.0, ink)
