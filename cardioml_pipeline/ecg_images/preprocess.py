"""OpenCV preprocessing of one lead image: normalization, grid calibration, deskew, grid removal, binarization.

Steps (`prepare_image`):

1. **Normalize the array** (`to_bgr_uint8`): gray / BGR / BGRA, uint8 / uint16 / float / bool, as
   ``cv2.imread(..., IMREAD_UNCHANGED)`` returns them. 16-bit is scaled to 8-bit, alpha is composited on
   white, a light-on-dark image is inverted. Anything that is not an image (not an array, 0-size,
   ndim not 2/3, channel count not 1/3/4, non-numeric dtype) raises ``ValueError``.
2. **Flatten the illumination.** The paper level is a grey dilation (a max filter wider than the
   trace and the grid lines) followed by a box blur; every pixel becomes its relative darkness
   ``1 - I / paper`` (0 = paper, 1 = black), which cancels uneven light and normalizes contrast. Two
   darkness maps: of the luma (grid lines of every colour show) and of the per-pixel channel maximum
   (a red or pink grid almost vanishes there, a dark trace does not; for grey images they coincide).
3. **Grid calibration by periodicity** (`estimate_grid`), on the luma darkness with certain-trace
   pixels (darker than any grid line) blanked. Column profile = mean over all rows (a rotation only
   widens the lines), band-passed (Gaussian 0.8 px minus Gaussian 12 px). Its basic period comes from
   a spectral comb: for each candidate period T, the mean over harmonics k/T of (power at k/T minus
   power half-way to the next harmonic); unlike a harmonic sum this favours neither multiples nor
   halves of the true period; a 0.01 % grid around the best pins it down (precision ~0.05 %, i.e. a
   few ms over 10 s). Whether that period is the 1 mm or the 5 mm pitch is a resolution prior
   (<= 12.5 px is 1 mm: as 5 mm it would mean < 64 dpi), overridden only when folding the profile at
   5 periods shows one line clearly darker (major lines) on a long enough strip. A grid is present
   when the comb's strength (its score against the spectrum's mean) is >= 0.15.
4. **Deskew** (`_skew_from_bands`). Band-wise column profiles (median over 32-row bands: within a band
   a line moves < 2 px, and the median ignores the trace and the horizontal lines) are shifted
   against each other by band_centre * tan(angle) in the Fourier domain; the angle (+/-3 degrees,
   0.2 -> 0.05 -> 0.01 degree search, parabolic finish) that makes their sum sharpest is the skew (on
   a strip at least 3x wider than tall the horizontal lines measure it too, over the strip's width,
   and decide: `_cross_checked_skew`). It is undone with ``cv2.warpAffine`` on the grid view and on
   the image, whose colour darkness is then measured. The pitch is then re-measured on the deskewed
   map (`_finish_grid`), and the vertical pitch too (used when within 12 % of the horizontal one,
   otherwise the horizontal pitch is used for both).
5. **Grid removal and binarization** (`trace_score`, `binarize_score`: described there; the text
   below is how the earlier, single-channel version worked, kept for its reasoning). Vertical lines are subtracted
   (per column, the 20 % quantile over rows) and their darkness sets a floor under both thresholds so
   horizontal lines stay below them. A 3x3 median denoises; hysteresis: Otsu's threshold (clamped)
   as the strong level, 60 % of it (or the grid floor) as the weak one, weak pixels kept only in
   components holding strong ones (faint steep QRS strokes survive, isolated noise does not); specks
   under ~0.1 mm^2 are dropped.

The result (`Prepared`) carries the binary ink mask, the calibration and the diagnostics used by QC.
"""

from __future__ import annotations

import dataclasses

import functools
import math
from dataclasses import dataclass, field

import cv2
import numpy as np

MIN_SIZE = (8, 16)  # smallest (height, width) that is processed at all
MIN_PX_PER_MM, MAX_PX_PER_MM = 1.5, 24.0


@dataclass
class GridEstimate:
    found: bool
    px_per_mm_x: float | None = None
    px_per_mm_y: float | None = None
    strength: float = 0.0  # normalized autocorrelation at the major pitch (0..1)
    skew_deg: float = 0.0
    phase_x: float = 0.0  # position of a major vertical line (px), after deskew
    phase_y: float = 0.0
    square: bool | None = None  # the horizontal lines' pitch found within `SQUARE_LATTICE_TOLERANCE` of the vertical lines' (None: not measured)


@dataclass
class Prepared:
    bgr: np.ndarray  # normalized input, uint8 BGR
    ink: np.ndarray  # uint8 0/1 mask of trace ink (deskewed, grid removed)
    grid: GridEstimate
    components: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (labels, stats, kept) of the ink
    blank: bool = False
    too_small: bool = False
    ink_darkness: float = 0.0  # median relative darkness of ink pixels
    background_noise: float = 0.0  # robust std of the darkness of the paper (same units)
    notes: list[str] = field(default_factory=list)
    colours: InkColours | None = None  # what the ink was told apart from (`trace_score`'s inputs)
    inverted: bool = False  # read as its negative (a light trace on a dark background): `bgr` is inverted


@dataclass(frozen=True)
class InkColours:
    """The colours an image's trace score was computed from: the trace's darkness vector, the grid
    lines unmixed by colour, and whether by share (`trace_score`). A part of the same image read again
    at another scale (a page's printed names) scores its pixels the same way."""

    trace: np.ndarray
    lines: tuple[np.ndarray, ...]
    by_share: bool
    remove_lines: bool = False  # the grid is the trace's own hue: subtracted by geometry (`binarize_score`)

    def score(self, d3: np.ndarray) -> np.ndarray:
        return trace_score(d3, list(self.lines), self.trace, by_share=self.by_share)


def percentile(a: np.ndarray, q: float, axis: int = -1) -> np.ndarray:
    """numpy's linear percentile (the same values) from one `np.partition`: np.percentile's own
    overhead is ~0.1 ms a call, which adds up over a few calls per image and thousands of images."""
    a = np.asarray(a)
    n = a.shape[axis]
    pos = q / 100.0 * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    if a.ndim == 1 and n >= _TAIL_MIN_SIZE and q >= 90.0 and (tail := _upper_tail(a, n - lo)) is not None:
        # a high percentile of a long array: only its upper tail is partitioned (the same values)
        values, left_out = tail
        part = np.partition(values, (lo - left_out, hi - left_out))
        low = part[lo - left_out]
        return low + (part[hi - left_out] - low) * (pos - lo)
    part = np.partition(a, (lo, hi), axis=axis)
    low = np.take(part, lo, axis=axis)
    return low + (np.take(part, hi, axis=axis) - low) * (pos - lo)


_TAIL_MIN_SIZE = 4096


