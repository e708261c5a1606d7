"""Draw one ECG lead as a scanned paper strip, or as a processed image like the published dataset.

Paper style (BGR, uint8): standard ECG paper, 1 mm minor and 5 mm major grid lines (pink, red or
grey), the trace drawn anti-aliased at sub-pixel precision (``cv2.polylines`` with a fractional
``shift``) at ``paper_speed_mm_s`` and ``gain_mm_mv``, then the scan artefacts of the spec: uneven
illumination (a smooth multiplicative light field), rotation (``cv2.warpAffine`` about the centre,
paper colour at the borders), Gaussian blur and scanner noise (paper grain and speckle). The grid origin is offset
by a random fraction of a millimetre, so grid lines do not fall on pixel boundaries.

Processed style (single channel, uint8): what the CARDIO-ML authors published after grid removal,
binarization, denoising and cropping: a black (0) trace on white (255), no grid, cropped to the
trace's bounding box plus a 2-pixel margin. Such an image carries no calibration, so
`random_render_spec(..., processed_style=True)` always renders at ``PROCESSED_DPI``, which is what
`pipeline.DEFAULT_PX_PER_MM` declares for grid-free images.

Geometry: the first sample sits at the left margin (``margin_mm``), time runs left to right at
``paper_speed_mm_s``, and the signal's median is placed so that the whole trace fits with at
least ``margin_mm`` above and below; 1 mV is ``gain_mm_mv`` mm upwards. Everything random in a
render comes from ``RenderSpec.seed``, so a spec always gives the same image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MM_PER_INCH = 25.4
PROCESSED_DPI = 200

# BGR colours: (paper, minor line, major line)
GRID_COLOURS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]] = {
    "pink": ((246, 244, 255), (205, 190, 248), (160, 140, 235)),
    "red": ((245, 245, 252), (190, 190, 250), (120, 120, 235)),
    "grey": ((248, 248, 248), (222, 222, 222), (175, 175, 175)),
}


@dataclass
class RenderSpec:
    dpi: int = 200
    paper_speed_mm_s: float = 25.0
    gain_mm_mv: float = 10.0
    grid: bool = True
    rotation_deg: float = 0.0
    noise: float = 0.0  # std of the paper grain, as a fraction of full scale (0.05 = 12.75 grey levels); speckle is twice that
    blur: float = 0.0  # Gaussian blur sigma in pixels
    uneven_light: float = 0.0  # 0..1: depth of the illumination fall-off
    processed_style: bool = False
    grid_colour: str = "pink"
    trace_width_mm: float = 0.28
    margin_mm: float = 6.0
    label: str | None = None  # lead name printed at the top left (paper style)
    seed: int = 0

    @property
    def px_per_mm(self) -> float:
        return self.dpi / MM_PER_INCH

    def validate(self) -> None:
        if not 50 <= int(self.dpi) <= 600:
            raise ValueError(f"dpi must be within 50..600 (100..300 is the supported range), got {self.dpi}")
        if self.paper_speed_mm_s <= 0 or self.gain_mm_mv <= 0:
            raise ValueError("paper_speed_mm_s and gain_mm_mv must be positive")
        if self.grid_colour not in GRID_COLOURS:
            raise ValueError(f"grid_colour must be one of {sorted(GRID_COLOURS)}")


def random_render_spec(rng: np.random.Generator, processed_style: bool = False) -> RenderSpec:
    """A plausible scan: 100-300 dpi, up to 2 degrees of rotation, noise, blur and uneven light.

    Processed-style specs have no scan artefacts and use ``PROCESSED_DPI`` (see module docstring).
    """
    seed = int(rng.integers(0, 2**31 - 1))
    if processed_style:
        return RenderSpec(dpi=PROCESSED_DPI, grid=False, processed_style=True, seed=seed)
    return RenderSpec(
        dpi=int(rng.integers(100, 301)),
        grid=True,
        rotation_deg=float(rng.uniform(-2.0, 2.0)),
        noise=float(rng.uniform(0.0, 0.05)),
        blur=float(rng.uniform(0.0, 1.2)),
        uneven_light=float(rng.uniform(0.0, 0.6)),
        grid_colour=str(rng.choice(["pink", "pink", "red", "grey"])),
        trace_width_mm=float(rng.uniform(0.22, 0.38)),
        seed=seed,
    )


def _draw_grid(img: np.ndarray, ppm: float, colours, offset_mm: tuple[float, float]) -> None:
    h, w = img.shape[:2]
    _, minor, major = colours
    shift = 4
    scale = 1 << shift
    thin = 1
    thick = max(1, int(round(0.12 * ppm)))
    for axis, size in ((0, w), (1, h)):
        n_mm = int(size / ppm) + 2
        off = offset_mm[axis]
        for k in range(-1, n_mm):
            pos = (k + off) * ppm
            if pos < -2 or pos > size + 2:
                continue
            is_major = k % 5 == 0
            p = int(round(pos * scale))
            if axis == 0:
                pt1, pt2 = (p, 0), (p, (h - 1) * scale)
            else:
                pt1, pt2 = (0, p), ((w - 1) * scale, p)
            cv2.line(img, pt1, pt2, major if is_major else minor, thick if is_major else thin, cv2.LINE_AA, shift)


def _layout(signal_mv: np.ndarray, fs: int, spec: RenderSpec) -> tuple[int, int, np.ndarray, np.ndarray]:
    ppm = spec.px_per_mm
    sig = np.asarray(signal_mv, dtype=np.float64)
    sig = np.where(np.isfinite(sig), sig, 0.0)
    med = float(np.median(sig)) if sig.size else 0.0
    hi_mm = (float(sig.max()) - med) * spec.gain_mm_mv if sig.size else 0.0
    lo_mm = (med - float(sig.min())) * spec.gain_mm_mv if sig.size else 0.0
    above = max(hi_mm, 5.0) + spec.margin_mm
    below = max(lo_mm, 5.0) + spec.margin_mm
    height_mm = above + below
    width_mm = len(sig) / fs * spec.paper_speed_mm_s + 2 * spec.margin_mm
    w = int(math.ceil(width_mm * ppm))
    h = int(math.ceil(height_mm * ppm))
    x = (spec.margin_mm + np.arange(len(sig)) / fs * spec.paper_speed_mm_s) * ppm
    y = (above - (sig - med) * spec.gain_mm_mv) * ppm
    return w, h, x, y


def _polyline(img: np.ndarray, x: np.ndarray, y: np.ndarray, colour, thickness: int) -> None:
    shift = 4
    pts = np.round(np.stack([x, y], axis=1) * (1 << shift)).astype(np.int32)
    cv2.polylines(img, [pts.reshape(-1, 1, 2)], False, colour, thickness, cv2.LINE_AA, shift)


def render_lead(signal_mv: np.ndarray, fs: int, spec: RenderSpec) -> np.ndarray:
    """Render one lead (mV samples at ``fs`` Hz) as a uint8 image (BGR paper, or 1-channel processed)."""
    spec.validate()
    sig = np.asarray(signal_mv, dtype=np.float64).ravel()
    if sig.size < 2:
        raise ValueError("signal_mv needs at least two samples")
    if fs <= 0:
        raise ValueError("fs must be positive")
    ppm = spec.px_per_mm
    rng = np.random.default_rng(spec.seed)
    w, h, x, y = _layout(sig, fs, spec)
    thickness = max(1, int(round(spec.trace_width_mm * ppm)))

    if spec.processed_style:
        img = np.full((h, w), 255, np.uint8)
        _polyline(img, x, y, 0, thickness)
        img = np.where(img < 160, 0, 255).astype(np.uint8)
        ys, xs = np.nonzero(img == 0)
        if ys.size:
            m = 2
            img = img[max(0, ys.min() - m) : ys.max() + m + 1, max(0, xs.min() - m) : xs.max() + m + 1]
        return np.ascontiguousarray(img)

    colours = GRID_COLOURS[spec.grid_colour]
    img = np.empty((h, w, 3), np.uint8)
    img[:] = colours[0]
    if spec.grid:
        _draw_grid(img, ppm, colours, (float(rng.uniform(0, 1)), float(rng.uniform(0, 1))))
    if spec.label:
        scale = max(0.4, 0.18 * ppm)
        cv2.putText(img, spec.label, (int(1.5 * ppm), int(4.5 * ppm)), cv2.FONT_HERSHEY_SIMPLEX, scale / 2.5,
                    (40, 40, 40), max(1, thickness - 1), cv2.LINE_AA)
    ink = tuple(int(c) for c in rng.integers(15, 60, 3))
    _polyline(img, x, y, ink, thickness)

    out = img.astype(np.float32)
    if spec.uneven_light > 0:
        # a smooth light field (ramp times a broad spot), computed coarse and resized: cheap at 300 dpi
        sh, sw = max(2, h // 8), max(2, w // 8)
        yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
        ang = rng.uniform(0, 2 * np.pi)
        cx, cy = rng.uniform(0, sw), rng.uniform(0, sh)
        ramp = (np.cos(ang) * (xx - cx) + np.sin(ang) * (yy - cy)) / max(sw, sh)
        spot = np.exp(-(((xx - cx) / (0.6 * sw)) ** 2 + ((yy - cy) / (1.5 * sh)) ** 2))
        light = 1.0 - spec.uneven_light * 0.45 * (0.5 + 0.5 * np.clip(ramp, -1, 1)) * (1.0 - 0.5 * spot)
        out *= cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    if spec.rotation_deg:
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), float(spec.rotation_deg), 1.0)
        border = tuple(float(c) for c in colours[0])
        out = cv2.warpAffine(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    if spec.blur > 0:
        out = cv2.GaussianBlur(out, (0, 0), float(spec.blur))
    if spec.noise > 0:
        # Scanner noise as paper grain (coarse, luminance only) plus sparse speckle: i.i.d. per-pixel
        # noise on every channel made each demo PNG ~1 MB (6 GB for 574 patients) for no added realism.
        sigma = np.float32(spec.noise * 255.0)
        gh, gw = max(2, h // 3), max(2, w // 3)
        grain = cv2.resize(rng.standard_normal((gh, gw), dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        out += (grain * sigma)[..., None]
        speckle = rng.random((h, w), dtype=np.float32) < 0.01
        out[speckle] += (rng.standard_normal(int(speckle.sum()), dtype=np.float32) * 2.0 * sigma)[:, None]
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