def _upper_tail(a: np.ndarray, count: int) -> tuple[np.ndarray, int] | None:
    """The values of the 1-D `a` at or above a threshold that leaves at least its `count` largest in,
    and how many (smaller) values were left out; None when the threshold, guessed from every 16th
    value, leaves out too many. NaNs are kept (np.partition sorts them last)."""
    probe = a[::16]
    k = max(0, probe.size - 1 - (2 * count * probe.size) // a.size - 8)  # twice the share, and a margin
    threshold = np.partition(probe, k)[k]
    values = a[~(a < threshold)]
    if values.size < count:
        return None
    return values, a.size - values.size


def _subsample(image: np.ndarray, step: int) -> np.ndarray:
    """`np.ascontiguousarray(image[::step, ::step])` of a contiguous 3-channel float32 image, copied
    as whole 12-byte pixels (numpy copies a strided 3-element last axis value by value, 1.3x slower)."""
    if image.ndim != 3 or image.dtype != np.float32 or image.shape[2] != 3 or not image.flags.c_contiguous:
        return np.ascontiguousarray(image[::step, ::step])
    pixels = image.view(np.dtype((np.void, 12)))
    return np.ascontiguousarray(pixels[::step, ::step]).view(np.float32)


def percentiles(a: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """`percentile` of a 1-D array at several q from a single `np.partition`."""
    a = np.asarray(a).ravel()
    n = a.size
    spots = []
    for q in qs:
        pos = q / 100.0 * (n - 1)
        lo = int(math.floor(pos))
        spots.append((lo, min(lo + 1, n - 1), pos - lo))
    part = np.partition(a, sorted({k for lo, hi, _ in spots for k in (lo, hi)}))
    return [float(part[lo] + (part[hi] - part[lo]) * frac) for lo, hi, frac in spots]


def to_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """Any supported image array -> contiguous uint8 BGR. ValueError for arrays that are not images."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise ValueError("image is empty (0-size array)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3):
        raise ValueError(f"image must have 2 or 3 dimensions, got shape {image.shape}")
    if image.ndim == 3 and image.shape[2] not in (3, 4):
        raise ValueError(f"image must have 1, 3 or 4 channels, got shape {image.shape}")
    img = image
    if img.dtype == np.bool_:
        img = img.astype(np.uint8) * 255
    elif img.dtype == np.uint16:
        img = (img.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif np.issubdtype(img.dtype, np.floating):
        f = np.nan_to_num(img.astype(np.float32), nan=1.0 if np.nanmax(img) <= 1.0 else 255.0)
        if f.max(initial=0.0) <= 1.0:
            f = f * 255.0
        img = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    elif img.dtype != np.uint8:
        if not np.issubdtype(img.dtype, np.integer):
            raise ValueError(f"unsupported image dtype {img.dtype}")
        info = np.iinfo(img.dtype)
        hi = 255 if img.max() <= 255 else (65535 if img.max() <= 65535 else info.max)
        img = np.clip(img.astype(np.float64) * (255.0 / hi), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        alpha = img[..., 3:4].astype(np.float32) / 255.0
        img = (img[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(img)


def _darkness(channel: np.ndarray, k: int) -> np.ndarray:
    """Relative darkness 1 - I/paper in [0, 1] (float32), paper level from a dilation + box blur."""
    bg = cv2.dilate(channel, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    bg = cv2.blur(bg, (k, k))
    ratio = cv2.divide(channel, bg, scale=1.0, dtype=cv2.CV_32F)
    # where the paper level is 0 (a pitch-black shadow or scan border) OpenCV 5 divides 0 by 0 into
    # NaN, which would spread through every profile of the image: nothing is visible there, so it
    # reads as paper (darkness 0)
    cv2.patchNaNs(ratio, 1.0)
    d = np.subtract(np.float32(1.0), ratio, out=ratio)  # <= 1 already: the ratio is never negative
    cv2.threshold(d, 0.0, 0.0, cv2.THRESH_TOZERO, dst=d)  # and >= 0
    return d


def _highpass(profiles: np.ndarray, sigma: float = 12.0) -> np.ndarray:
    """Band-pass along each profile (Gaussian 0.8 px minus Gaussian `sigma` px): thin grid lines become
    smooth 2-3 px bumps (non-integer pitches still correlate at integer lags), illumination trends go."""
    p = np.asarray(profiles, dtype=np.float32)
    fine = cv2.GaussianBlur(p, (0, 0), sigmaX=0.8, sigmaY=1e-3, borderType=cv2.BORDER_REFLECT)
    smooth = cv2.GaussianBlur(p, (0, 0), sigmaX=sigma, sigmaY=1e-3, borderType=cv2.BORDER_REFLECT)
    return fine - smooth


def _autocorr(hp: np.ndarray) -> np.ndarray:
    """Mean unbiased autocorrelation of the (band-passed) rows of `hp`, normalized to 1 at lag 0."""
    n = hp.shape[1]
    nfft = 1 << int(math.ceil(math.log2(2 * n)))
    spec = np.fft.rfft(hp - hp.mean(axis=1, keepdims=True), nfft, axis=1)
    ac = np.fft.irfft((spec * spec.conj()).real.mean(axis=0), nfft)[:n]
    ac = ac / (n - np.arange(n))
    if ac[0] <= 1e-12:
        return np.zeros(n)
    return ac / ac[0]


def _parabolic_peak(ac: np.ndarray, guess: float, half_window: int) -> float | None:
    lo = max(1, int(round(guess)) - half_window)
    hi = min(len(ac) - 2, int(round(guess)) + half_window)
    if hi < lo:
        return None
    i = lo + int(np.argmax(ac[lo : hi + 1]))
    a, b, c = ac[i - 1], ac[i], ac[i + 1]
    den = a - 2 * b + c
    off = 0.5 * (a - c) / den if den < 0 else 0.0
    return i + float(np.clip(off, -0.5, 0.5))


def _refine(ac: np.ndarray, lag: float, n_valid: int) -> float:
    """Sub-pixel period: follow the autocorrelation peaks at 2, 4, 8, ... times the period, re-centring
    each time, as long as they still correlate (precision grows with the multiple)."""
    base = ac[int(round(lag))]
    est = lag
    k = 2
    while k * est < 0.5 * n_valid:
        win = max(1, min(int(0.25 * est), 3))
        far = _parabolic_peak(ac, k * est, win)
        if far is None or ac[int(round(far))] < 0.4 * base:
            break
        est = far / k
        k *= 2
    return est


@functools.lru_cache(maxsize=64)
def _hanning(n: int) -> np.ndarray:
    window = np.hanning(n).astype(np.float32)
    window.flags.writeable = False  # shared between calls
    return window


def _power_spectrum(hp: np.ndarray) -> tuple[np.ndarray, float]:
    """Mean power spectrum of the rows of `hp` (zero-padded), and its frequency step (cycles/px)."""
    n = hp.shape[1]
    nfft = max(4096, 1 << int(math.ceil(math.log2(4 * n))))
    win = _hanning(n)
    spec = np.fft.rfft((hp - hp.mean(axis=1, keepdims=True)) * win, nfft, axis=1)
    return (np.abs(spec) ** 2).mean(axis=0), 1.0 / nfft


def _comb_score(power: np.ndarray, df: float, periods: np.ndarray, fmax: float = 0.45) -> np.ndarray:
    """Mean, over harmonics k/T below fmax, of power at the harmonic minus power half-way between.

    Unlike a plain harmonic sum this does not favour multiples of the true period (their extra teeth
    fall on empty frequencies and lower the mean) nor halves of it (their negative teeth fall on the
    odd harmonics). Only the teeth below fmax are evaluated (a ragged list, not a dense matrix: most
    of a dense one would be above fmax for short periods), with linear interpolation of the spectrum."""
    return _apply_comb(power, _comb_plan(np.asarray(periods, dtype=np.float64), df, power.size, fmax))


def _comb_plan(periods: np.ndarray, df: float, n_bins: int, fmax: float = 0.45) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the comb's teeth fall in a spectrum of `n_bins` bins, as one weighted gather: for each
    tooth the two bins around its harmonic (linear interpolation, +) and the two around the point
    half-way to the next harmonic (-), each weight divided by the period's tooth count. Returns
    (bin indices, weights, offset of each period's first entry): the score of every period is then
    one gather, one multiply and one segment sum (`_apply_comb`)."""
    counts = np.maximum(np.floor(fmax * periods).astype(np.int64), 1)  # teeth per period (k/T <= fmax)
    owner = np.repeat(np.arange(periods.size), counts)
    k = np.arange(owner.size) - np.repeat(np.cumsum(counts) - counts, counts) + 1.0
    inv = 1.0 / (periods[owner] * df)
    last = n_bins - 1
    share = 1.0 / counts[owner]

    def at(pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        np.clip(pos, 0, last - 1e-9, out=pos)
        i = pos.astype(np.int64)
        return i, pos - i

    i_on, f_on = at(k * inv)
    i_off, f_off = at((k + 0.5) * inv)
    index = np.stack([i_on, np.minimum(i_on + 1, last), i_off, np.minimum(i_off + 1, last)], axis=1).ravel()
    weight = np.stack([(1.0 - f_on) * share, f_on * share, (f_off - 1.0) * share, -f_off * share], axis=1).ravel()
    return index.astype(np.intp), weight, 4 * (np.cumsum(counts) - counts)


@functools.lru_cache(maxsize=40)
def _coarse_comb_plan(lo: float, hi: float, step: float, df: float, n_bins: int) -> tuple[np.ndarray, tuple]:
    """The coarse period grid of `_basic_period` and its comb plan: the same few (grid, spectrum
    size) pairs recur image after image, so the plan is built once for each."""
    periods = np.exp(np.arange(math.log(lo), math.log(hi), step))
    return periods, _comb_plan(periods, df, n_bins)


def _apply_comb(power: np.ndarray, plan: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    index, weight, starts = plan
    return np.add.reduceat(power[index] * weight, starts)  # every period has >= 1 tooth: no empty segment


def _basic_period(hp: np.ndarray, lo: float = 2.5, hi: float = 125.0) -> tuple[float | None, float]:
    """The line train's basic period (px) by a spectral comb, and a 0..1 periodicity strength."""
    n = hp.shape[1]
    hi = min(hi, n / 3)
    if hi <= lo * 1.5:
        return None, 0.0
    power, df = _power_spectrum(hp)
    total = float(power[int(0.01 / df) :].mean()) + 1e-12
    # the plan is built for a grid up to `hi` rounded up to a multiple of 8 px (few distinct plans:
    # row profiles have an `hi` of their own per image height), and cut back to the periods < hi:
    # the same points as a grid built up to `hi` itself
    n_periods = np.arange(math.log(lo), math.log(hi), 0.002).size
    periods, plan = _coarse_comb_plan(float(lo), float(8 * math.ceil(hi / 8)), 0.002, df, power.size)
    periods, score = periods[:n_periods], _apply_comb(power, plan)[:n_periods]
    i = int(np.argmax(score))
    if score[i] <= 0:
        return None, 0.0
    # refine: the same comb on a 0.01 % grid around the best period (its high harmonics pin it down)
    fine = periods[i] * np.exp(np.arange(-0.003, 0.003 + 1e-12, 0.0001))
    tau = float(fine[int(np.argmax(_comb_score(power, df, fine)))])
    strength = float(score[i] / (score[i] + total))
    return tau, strength


def _period_near(hp: np.ndarray, expected: float, within: float = 0.02) -> tuple[float, float]:
    """The 1 mm period within `within` of `expected` px that the spectral comb likes best, and its
    0..1 strength (as `_basic_period` measures it)."""
    power, df = _power_spectrum(hp)
    total = float(power[int(0.01 / df) :].mean()) + 1e-12
    periods = expected * np.exp(np.arange(-within, within + 1e-12, 0.0005))
    score = _comb_score(power, df, periods)
    i = int(np.argmax(score))
    return float(periods[i]), float(max(score[i], 0.0) / (max(score[i], 0.0) + total))


def _fold(hp_mean: np.ndarray, period: float) -> np.ndarray:
    """Average of a profile folded at `period` (bins of 1 px)."""
    nb = max(1, int(round(period)))
    x = np.arange(hp_mean.size)
    b = np.floor((x % period) / period * nb).astype(int)
    sums = np.bincount(b, weights=hp_mean, minlength=nb)
    cnt = np.bincount(b, minlength=nb)
    return sums / np.maximum(cnt, 1)


def _major_of(hp_mean: np.ndarray, tau: float) -> tuple[float, float]:
    """Is the basic period `tau` the 1 mm (minor) or the 5 mm (major) pitch? Returns (major pitch, ratio).

    Resolution prior first: a period of at most 12.5 px is the minor pitch (as a major pitch it would
    mean < 64 dpi, too coarse for a scanned ECG), a longer one the major pitch (as a minor pitch it
    would mean > 317 dpi, with the 1 mm lines invisible...) unless folding the profile at 5 * tau
    shows one bump clearly darker than the other four (major lines), over at least 12 repeats."""
    if tau <= 12.5:
        return 5 * tau, 1.0
    ratio = 1.0
    if tau <= MAX_PX_PER_MM and 5 * tau * 12 <= hp_mean.size:
        t = _fold(hp_mean, 5 * tau)
        t = t - np.median(t)
        nb = t.size
        top = int(np.argmax(t))
        heights = [t[int(round(top + k * nb / 5)) % nb] for k in range(5)]
        others = float(np.median(heights[1:]))
        ratio = float(heights[0] / others) if others > 1e-9 else 0.0
        if ratio >= 2.0:
            return 5 * tau, ratio
    return tau, ratio


def _band_profiles(d: np.ndarray, band: int) -> tuple[np.ndarray, np.ndarray]:
    """Column profiles (mean over rows) of horizontal bands, and the bands' centre rows. Within a band
    a rotation of up to 3 degrees moves a vertical line by < 2 px. The map is the grid view (certain
    trace blanked, the rest capped), so the trace weighs little, and a horizontal line adds the same
    to every column of a band (removed by the band-pass). Bands are whole and equally spaced (the
    skew search relies on the spacing), so one reshape computes all the means."""
    h, w = d.shape
    nb = max(1, h // band)
    band = min(band, h)
    top = (h - nb * band) // 2  # whole bands of `band` rows, centred: the few rows left over are dropped
    profs = d[top : top + nb * band].reshape(nb, band, w).mean(axis=1, dtype=np.float32)
    return _clip_profiles(profs), top + (np.arange(nb) + 0.5) * band


def _clip_profiles(profs: np.ndarray) -> np.ndarray:
    """Clip each profile at its 95th percentile: a column crossed by a steep, not-quite-black QRS
    stroke looks like a very dark grid line; clipped, it weighs no more than a major line."""
    cap = np.expand_dims(percentile(profs, 95), -1)
    return np.minimum(profs, cap)


def _band_power(hp: np.ndarray, centres: np.ndarray, major: float):
    """The power of the bands' sum after shifting each by centre * tan(angle), as a function of the
    angles (degrees, array): high where the lines of all bands line up (`_skew_from_bands`)."""
    n = hp.shape[1]
    nfft = 1 << int(math.ceil(math.log2(n)))
    spec = np.fft.rfft(hp - hp.mean(axis=1, keepdims=True), nfft, axis=1)
    f = np.fft.rfftfreq(nfft)
    # only the bins within 2 of a harmonic of the major pitch: that is where the lines' power is (the
    # rest is trace and noise), and it makes the angle search ~10x cheaper
    harmonic = f * major
    near = np.abs(harmonic - np.round(harmonic)) * nfft / major <= 2.0
    keep = (f >= 0.5 / major) & (f <= 0.45) & near
    spec, f = spec[:, keep], f[keep]
    # the bands are equally spaced (`_band_profiles`), so band b's shift is (b - mid) * step * t and
    # its phase ramp the (b - mid)-th power of one complex number per angle and frequency: the sum
    # over bands is a polynomial in it (Horner), |z^-mid| = 1 drops out of the power
    step = float(centres[1] - centres[0]) if len(centres) > 1 else 0.0

    def power(angles: np.ndarray) -> np.ndarray:
        t = np.tan(np.radians(angles))
        z = np.exp(-2j * np.pi * step * t[:, None] * f[None, :])
        total = np.broadcast_to(spec[-1], z.shape).astype(np.complex128)
        for band in spec[-2::-1]:
            total = total * z + band
        return np.sum(total.real**2 + total.imag**2, axis=1)

    return power


def _skew_from_bands(hp: np.ndarray, centres: np.ndarray, major: float, max_deg: float = 5.5) -> float:
    """Rotation (degrees, OpenCV sign convention) that best aligns the vertical grid lines of all bands.

    For each candidate angle, each band's profile is shifted by centre * tan(angle) (a phase ramp in
    the Fourier domain) and the bands are summed; the power of the sum (all harmonics above half the
    major-line frequency) peaks when the lines line up. Search in 0.1 degree steps, then 0.02 around
    the best, then a parabola through the three best points."""
    power = _band_power(hp, centres, major)
    coarse = np.arange(-max_deg, max_deg + 1e-9, 0.2)
    best = float(coarse[int(np.argmax(power(coarse)))])
    mid = best + np.arange(-0.2, 0.2 + 1e-9, 0.05)
    best = float(mid[int(np.argmax(power(mid)))])
    fine = best + np.arange(-0.05, 0.05 + 1e-9, 0.01)
    pf = power(fine)
    i = int(np.argmax(pf))
    ang = float(fine[i])
    if 0 < i < len(fine) - 1:
        a, b, cc = pf[i - 1], pf[i], pf[i + 1]
        den = a - 2 * b + cc
        if den < 0:
            ang += 0.01 * float(np.clip(0.5 * (a - cc) / den, -0.5, 0.5))
    return -ang


def _grid_view(d_luma: np.ndarray) -> np.ndarray:
    """Darkness map for grid analysis: certain trace pixels (darker than any grid line) become paper,
    the rest is capped, so the trace weighs as little as possible in the line profiles."""
    _, g = cv2.threshold(np.asarray(d_luma, np.float32), 0.6, 0.0, cv2.THRESH_TOZERO_INV)
    _, g = cv2.threshold(g, 0.45, 0.0, cv2.THRESH_TRUNC)
    return g


def _column_mean(d: np.ndarray) -> np.ndarray:
    return cv2.reduce(d, 0, cv2.REDUCE_AVG).ravel()


def _row_mean(d: np.ndarray) -> np.ndarray:
    return cv2.reduce(d, 1, cv2.REDUCE_AVG).ravel()


def _search_skew(bands: np.ndarray, centres: np.ndarray, major: float) -> float:
    """`_skew_from_bands` within 3 degrees, or within 5.5 when the angle found is at the edge of the
    usual range (the scan may be turned further)."""
    skew = _skew_from_bands(bands, centres, major, max_deg=3.0)
    if abs(skew) > 2.9:
        skew = _skew_from_bands(bands, centres, major, max_deg=5.5)
    return skew


def _cross_checked_skew(g: np.ndarray, skew: float, major: float, bands: np.ndarray, centres: np.ndarray) -> float:
    """On a strip much wider than tall, the vertical lines measure the angle over a few bands only
    (a short lever: a wrong angle on a wrinkled or shaded strip is common); the horizontal lines,
    across bands of columns, measure it over the whole width. Where the two agree within 0.3 degrees
    the horizontal lines' angle is kept: its lever is the strip's width, several times its height,
    and a tenth of a degree left over tilts the baseline by 0.05 mV over 10 s, about what a
    low-amplitude lead's SNR can bear (ecg-image-kit strips: the median error 0.005 -> 0.001 degrees;
    a 250 dpi strip read 0.26 degrees turned had 11.4 dB, 28.9 square). Where they disagree by more,
    the angle that lines up both families better (each family's power normalized by its best of the
    two) is kept."""
    h, w = g.shape
    profs, col_centres = _band_profiles(cv2.transpose(g), int(np.clip(w // 8, 32, 256)))  # (a copy 3x faster than numpy's)
    if len(col_centres) < 3:
        return skew
    row_bands = _highpass(profs)
    across = -_search_skew(row_bands, col_centres, major)
    if abs(across - skew) <= 0.3:
        return across
    candidates = np.array([skew, across])
    across_power = _band_power(row_bands, col_centres, major)(candidates)
    down_power = _band_power(bands, centres, major)(-candidates)
    if not (across_power.max() > 0 and down_power.max() > 0):  # a family with no lines at all (no grid): keep the first angle
        return skew
    score = across_power / across_power.max() + down_power / down_power.max()
    return float(candidates[int(np.argmax(score))])


SQUARE_LATTICE_TOLERANCE = 0.06  # ECG paper's 1 mm squares, as scanned: rows and columns within 6 % (real grids: 0.96-1.02)
FAINT_GRID_LINE = 0.06  # darkness (norm of its colour vector) under which no grid line is seen (real scans' faint grey-pink grids: 0.089 and more)
FAINT_LATTICE_CONTRAST = 2.8  # ... or whose major lines stand out of the paper less than this many times its grain does (`lattice_line_contrast`)
SQUARE_LATTICE_CONTRAST = 2.0  # ... the same for a square lattice (rows matching columns are evidence of their own)
TALL_FOR_ONE_PROFILE = 400  # px: taller images read the pitch per band ...
PITCH_BAND_ROWS = 48  # ... of this many rows (3 degrees move a line by 2.5 px within one)


def estimate_grid(
    d_luma: np.ndarray, grid_view: np.ndarray | None = None, expected_px_per_mm: float | None = None, known_skew_deg: float | None = None
) -> GridEstimate:
    """Grid pitch (px/mm), presence and skew from a darkness map (see module docstring); pass
    `grid_view` (`_grid_view(d_luma)`) when it is at hand. `expected_px_per_mm`: the pitch is
    sought within 2 % of it (the pitch the other leads of the same scan agree on) instead of over
    every period. `known_skew_deg`: the skew is taken as this (the angle the other leads of the same
    scan agree on) instead of measured."""
    h, w = d_luma.shape
    if w < 40 or h < 20:
        return GridEstimate(False)
    g = _grid_view(d_luma) if grid_view is None else grid_view
    # pitch from the whole-height column profile: a median over all rows ignores the trace (it covers
    # a minority of the rows in any column); a small rotation only widens the lines
    if h > TALL_FOR_ONE_PROFILE:
        # a whole page: over its height a few degrees of rotation move a vertical line by more than
        # the 1 mm pitch, and the whole-height profile keeps only the coarse layout; the pitch is read
        # from the power spectra of bands a few millimetres high instead (their mean)
        colp = _highpass(_band_profiles(g, PITCH_BAND_ROWS)[0])
    else:
        colp = _highpass(_clip_profiles(_column_mean(g))[None, :])
    if expected_px_per_mm:
        tau, strength = _period_near(colp, float(expected_px_per_mm))
        mx = 5 * tau
    else:
        tau, strength = _basic_period(colp)
        if tau is None or strength < 0.15:
            return GridEstimate(False, strength=max(strength, 0.0))
        mx, _ = _major_of(colp[0], tau)
    if not (5 * MIN_PX_PER_MM <= mx <= 5 * MAX_PX_PER_MM):
        return GridEstimate(False, strength=strength)

    if known_skew_deg is not None:
        return GridEstimate(True, px_per_mm_x=mx / 5.0, px_per_mm_y=None, strength=strength, skew_deg=float(known_skew_deg))
    # skew: shear the band profiles against each other and keep the angle that makes their sum sharpest
    skew = 0.0
    profs, centres = _band_profiles(g, int(np.clip(h // 4, 8, 32)))
    if len(centres) >= 3:
        bands = _highpass(profs)
        skew = _search_skew(bands, centres, mx)
    if w >= 3 * h and len(centres) >= 3:
        skew = _cross_checked_skew(g, skew, mx, bands, centres)
    return GridEstimate(True, px_per_mm_x=mx / 5.0, px_per_mm_y=None, strength=strength, skew_deg=skew)


def _finish_grid(grid: GridEstimate, d_luma: np.ndarray, is_grid_view: bool = False) -> GridEstimate:
    """Refined horizontal pitch, vertical pitch and major-line phases on the deskewed darkness map
    (or on its grid view, `is_grid_view`)."""
    h, w = d_luma.shape
    if not is_grid_view:
        d_luma = _grid_view(d_luma)
    return finish_grid_from_means(grid, _column_mean(d_luma), _row_mean(d_luma), h)


def finish_grid_from_means(grid: GridEstimate, column_mean: np.ndarray, row_mean: np.ndarray, h: int) -> GridEstimate:
    """`_finish_grid` from the grid view's column means and row means (`h`: the image's height); a
    caller may average fewer rows or columns than the whole image (a page: every 8th)."""
    colp = _highpass(_clip_profiles(column_mean)[None, :])[0]
    rowp = _highpass(_clip_profiles(row_mean)[None, :])[0]
    # re-measure the horizontal pitch on the deskewed profile: fine comb around the major pitch
    power, df = _power_spectrum(colp[None, :])
    m5 = 5 * grid.px_per_mm_x
    fine = m5 * np.exp(np.arange(-0.01, 0.01 + 1e-12, 0.0001))
    grid.px_per_mm_x = float(fine[int(np.argmax(_comb_score(power, df, fine)))]) / 5.0
    my = None
    if h >= 40:
        my = _vertical_pitch(rowp, 5 * grid.px_per_mm_x, h)
    grid.px_per_mm_y = my if my is not None else grid.px_per_mm_x
    grid.square = my is not None and abs(my / grid.px_per_mm_x - 1.0) <= SQUARE_LATTICE_TOLERANCE
    m5x = 5 * grid.px_per_mm_x
    tx = _fold(colp, m5x)
    grid.phase_x = float(np.argmax(tx) * m5x / tx.size)
    m5y = 5 * grid.px_per_mm_y
    if h >= m5y:
        ty = _fold(rowp, m5y)
        grid.phase_y = float(np.argmax(ty) * m5y / ty.size)
    return grid


def _vertical_pitch(rowp: np.ndarray, major_x: float, h: int) -> float | None:
    """px/mm along the rows: the row profile's basic period when it is within 12 % of the horizontal
    minor or major pitch (square paper; a scanner may stretch one axis a little), else None (the
    caller then takes the horizontal pitch). A search confined to that window would always find
    something there; on short strips (2-4 major periods) that something is often 10 % off."""
    tau, strength = _basic_period(rowp[None, :], lo=2.5, hi=min(125.0, h / 2))
    if tau is None or strength <= 0.1:
        return None
    for multiple in (1.0, 5.0, 0.2):
        if abs(tau * multiple / major_x - 1) < 0.12:
            return tau * multiple / 5.0
    return None


def _rotate(d: np.ndarray, angle_deg: float, interpolation: int = cv2.INTER_LINEAR, border: int = cv2.BORDER_CONSTANT) -> np.ndarray:
    """`d` turned by `angle_deg` about its centre, the same size; outside it 0 (`BORDER_CONSTANT`) or
    the nearest edge pixel (`BORDER_REPLICATE`: paper, for an image)."""
    h, w = d.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    if d.ndim == 3 and d.shape[2] == 3:
        # OpenCV warps 1- and 4-channel images with SIMD, 3-channel ones without: through 4 channels
        # the same pixels come out (each channel is interpolated alone) in under half the time
        four = cv2.warpAffine(cv2.cvtColor(d, cv2.COLOR_BGR2BGRA), m, (w, h), flags=interpolation, borderMode=border, borderValue=0.0)
        return cv2.cvtColor(four, cv2.COLOR_BGRA2BGR)
    return cv2.warpAffine(d, m, (w, h), flags=interpolation, borderMode=border, borderValue=0.0)


FEW_COMPONENTS = 8  # up to this many, component statistics are measured one component at a time


def connected_labels(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """8-connected components of a 0/1 uint8 mask: (count, labels), row 0 the background. 16-bit
    labels when they fit: OpenCV's labelling is about 3x faster with them, and it raises (never
    wraps) past 65,534 components, when 32-bit labels are used."""
    try:
        return cv2.connectedComponents(mask, connectivity=8, ltype=cv2.CV_16U)
    except cv2.error:
        return cv2.connectedComponents(mask, connectivity=8, ltype=cv2.CV_32S)


def label_components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """8-connected components of a 0/1 mask: (count, labels, stats as OpenCV lays them out). Row 0 is
    the background; its box is the whole image on the few-components path and is not used.

    Labels as `connected_labels` gives them (16-bit when they fit). OpenCV's statistics pass visits
    every pixel, background included, and costs twice the labelling; a lead's ink is usually one to
    three components, so up to `FEW_COMPONENTS` the statistics come from one bounding box and one
    pixel count per component instead (the same numbers, in half the time)."""
    n, labels = connected_labels(mask)
    if n - 1 > FEW_COMPONENTS:
        ltype = cv2.CV_16U if labels.dtype == np.uint16 else cv2.CV_32S
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=ltype)
        return n, labels, stats
    h, w = mask.shape
    stats = np.empty((n, 5), np.int32)
    for label in range(1, n):
        component = cv2.compare(labels, label, cv2.CMP_EQ)
        x, y, width, height = cv2.boundingRect(component)
        stats[label] = (x, y, width, height, cv2.countNonZero(component))
    stats[0] = (0, 0, w, h, h * w - int(stats[1:, cv2.CC_STAT_AREA].sum()))
    return n, labels, stats


def background_noise(d: np.ndarray, ink: np.ndarray, step: int = 3) -> float:
    """Standard deviation of the darkness of non-ink pixels (every `step`-th row and column): paper
    noise, plus the grid's own contribution (small). Not a MAD: darkness is clipped at 0, and with
    heavy noise over half of the paper pixels sit at exactly 0."""
    sub, m = d[::step, ::step], ink[::step, ::step] == 0
    v = sub[m]
    if v.size < 10:
        return float("nan")
    return float(np.std(v))


def _median_u8(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Median of a uint8 image (of its pixels where the 0/1 uint8 `mask` is 1) from its histogram
    (no sort). With a mask, numpy's bincount of the selected pixels is faster than OpenCV's masked
    histogram."""
    if mask is None:
        hist = cv2.calcHist([image], [0], None, [256], [0, 256]).ravel()
    else:
        hist = np.bincount(image[mask.view(bool)], minlength=256)
    return float(np.searchsorted(np.cumsum(hist), 0.5 * hist.sum()))


def channel_darkness(bgr: np.ndarray, k: int) -> np.ndarray:
    """Per-channel relative darkness (h, w, 3) float32: each channel divided by its own paper level,
    so a tinted or unevenly lit paper is (0, 0, 0) and every colour is a vector of darkness."""
    # one call on all three channels: OpenCV's filters and arithmetic work channel by channel, so the
    # values are those of three single-channel calls (and no split and merge)
    return _darkness(bgr, k)


def _percentile_down_columns(rows: np.ndarray, q: float) -> np.ndarray:
    """`np.percentile(rows, q, axis=0)` (the same values) by one sort along the first axis: for a few
    dozen rows that is ~15x faster than numpy's partition-based percentile along a strided axis. The
    rows are sorted transposed (each column's values contiguous: 1.3x faster again)."""
    n = rows.shape[0]
    pos = q / 100.0 * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    ordered = cv2.transpose(rows.reshape(n, -1))
    ordered.sort(axis=1)
    low, high = ordered[:, lo], ordered[:, hi]
    return (low + (high - low) * (pos - lo)).reshape(rows.shape[1:])


def grid_colours(d3: np.ndarray, grid: GridEstimate) -> list[np.ndarray]:
    """Darkness vectors of the major and minor grid lines, read where the lattice says the vertical
    lines are: per column, the median over rows (the trace covers a minority of the rows of any
    column), the darkest column within 1 px of each line position, then the median over the lines of
    each kind. Empty without a grid. Whatever the grid's colour (red, blue, green, grey...), the ink
    map then needs no colour rule of its own (`trace_score`)."""
    if not grid.found or not grid.px_per_mm_x:
        return []
    h, w, _ = d3.shape
    step = max(1, h // 48)
    rows = d3[::step]
    # a high percentile, not the median: a line's full colour is the reference (pixels a line only
    # partly covers are mixtures of it and the paper, and score <= 0 against it, `trace_score`), and
    # after a rotation by interpolation (the scanner's or the deskew's) only some rows of a 1-px line
    # keep the full colour; the trace crosses a column in a few rows only
    colmed = _percentile_down_columns(rows, 90) if rows.shape[0] > 1 else rows[0]
    strength = colmed.sum(axis=1)
    pitch = float(grid.px_per_mm_x)
    # where the lines are, from these columns' own colour strength folded at the pitch: the lattice's
    # phase comes from the grid view, which caps dark lines as if they were trace, so on a dark grid
    # (navy, dark green) it can sit between the lines
    fold = _fold(strength, pitch)
    phase = float(np.argmax(fold)) * pitch / fold.size
    k = np.arange(math.floor(-phase / pitch), math.ceil((w - phase) / pitch) + 1)
    pos = np.rint(phase + k * pitch).astype(np.int64)
    inside = (pos >= 1) & (pos <= w - 2)
    k, pos = k[inside], pos[inside]
    if pos.size < 3:
        return []
    around = np.stack([pos - 1, pos, pos + 1], axis=1)
    best = around[np.arange(pos.size), np.argmax(strength[around], axis=1)]
    # which lines are the major ones: the residue class (mod 5) whose lines are darkest (the phase
    # found on the grid view need not sit on a major line)
    mean_by_class = [float(strength[best[k % 5 == r]].mean()) if (k % 5 == r).any() else 0.0 for r in range(5)]
    major = k % 5 == int(np.argmax(mean_by_class))
    colours = []
    for kind in (major, ~major):
        if kind.sum() >= 2:
            c = np.median(colmed[best[kind]], axis=0).astype(np.float32)
            if float(c.max()) >= 0.04:  # a line kind too faint to see is not a reference
                colours.append(c)
    return colours


def lattice_line_contrast(d3: np.ndarray, grid: GridEstimate) -> float:
    """How far the lattice's major lines stand out of the paper, against how far the paper's own
    grain stands out at periods that are not the lattice's: each column's mean darkness down the
    image (~64 rows, summed over the three channels, each pixel capped at the map's upper quartile
    so that the trace's strokes weigh no more than a line), folded at the major pitch and at seven
    periods off it (0.62-1.62x), each fold's darkest position above its median; the ratio of the
    first to the others' median. A grid's lines stand out however noisy the paper; a lattice read
    into a grid-free strip's beats does not."""
    sampled = d3[:: max(1, d3.shape[0] // 64)]
    rows = sampled[..., 0] + sampled[..., 1] + sampled[..., 2]  # (numpy's sum over a 3-wide axis is ~10x slower)
    some = rows.ravel()[::3]
    cap = float(np.partition(some, (3 * some.size) // 4)[(3 * some.size) // 4])
    # (paper without any grain, more than three quarters of it blank: nothing to cap against)
    profile = (np.minimum(rows, cap) if cap > 0 else rows).mean(axis=0)
    major = 5.0 * float(grid.px_per_mm_x)

    def standing_out(period: float) -> float:
        fold = _fold(profile, period)
        return float(fold.max() - np.partition(fold, fold.size // 2)[fold.size // 2])  # (np.median's overhead is ~0.07 ms a call)

    null = sorted(standing_out(major * f) for f in OFF_LATTICE_PERIODS)[len(OFF_LATTICE_PERIODS) // 2]
    lines = standing_out(major)
    return lines / null if null > 0 else (math.inf if lines > 0 else 0.0)


def is_grid_lattice(d3: np.ndarray, grid: GridEstimate, references: list[np.ndarray], whole_page: bool = False) -> bool:
    """Whether a lattice found in an image (`estimate_grid`, `_finish_grid`) is a grid's and not the
    trace's own periodicity (a regular rhythm's beats on a grid-free strip, read through the paper's
    grain): its lines have a colour (`references`, `grid_colours`) and stand out of the paper
    (`lattice_line_contrast`). A lattice whose rows match its columns (1 mm squares) needs less.
    On a `whole_page` a line need not run straight down the whole height (a photographed page's
    converge), so the contrast is no measure there: a lattice whose rows do not match its columns
    needs a line darker than a faint grid's only (the page's layout then tests it against its rows
    of traces)."""
    if grid.square:
        return whole_page or (bool(references) and lattice_line_contrast(d3, grid) >= SQUARE_LATTICE_CONTRAST)
    darkest = max((float(np.linalg.norm(line)) for line in references), default=0.0)
    return darkest >= FAINT_GRID_LINE and (whole_page or lattice_line_contrast(d3, grid) >= FAINT_LATTICE_CONTRAST)


OFF_LATTICE_PERIODS = (0.618, 0.707, 0.851, 1.175, 1.273, 1.414, 1.618)  # x the major pitch: no multiple of it, nor of 1 mm


def _same_hue(colour: np.ndarray, trace_colour: np.ndarray, max_deg: float = 4.0) -> bool:
    """Whether a darkness vector points the trace's way (a lighter or darker shade of its colour)."""
    a, b = np.asarray(colour, np.float64), np.asarray(trace_colour, np.float64)
    den = float(np.linalg.norm(a) * np.linalg.norm(b))
    return den > 0 and float(a @ b) / den >= math.cos(math.radians(max_deg))


DARK_LINE_SHARE = 0.5  # a grid line at least this dark along the trace's colour: the grid is unmixed by share (`trace_score`)
WEAK_SHARE_OF_STRONG = 0.85  # the weak level when the score is a pixel's trace share throughout (`binarize_score`)


def is_dark_line(colour: np.ndarray, trace_colour: np.ndarray) -> bool:
    """Whether a grid line's darkness vector reaches at least `DARK_LINE_SHARE` of the trace's along
    the trace's colour: a line about as dark as the pen (navy, dark green, brown)."""
    t = np.asarray(trace_colour, np.float64)
    return float(np.asarray(colour, np.float64) @ t) >= DARK_LINE_SHARE * float(t @ t)


def trace_score(d3: np.ndarray, references: list[np.ndarray], trace_colour: np.ndarray, by_share: bool = False) -> np.ndarray:
    """How much each pixel looks like the trace rather than the paper or any grid line (float32, 1 =
    trace colour, <= 0 = paper or a grid line): the minimum over the references (paper = 0 and the
    grid's lines) of the pixel's trace score against each.

    Against the paper, and against a line g by default, the score is the pixel's position along the
    segment from g to the trace colour t, (p - g).(t - g) / |t - g|^2: a light line's own colour scores
    0 against itself whatever its hue, and a mixture of it and the paper scores below 0.

    `by_share` (a grid with a line about as dark as the pen, `is_dark_line`: navy, dark green, brown),
    where that segment fails both ways: a mixture of a dark line and the paper, or a line pixel darker
    than its reference (interpolation, the scan's or the deskew's, reads a line lighter than it is
    drawn), lies beyond g and scores like ink; an anti-aliased edge of the trace, half the pen's colour,
    scores below 0, so a thin pen's flat stretches vanish. Each pixel is then split into the trace
    and each line's colour by least squares, p = a t + b g, and scores a, its share of trace, where it
    holds some of the line (b > 0), or its score against the paper where it holds none: a line's pixel
    of any darkness scores 0 and an edge of the trace its coverage. Every line is split so, the light
    ones too, so that the score means the same throughout (`binarize_score`'s weak level)."""
    t = np.asarray(trace_colour, np.float32)
    score = paper = None
    for g in [np.zeros(3, np.float32), *references]:
        v = (t - g).astype(np.float32)
        n2 = float(v @ v)
        if n2 < 0.02:  # a reference the colour of the trace itself cannot be told apart: skip it
            continue
        if by_share and paper is not None:
            unmix = _least_squares_unmixing(t, g)
            if unmix is not None:  # (a line of the trace's own hue is not among the references)
                # (a, b) per pixel, one output row at a time: OpenCV's 2-row transform is ~4x slower
                # than two 1-row ones (no vectorized path), and numpy's `where` on the interleaved
                # channels as slow again; together 3x this function's time on a dark grid
                share_of_trace, share_of_line = (cv2.transform(d3, unmix[i : i + 1]).reshape(score.shape) for i in (0, 1))
                # where a pixel holds none of the line (b <= 0) it scores against the paper, and the
                # score so far is already at most that: only the pixels holding some line can drop
                inf = np.full(score.shape, np.inf, np.float32)
                score = cv2.min(score, cv2.copyTo(inf, cv2.compare(share_of_line, 0.0, cv2.CMP_LE), share_of_trace))
                continue
        m = np.concatenate([v / n2, [-float(g @ v) / n2]]).astype(np.float32)[None, :]
        s = cv2.transform(d3, m)
        if score is None:
            score = s
            if not g.any():
                paper = s.reshape(d3.shape[:2])
        else:
            score = cv2.min(score, s)
    if score is None:
        score = cv2.transform(d3, np.full((1, 3), 1.0 / 3.0, np.float32))
    return score.reshape(d3.shape[:2])


def _least_squares_unmixing(t: np.ndarray, g: np.ndarray, max_condition: float = 1e6) -> np.ndarray | None:
    """The (2, 3) float32 matrix that splits a colour p into a t + b g by least squares (the
    pseudo-inverse of the basis [t g]), or None where the basis' condition number is `max_condition`
    or more (g nearly t's hue). Closed form from the basis' QR factors (Gram-Schmidt on two columns):
    numpy's `pinv` and `cond` each take an SVD, ~30 us a call, and a page makes hundreds of calls."""
    t, g = np.asarray(t, np.float64), np.asarray(g, np.float64)
    r11 = math.sqrt(float(t @ t))
    if r11 == 0:
        return None
    q1 = t / r11
    r12 = float(q1 @ g)
    u = g - r12 * q1
    r22 = math.sqrt(float(u @ u))
    # the singular values of R = [[r11, r12], [0, r22]]: their product is |r11 r22|, their squares
    # sum to R's squared entries
    product, squares = r11 * r22, r11 * r11 + r12 * r12 + r22 * r22
    largest_squared = 0.5 * (squares + math.sqrt(max(squares * squares - 4.0 * product * product, 0.0)))
    if product == 0 or largest_squared / product >= max_condition:  # cond = largest / smallest = largest^2 / product
        return None
    q2 = u / r22
    first = q1 / r11 - (r12 / (r11 * r22)) * q2  # rows of R^-1 Q^T
    return np.stack([first, q2 / r22]).astype(np.float32)


def estimate_trace_colour(d3: np.ndarray, references: list[np.ndarray]) -> np.ndarray:
    """The trace's darkness vector: the median colour of the pixels that score highest against a
    black pen's (a first pass), so a grey, blue or faded trace is followed as it is drawn."""
    first = np.full(3, 0.9, np.float32)
    sub = _subsample(d3, 2)
    s = trace_score(sub, references, first)
    sel = s > max(0.6, float(percentile(s.ravel(), 99.0)) * 0.8)
    if int(sel.sum()) < 20:
        return first
    # the median of each channel, each from a contiguous row (the same values as np.median(sub[sel],
    # axis=0), in half the time)
    t = np.median(np.ascontiguousarray(sub.reshape(-1, 3)[np.flatnonzero(sel)].T), axis=1).astype(np.float32)
    if float(t.max()) < 0.25:  # nothing dark enough to be a pen: keep black
        return first
    return t


def _subtract_line_levels(score: np.ndarray) -> float:
    """Subtract, in place, the grid lines of the trace's own hue: per column its 20 % quantile over
    rows (vertical lines; the trace covers a minority of any column's rows) and per row its 10 %
    quantile over columns (horizontal lines; a flat stretch of trace rarely fills 90 % of a row).
    Returns the darkest line level removed: a floor under the thresholds for what is left over
    (line crossings, anti-aliased line edges)."""
    h, w = score.shape
    rows = cv2.transpose(score[:: max(1, h // 48)])  # (numpy's transposed copy, 2x faster)
    q = int(round(0.2 * (rows.shape[1] - 1)))
    colm = np.maximum(np.partition(rows, q, axis=1)[:, q], 0.0).astype(np.float32)
    np.subtract(score, colm[None, :], out=score)
    cols = score[:, :: max(1, w // 96)]
    q = int(round(0.1 * (cols.shape[1] - 1)))
    rowm = np.maximum(np.partition(cols, q, axis=1)[:, q], 0.0).astype(np.float32)
    np.subtract(score, rowm[:, None], out=score)
    blocks = 5
    if w >= blocks * 100:
        # and per stretch of ~2 s: where shading (a wrinkle, a shadow, uneven light) changes a line's
        # level along the row, the whole row's quantile leaves its darker stretches behind as long
        # straight ink the trace follower can take for the trace
        edges = np.linspace(0, w, blocks + 1).astype(int)
        for a, b in zip(edges[:-1], edges[1:]):
            part = score[:, a:b:max(1, (b - a) // 64)]
            q = int(round(0.05 * (part.shape[1] - 1)))
            level = np.maximum(np.partition(part, q, axis=1)[:, q], 0.0).astype(np.float32)
            np.subtract(score[:, a:b], level[:, None], out=score[:, a:b])
    return float(max(percentile(colm, 99), percentile(rowm, 99)))


def binarize_score(
    score: np.ndarray, px_per_mm: float | None, sigma: float, remove_lines: bool = False, bridge_lines: bool = False, by_share: bool = False
) -> tuple[np.ndarray, float, tuple | None]:
    """Ink mask from the trace score (`trace_score`): hysteresis between a strong level (a pixel
    surely on the trace) and a weak one (a faint anti-aliased stroke or a 1-px line at 100 dpi, kept
    only where its component holds strong pixels). Both levels rise with the paper's noise `sigma`
    (score units), and a noisy map is smoothed along lines first (a 3x3 median would erase a 1-px
    trace). `remove_lines`: the grid is the trace's own hue and is subtracted by geometry. `by_share`: the
    score is each pixel's share of trace against the grid's dark lines (`trace_score`), so an
    anti-aliased edge scores its coverage and the weak level sits near the strong one
    (`WEAK_SHARE_OF_STRONG`); the projection on a light line scores such edges lower, and 60 % of the
    strong level keeps them. Returns (mask, median score of the ink, components)."""
    if sigma > 0.03:
        # along-the-line smoothing: the larger of a horizontal and a vertical 3-px mean keeps a 1-px
        # line (flat stretch or steep stroke) whole, and cuts isolated noise by ~sqrt(3)
        score = cv2.max(cv2.blur(score, (3, 1)), cv2.blur(score, (1, 3)))
        sigma = sigma / math.sqrt(3.0)
    # the strong level follows the trace's own peak score (a blurred 1-px trace never reaches 1),
    # the floors the paper's noise
    line_level = _subtract_line_levels(score) if remove_lines else 0.0
    peak = float(percentile(score[::2, ::2].ravel(), 99.7))
    strong = max(0.2, 4.5 * sigma, min(0.5, 0.6 * peak), 0.25 * line_level)
    weak = max(0.12, 2.5 * sigma, (0.5 if remove_lines else (WEAK_SHARE_OF_STRONG if by_share else 0.6)) * strong, 0.15 * line_level)
    u8 = cv2.convertScaleAbs(cv2.max(score, 0.0), alpha=255.0)  # saturates: > 1 -> 255
    _, weak_mask = cv2.threshold(u8, math.ceil(weak * 255) - 1, 1, cv2.THRESH_BINARY)
    if bridge_lines and px_per_mm:
        # where the trace crosses a vertical grid line its pixels are part line colour and may score
        # low: close horizontal gaps up to a line's width
        k = max(2, int(round(0.3 * px_per_mm))) + 1
        weak_mask = cv2.morphologyEx(weak_mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1)))
        u8 = cv2.max(u8, weak_mask * np.uint8(math.ceil(weak * 255)))
    n, labels, stats = label_components(weak_mask)
    if n <= 1:
        return np.zeros(u8.shape, np.uint8), 0.0, None
    keep = np.zeros(n, bool)
    keep[labels[u8 >= math.ceil(strong * 255)]] = True  # u8 >= strong * 255, compared as integers
    keep[0] = False
    ppm = px_per_mm or 4.0
    keep &= stats[:, cv2.CC_STAT_AREA] >= max(3, int(round(0.1 * ppm * ppm)))
    mask = weak_mask if keep[1:].all() else kept_components(labels, keep)
    dark = _median_u8(u8, mask) / 255.0 if mask.any() else 0.0
    return mask, dark, (labels, stats, keep)


def kept_components(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``keep[labels].astype(np.uint8)``: the uint8 0/1 mask of the labelled components `keep` (a bool
    per label) marks. Up to 256 labels through OpenCV's lookup table (4x faster than numpy's gather),
    else numpy's `take` on the flags as bytes (2x)."""
    flags = np.ascontiguousarray(keep, dtype=bool).view(np.uint8)
    if flags.size <= 256:
        table = np.zeros(256, np.uint8)
        table[: flags.size] = flags
        return cv2.LUT(labels.astype(np.uint8), table)
    return np.take(flags, labels)


def scaled_grid(grid: GridEstimate, factor: float) -> GridEstimate:
    """The same grid on the image resized `factor` times (pixel centres map as cv2.resize maps them)."""
    if not grid.found:
        return dataclasses.replace(grid)
    return dataclasses.replace(
        grid,
        px_per_mm_x=grid.px_per_mm_x * factor,
        px_per_mm_y=grid.px_per_mm_y * factor,
        phase_x=(grid.phase_x + 0.5) * factor - 0.5,
        phase_y=(grid.phase_y + 0.5) * factor - 0.5,
    )


def prepare_image(
    image: np.ndarray,
    default_px_per_mm: float | None = None,
    bridge_lines: bool = False,
    deskew: bool = True,
    unmix: bool = True,
    known_grid: GridEstimate | None = None,
    expected_px_per_mm: float | None = None,
    known_skew_deg: float | None = None,
    known_colours: InkColours | None = None,
    whole_page: bool = False,
) -> Prepared:
    """Normalize, calibrate, deskew and binarize one lead image (module docstring). `bridge_lines`:
    close the gaps a grid line cuts in a faint trace (the second try for an image whose trace was
    not found: it costs a little accuracy where it is not needed). `deskew=False`: take the image as
    square to the page (the retry when a skew found on a short strip was wrong). `unmix=False`: no
    grid colours (the last retry, when the lattice read wrong colours): the grid is subtracted by
    geometry only. `known_grid`: the grid as already measured on this image at another scale (see
    `scaled_grid`), used as it is: a lattice re-measured on an enlarged image is less reliable than
    the original's (interpolation blurs a 1-px line into a wave the comb can misread).
    `expected_px_per_mm`: measure the grid's pitch near this one; `known_skew_deg`: take the skew as
    this one (`estimate_grid`). `known_colours`: the trace's and grid lines' colours as already read
    on the same print (a page's, for each lead cut from it), used instead of reading them again
    (ignored with `unmix=False`). `whole_page`: the image is a whole page, whose lattice is tested
    by its lines' colour only (`is_grid_lattice`)."""
    bgr = to_bgr_uint8(image)
    h, w = bgr.shape[:2]
    if h < MIN_SIZE[0] or w < MIN_SIZE[1]:
        return Prepared(bgr, np.zeros((h, w), np.uint8), GridEstimate(False), too_small=True)
    luma = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    inverted = _median_u8(np.ascontiguousarray(luma[::3, ::3])) < 100
    if inverted:  # light trace on a dark background
        bgr = 255 - bgr
        luma = 255 - luma
    lo, hi, _, _ = cv2.minMaxLoc(luma)
    if hi - lo < 12:
        return Prepared(bgr, np.zeros((h, w), np.uint8), GridEstimate(False), blank=True, inverted=inverted)

    # the paper level's window: wide enough to see paper past the pen and a grid line, narrow enough to
    # follow a wrinkle's or a shadow's shading (the dilation reaches k px for the brighter side of a
    # gradient, and the gradient then reads as ink). Kit strips: k = 7/9/11/12/15/21 px give median
    # 16.5/16.5/16.3/16.3/16.1/16.1 dB (heavy 10.4/11.6/11.5/11.1/9.7/9.7); the demo holds at 9
    k = paper_window(h, w)
    if known_grid is not None:
        grid = dataclasses.replace(known_grid)
    else:
        # the luma darkness serves the grid's measurement only (a known grid needs none)
        d_luma = _darkness(luma, k)
        view = _grid_view(d_luma)
        grid = estimate_grid(d_luma, view, expected_px_per_mm=expected_px_per_mm, known_skew_deg=known_skew_deg)
    if not deskew:
        grid.skew_deg = 0.0
    if grid.found and abs(grid.skew_deg) > 0.05:
        # the grid view is all the luma darkness is still needed for, and only its row and column
        # means are: nearest-neighbour sampling is as good there, and 3x cheaper
        if known_grid is None:
            view = _rotate(view, -grid.skew_deg, cv2.INTER_NEAREST)
        # the image is turned, then its darkness measured: 4 bytes a pixel to interpolate instead of
        # the darkness maps' 16 (~10 % of a demo image's time), and the paper level is then taken
        # along the turned grid's rows and columns (ecg-image-kit strips, phase removed: heavy +1.4
        # dB on average, rotation +0.6; the demo's -0.02)
        d3 = channel_darkness(_rotate(bgr, -grid.skew_deg, border=cv2.BORDER_REPLICATE), k)
    else:
        d3 = channel_darkness(bgr, k)
    if grid.found and known_grid is None:
        grid = _finish_grid(grid, view, is_grid_view=True)
    ppm = grid.px_per_mm_x if grid.found else default_px_per_mm
    references = None  # the grid lines' colours, once read
    if grid.found and known_grid is None and expected_px_per_mm is None and unmix and grid.square is not None:
        # the periodicity may be the trace's own (a regular rhythm's beats on a grid-free strip), not
        # a grid's; on a noisy scan the paper's grain darkens every column, so the 'lines' read a
        # colour, but they stand out of the paper no more than the grain does. Not where the caller
        # expects a grid near a pitch (the patient's other leads found one:
        # `processing.recheck_pitch_outliers`)
        references = grid_colours(d3, grid)
        if not is_grid_lattice(d3, grid, references, whole_page=whole_page):
            if abs(grid.skew_deg) > 0.05:  # turned by the false grid's angle: read it square again
                d3 = channel_darkness(bgr, k)
            grid = GridEstimate(False, strength=grid.strength)
            ppm = default_px_per_mm
            references = []
    if known_colours is not None and unmix:
        colours = known_colours
        # (lines of the trace's hue were read and are left to geometry where `remove_lines`)
        has_grid_colours = bool(colours.lines) or colours.remove_lines
    else:
        if references is None:
            references = grid_colours(d3, grid) if unmix else []
        trace_colour = estimate_trace_colour(d3, references)
        # a grid of the trace's own hue (grey lines, black pen) cannot be unmixed by colour: its lines
        # are subtracted by geometry instead (`binarize`'s column quantile and grid floor)
        chromatic = [g for g in references if not _same_hue(g, trace_colour)]
        by_share = any(is_dark_line(g, trace_colour) for g in chromatic)
        remove_lines = len(chromatic) < len(references) or (not unmix and grid.found)
        colours = InkColours(trace_colour, tuple(chromatic), by_share, remove_lines)
        has_grid_colours = bool(references)
    ink, dark, components, sigma = _binarize_with(d3, colours, ppm, bridge_lines=bridge_lines and has_grid_colours)
    return Prepared(bgr, ink, grid, components, ink_darkness=dark, background_noise=sigma, colours=colours, inverted=inverted)


def paper_window(h: int, w: int) -> int:
    """The paper level's window (px) on an image h x w (`_darkness`): wide enough to see paper past the
    pen and a grid line, narrow enough to follow a wrinkle's or a shadow's shading (`prepare_image`)."""
    return 9 if min(h, w) >= 60 else 7


def _binarize_with(d3: np.ndarray, colours: InkColours, px_per_mm: float | None, bridge_lines: bool = False) -> tuple[np.ndarray, float, tuple | None, float]:
    """The ink of a per-channel darkness map scored against `colours`, with the map's own paper
    noise: (mask, median score of the ink, components, the paper's noise)."""
    sigma = paper_noise(d3, colours.trace)
    ink, dark, components = binarize_score(
        colours.score(d3), px_per_mm, sigma, remove_lines=colours.remove_lines, bridge_lines=bridge_lines, by_share=colours.by_share
    )
    return ink, dark, components, sigma


def paper_noise(d3: np.ndarray, trace_colour: np.ndarray) -> float:
    """The paper's noise (a robust standard deviation) on the darkness along the trace colour, from
    its lightest pixels (the 10th to 30th percentiles: paper, even where dense grid lines cover half
    of a strip)."""
    paper = cv2.transform(_subsample(d3, 3), (trace_colour / float(trace_colour @ trace_colour))[None, :].astype(np.float32)).ravel()
    p10, p30 = percentiles(paper, (10, 30))
    return float(p30 - p10) / 0.7572


def window_ink(bgr: np.ndarray, colours: InkColours, px_per_mm: float | None) -> np.ndarray:
    """The ink (uint8 0/1) of a part of an image already prepared at another scale, binarized as
    `prepare_image` binarizes, with that image's colours (`InkColours`): its paper level and noise
    are the part's own. Used for a page's printed names, found and read at full size on a page whose
    layout was placed scaled down."""
    return _binarize_with(channel_darkness(np.ascontiguousarray(bgr), paper_window(*bgr.shape[:2])), colours, px_per_mm)[0]
