"""Trace -> 1-D signal in mV at 500 Hz.

1. **Which ink is the trace** (`trace_columns`): connected components of the ink mask; the trace's
   horizontal span is the longest run of columns covered by "long" components (at least 3 % of the
   image width or 2 mm), allowing gaps of up to 4 mm (0.16 s: a QRS whose faint strokes broke off). Ink outside that span (a lead label, specks at
   the edges) is ignored.
2. **One vertical position per column** (`column_positions`). Columns holding a single run of ink are
   handled vectorized; for columns with several runs (a label above the trace, leftover noise) the
   run nearest to the position interpolated from the single-run neighbours wins (runs less than one
   trace-width apart are merged first; a run no taller than the pen gives way to the tallest run
   within a pen width of it). Within the chosen run the position is its middle, except in
   runs taller than 1.6 trace widths (steep strokes, wave apices): at a local apex (the run's top is
   above both neighbours' tops) the top is used, at a local nadir the bottom (each moved half a
   trace width inwards), so R and S peaks keep their amplitude instead of being cut to the stroke's
   mid-height. Columns without ink are linearly interpolated (and counted for QC).
3. **Calibration.** Baseline = median row; mV = -(y - baseline) / px_per_mm_y / gain_mm_mv;
   t = (x - x_start) / px_per_mm_x / paper_speed_mm_s; then linear interpolation onto a 500 Hz grid.

`signal_agreement` is the PhysioNet/CinC 2024 digitization metric used by the tests and benchmarks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from cardioml_pipeline.ecg_images.preprocess import label_components, percentile

OUTPUT_FS = 500
PAPER_SPEED_MM_S = 25.0
GAIN_MM_MV = 10.0


@dataclass
class Trace:
    x0: int  # first and last column of the trace span (inclusive)
    x1: int
    y: np.ndarray  # float px, one per column of the span (interpolated where no ink)
    found: np.ndarray  # bool, ink found in that column
    top: np.ndarray  # int, extent of the chosen run (-1 where none)
    bottom: np.ndarray
    thickness: float  # typical trace width in px
    mask: np.ndarray  # uint8 0/1: the ink that belongs to the trace span (for the processed image)


def trace_columns(
    ink: np.ndarray, px_per_mm: float, components: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
) -> tuple[int, int, np.ndarray] | None:
    """The trace's column span and the ink mask restricted to it, or None when there is no trace.

    `components` = (labels, stats, present) of the ink's 8-connected components when the caller has
    them already (`preprocess.binarize` does: the ink is a union of whole components of its labelling,
    `present` marks which), which saves labelling the image twice."""
    h, w = ink.shape
    if components is None:
        n, labels, stats = label_components(ink)
        present = np.ones(n, bool)
        present[0] = False
    else:
        labels, stats, present = components
        n = stats.shape[0]
    if n <= 1 or not present.any():
        return None
    widths = np.where(present[1:], stats[1:, cv2.CC_STAT_WIDTH], 0)
    lefts = stats[1:, cv2.CC_STAT_LEFT]
    long_min = max(8, min(int(0.03 * w), int(round(2 * px_per_mm))))
    cover = np.zeros(w + 1, np.int32)
    for left, width in zip(lefts[widths >= long_min], widths[widths >= long_min]):
        cover[left] += 1
        cover[left + width] -= 1
    covered = np.cumsum(cover[:w]) > 0
    if not covered.any():
        return None
    # longest run of covered columns, bridging gaps up to 4 mm (a QRS whose faint strokes broke off),
    # and up to 12 mm where the ink on both sides lies at one level (a baseline hidden along a grid line)
    gap = max(2, int(round(4 * px_per_mm)))
    cols = np.flatnonzero(covered)
    breaks = np.flatnonzero(np.diff(cols) > gap)
    if breaks.size:
        long_gap = 3 * gap
        level_tol = 2 * px_per_mm
        keep_break = np.ones(breaks.size, bool)
        for i, b in enumerate(breaks):
            left_end, right_start = int(cols[b]), int(cols[b + 1])
            if right_start - left_end > long_gap:
                continue
            left = _ink_level(ink, max(0, left_end - gap // 4), left_end + 1)
            right = _ink_level(ink, right_start, min(w, right_start + gap // 4 + 1))
            if left is not None and right is not None and abs(left - right) <= level_tol:
                keep_break[i] = False
        breaks = breaks[keep_break]
    starts = np.r_[cols[0], cols[breaks + 1]]
    ends = np.r_[cols[breaks], cols[-1]]
    k = int(np.argmax(ends - starts))
    x0, x1 = int(starts[k]), int(ends[k])
    if x1 - x0 + 1 < max(8, 0.2 * w):
        return None
    x0, x1 = _attach_end_pieces(labels, stats, present, x0, x1, gap, tol=max(2.0, px_per_mm))
    # keep components that overlap the span
    right = lefts + widths - 1
    keep = np.r_[False, (right >= x0) & (lefts <= x1) & present[1:]]
    # usually every component overlaps the span: then the mask is the ink itself (no per-pixel lookup)
    mask = (ink != 0).view(np.uint8) if np.array_equal(keep, present) else keep[labels].view(np.uint8)
    mask[:, :x0] = 0
    mask[:, x1 + 1 :] = 0
    return x0, x1, mask


PULSE_MV = 1.0  # the standard calibration pulse: 1 mV high ...
PULSE_S = 0.2  # ... for 0.2 s
CLIPPED_TOP_MM = 0.25  # a pulse stroke starting this close to the image's top edge was cut by it


@dataclass
class CalibrationPulse:
    side: str  # "left" or "right": which end of the trace it stands at
    first_col: int  # its columns in the image (inclusive)
    last_col: int
    height_px: float  # from the baseline to the top of the step (pen width removed)
    width_px: float  # between the centres of its two vertical strokes


def find_calibration_pulse(mask: np.ndarray, x0: int, x1: int, px_per_mm_x: float, px_per_mm_y: float) -> CalibrationPulse | None:
    """The calibration pulse (a 1 mV x 0.2 s rectangular step) at either end of the trace span, or
    None: two vertical strokes 3.5-6.5 mm apart (0.2 s at 25 mm/s is 5 mm), each 0.4-2.2 x 10 mm tall
    (half to double standard gain), of equal height, joined by a flat top level with both their
    tops. A QRS complex is narrower, and its apex is not flat; a printed label is not that tall. The
    stroke on the trace's side may run on below the baseline, straight into the first QRS (its
    height is then taken down to the baseline the outer stroke stands on)."""
    h, w = mask.shape
    thick = max(1.0, 0.3 * px_per_mm_y)
    reach = int(round(8 * px_per_mm_x))  # the span may have left out a stroke of the pulse
    for side in ("left", "right"):
        span = int(round(12 * px_per_mm_x))
        lo, hi = (max(0, x0 - reach), min(x1, x0 + span)) if side == "left" else (max(x0, x1 - span), min(w - 1, x1 + reach))
        if hi - lo < 3 * px_per_mm_x:
            continue
        sub = mask[:, lo : hi + 1] != 0
        has = sub.any(axis=0)
        top = np.where(has, np.argmax(sub, axis=0), -1)
        # each column's first run of ink from its top down (a lead name printed below a stroke is
        # another run, and must not make the stroke look taller)
        rows = np.arange(h)[:, None]
        below_gap = (~sub) & (rows > top[None, :])
        first_gap = np.where(below_gap.any(axis=0), np.argmax(below_gap, axis=0), h)
        bottom = np.where(has, first_gap - 1, -1)
        height = np.where(has, bottom - top + 1, 0)
        nominal = 10.0 * px_per_mm_y
        # a stroke that starts within a quarter millimetre of the top edge ran on past it (the edge
        # row of an anti-aliased stroke can fall below the ink threshold)
        clipped_top = has & (top <= int(round(CLIPPED_TOP_MM * px_per_mm_y)))
        tall = has & (height <= 2.2 * nominal + 2 * thick) & ((height >= 0.4 * nominal) | (clipped_top & (height >= 0.25 * nominal)))
        cols = np.flatnonzero(tall)
        if cols.size < 2:
            continue
        cuts = np.flatnonzero(np.diff(cols) > 1) + 1
        strokes = [(int(g[0]), int(g[-1])) for g in np.split(cols, cuts)]
        for i, (a0, a1) in enumerate(strokes):
            for b0, b1 in strokes[i + 1 :]:
                gap = (b0 + b1) / 2 - (a0 + a1) / 2
                if not (3.5 * px_per_mm_x <= gap <= 6.5 * px_per_mm_x):
                    continue
                # the stroke on the trace's side may run on below the baseline into the first (or
                # last) QRS: its height counts down to the baseline the outer stroke stands on
                outer, inner = ((a0, a1), (b0, b1)) if side == "left" else ((b0, b1), (a0, a1))
                base_outer = float(bottom[outer[0] : outer[1] + 1].max())
                h_outer = base_outer - float(top[outer[0] : outer[1] + 1].min()) + 1
                h_inner = min(float(bottom[inner[0] : inner[1] + 1].max()), base_outer) - float(top[inner[0] : inner[1] + 1].min()) + 1
                ha, hb = (h_outer, h_inner) if side == "left" else (h_inner, h_outer)
                if not (0.8 <= ha / max(hb, 1.0) <= 1.25):
                    continue
                runs_on = float(bottom[inner[0] : inner[1] + 1].max()) > base_outer + max(3.0, 0.5 * px_per_mm_y)
                base = base_outer if runs_on else float(np.median(np.r_[bottom[a0 : a1 + 1], bottom[b0 : b1 + 1]]))
                if clipped_top[a0 : a1 + 1].any() and clipped_top[b0 : b1 + 1].any():
                    # the crop cut the pulse's top off: two strokes from the border down to the
                    # baseline; its width is known, its height is not. Both reach the baseline (each
                    # stroke's lowest ink: a grid line crossing a stroke can cut some of its columns
                    # short), unless the inner one runs on into the first QRS
                    if not runs_on and abs(float(bottom[a0 : a1 + 1].max()) - float(bottom[b0 : b1 + 1].max())) > max(3.0, 0.5 * px_per_mm_y):
                        continue
                    return CalibrationPulse(side, lo + a0, lo + b1, float("nan"), float(gap))
                mid = np.arange(a1 + 1, b0)
                if mid.size < 2 or not has[mid].all():
                    continue
                tops = top[mid]
                level = float(np.median(tops))
                stroke_top = float(min(top[a0 : a1 + 1].min(), top[b0 : b1 + 1].min()))
                if np.ptp(tops) > max(3.0, 0.6 * px_per_mm_y) or abs(level - stroke_top) > max(2.0, 0.5 * px_per_mm_y):
                    continue
                pen = float(np.median(bottom[mid] - top[mid] + 1))
                return CalibrationPulse(side, lo + a0, lo + b1, max(1.0, base - level - pen + 1.0), float(gap))
    return None


def _ink_level(ink: np.ndarray, c0: int, c1: int) -> float | None:
    """Median row of the ink in columns c0..c1-1 (None without ink)."""
    rows = np.nonzero(ink[:, c0:c1])[0]
    return float(np.median(rows)) if rows.size else None


def _attach_end_pieces(
    labels: np.ndarray, stats: np.ndarray, present: np.ndarray, x0: int, x1: int, gap: int, tol: float
) -> tuple[int, int]:
    """Widen the span over short pieces just beyond either end that continue the trace: where the
    first or last stroke broke off, the piece lies within `gap` columns of the end and overlaps the
    rows the trace occupies there (+/- `tol`). A label or a speck beside the trace does not."""
    lefts, tops = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    rights = lefts + stats[:, cv2.CC_STAT_WIDTH] - 1
    bottoms = tops + stats[:, cv2.CC_STAT_HEIGHT] - 1
    candidates = present.copy()
    candidates[0] = False

    def rows_at(column: int) -> tuple[float, float] | None:
        rows = np.flatnonzero(present[labels[:, column]])
        return (rows.min() - tol, rows.max() + tol) if rows.size else None

    while True:
        band = rows_at(x0)
        before = candidates & (rights < x0) & (rights >= x0 - gap)
        if band is None or not (before := before & (tops <= band[1]) & (bottoms >= band[0])).any():
            break
        x0 = int(lefts[before].min())
    while True:
        band = rows_at(x1)
        after = candidates & (lefts > x1) & (lefts <= x1 + gap)
        if band is None or not (after := after & (tops <= band[1]) & (bottoms >= band[0])).any():
            break
        x1 = int(rights[after].max())
    return x0, x1


THIN_PEN_PX = 4.0  # a pen this thin or thinner (source pixels: 8 in an image read enlarged twice): the envelope's disc is a pixel or two, too coarse to undo
MERGED_RUN_EXTRA_PX = 2  # a row's run at least this much wider than the pen holds two strokes


def column_positions(mask: np.ndarray, x0: int, x1: int, level_window: float = 41, thin_pen_px: float = THIN_PEN_PX) -> Trace:
    """Per-column curve position (see module docstring); `level_window` ~ 0.3 s in columns.
    `thin_pen_px`: the widest pen (px) read by its steep strokes (`_steep_stroke_positions`; an image
    enlarged k times passes k x `THIN_PEN_PX`: the pen as the source drew it)."""
    sub = (mask[:, x0 : x1 + 1] != 0).view(np.uint8)
    h, n = sub.shape
    cnt = cv2.reduce(sub, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()
    has = cnt > 0
    # first and last ink row per column as column maxima of the mask weighted by descending and
    # ascending row numbers (one multiply and one OpenCV reduction each: an argmax down the columns
    # of a row-major array is a strided scan, slower than both together)
    weight = np.uint8 if h < 255 else (np.uint16 if h < 65535 else np.float32)  # exact: h <= 40 M px / 16
    first = cv2.reduce(sub * np.arange(h, 0, -1, dtype=weight)[:, None], 0, cv2.REDUCE_MAX).ravel()
    last = cv2.reduce(sub * np.arange(1, h + 1, dtype=weight)[:, None], 0, cv2.REDUCE_MAX).ravel()
    top = np.where(has, h - first.astype(np.int64), -1)
    bottom = np.where(has, last.astype(np.int64) - 1, -1)
    single = has & (bottom - top + 1 == cnt)
    thickness = float(percentile(cnt[single], 25)) if single.any() else 1.0  # flat stretches: the pen width
    thickness = max(1.0, min(thickness, 0.25 * h))

    top = top.astype(np.float64)
    bottom = bottom.astype(np.float64)
    multi = np.flatnonzero(has & ~single)
    if multi.size >= max(5, 0.02 * n):
        # many columns hold several pieces of ink (a neighbouring trace, a label, shadows, noise):
        # follow the trace as one continuous path instead of column by column
        top, bottom, has = _follow_runs(sub, thickness)
    elif multi.size:
        sc = np.flatnonzero(single)
        centre_single = (top[sc] + bottom[sc]) / 2
        for c in multi:
            rows = np.flatnonzero(sub[:, c])
            cuts = np.flatnonzero(np.diff(rows) > max(1.0, thickness)) + 1
            starts = np.concatenate((rows[:1], rows[cuts]))
            ends = np.concatenate((rows[cuts - 1], rows[-1:]))
            if sc.size:
                ref = float(np.interp(c, sc, centre_single))
            else:
                ref = float(np.median(rows))
            dist = np.where(ref < starts, starts - ref, np.where(ref > ends, ref - ends, 0.0))
            j = int(np.argmin(dist - 1e-3 * (ends - starts)))
            if ends[j] - starts[j] + 1 <= thickness:
                # a speck no taller than the pen (a steep stroke's anti-aliased edge can lie nearer
                # the row interpolated across a QRS than the stroke does) gives way to the tallest
                # run within a pen width of it
                near = np.flatnonzero(dist <= dist[j] + max(1.0, thickness))
                j = int(near[np.argmax((ends - starts)[near])])
            top[c], bottom[c] = starts[j], ends[j]

    y = _envelope_estimate(top, bottom, has, thickness, level_window)
    if thickness <= thin_pen_px:
        y = _steep_stroke_positions(sub, top, bottom, has, thickness, y)
    return Trace(x0, x1, y, has, np.where(has, top, -1).astype(int), np.where(has, bottom, -1).astype(int), thickness, mask)


def _apex_or_nadir(top: np.ndarray, bottom: np.ndarray, inner: np.ndarray, thickness: float) -> np.ndarray:
    """Which of the columns `inner` (each with a found neighbour on both sides) hold an apex or a
    nadir: their run reaches as high (low) as both neighbours'. A thin pen's round cap draws the
    columns beside a sharp apex level with it, so for a pen whose disc reaches no farther than the
    next column (`_pen_disc`: under 4 px) a column sharing the apex's row with one neighbour, whose run
    reaches farther from it than that neighbour's while the other neighbour's stops short of the
    row, is the stroke leading there, not the apex."""
    t, b = top[inner], bottom[inner]
    before_t, after_t, before_b, after_b = top[inner - 1], top[inner + 1], bottom[inner - 1], bottom[inner + 1]
    if _pen_disc(thickness)[1] > 1:  # the envelope's disc undoes the cap itself
        return (t <= np.minimum(before_t, after_t)) | (b >= np.maximum(before_b, after_b))
    peak = (t <= np.minimum(before_t, after_t)) & ~((t == before_t) & (b > before_b) & (after_t > t)) & ~((t == after_t) & (b > after_b) & (before_t > t))
    nadir = (b >= np.maximum(before_b, after_b)) & ~((b == before_b) & (t < before_t) & (after_b < b)) & ~((b == after_b) & (t < after_t) & (before_b < b))
    return peak | nadir


def _steep_stroke_positions(
    sub: np.ndarray, top: np.ndarray, bottom: np.ndarray, has: np.ndarray, thickness: float, y: np.ndarray, tall: float = 2.5
) -> np.ndarray:
    """Where a steep stroke crosses the middle of its column, for the columns a stroke passes through.

    A column of a steep QRS stroke holds a tall run of ink; the curve's value at the column's centre
    is neither the run's top nor its bottom (the envelope reading picks one of them, which widens a
    QRS by a column on each side where a column spans several samples, at 100-150 dpi). Each row of
    such a run belongs to a short horizontal run of the stroke, whose middle is where the stroke
    passes that row; the row where those middles cross the column's centre is the value sought.
    Rows are counted, not scanned: the rows whose horizontal run lies to one side, then to the other.
    Columns holding an apex or a nadir (their run reaches as high or as low as both neighbours') and
    columns where the middles do not change side keep the envelope's reading."""
    h, n = sub.shape
    if n < 3:
        return y
    found = has & (top >= 0)
    height = np.where(found, bottom - top + 1, 0)
    steep = found & (height > tall * max(1.0, thickness))
    steep[[0, -1]] = False
    inner = np.flatnonzero(steep)
    inner = inner[found[inner - 1] & found[inner + 1]]
    if inner.size == 0:
        return y
    t, b = top[inner], bottom[inner]
    apex = _apex_or_nadir(top, bottom, inner, thickness)  # keeps the envelope's reading
    inner, t, b = inner[~apex], t[~apex], b[~apex]
    if inner.size == 0:
        return y
    ink = sub.astype(bool)
    rows = np.arange(h)[:, None]
    # the ink pixels counted: in the stroke columns, within each one's run; (row, which column)
    row, which = np.nonzero(ink[:, inner] & (rows >= t) & (rows <= b))
    # first and last column of the horizontal run through each of them: runs of every row from one
    # scan of the value steps (starts and ends alternate in row-major order), then a binary search
    # (rather than running maxima over the whole mask: the same columns)
    starts, stops = _row_run_edges(sub.view(np.uint8) if sub.dtype == np.bool_ else np.ascontiguousarray(sub, np.uint8))
    run = np.searchsorted(starts, row * (n + 1) + inner[which], side="right") - 1
    left = starts[run] - row * (n + 1)
    right = stops[run] - row * (n + 1) - 1
    column = inner[which]
    side = np.sign(left + right - 2 * column)  # +1: the run's middle is right of the column's
    # a row's run wider than the pen holds two strokes side by side: the up and the down stroke of
    # a QRS spike drawn so close that their ink merges (a 100 dpi R wave is two or three columns
    # wide). Its middle is then neither stroke: each stroke's middle lies in the pen's middle pixel
    # counted in from its edge of the run, and the column's own stroke is the nearer of the two
    wide = right - left + 1 >= thickness + MERGED_RUN_EXTRA_PX
    if wide.any():
        inset = (thickness - 1) / 2.0
        from_left = left[wide] + inset - column[wide]
        from_right = right[wide] - inset - column[wide]
        nearer = np.where(np.abs(from_left) <= np.abs(from_right), from_left, from_right)
        side[wide] = np.sign(nearer)
    m = inner.size

    def count(selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per stroke column: how many counted pixels are `selected`, and the sum of their rows."""
        return np.bincount(which[selected], minlength=m), np.bincount(which[selected], weights=row[selected], minlength=m)

    (pos, pos_sum), (neg, neg_sum), (zero, zero_sum) = count(side > 0), count(side < 0), count(side == 0)
    pos_row = pos_sum / np.maximum(pos, 1)
    neg_row = neg_sum / np.maximum(neg, 1)
    upper = np.where(pos_row < neg_row, pos, neg)  # rows of the side that lies above the crossing
    crossing = t - 0.5 + upper + zero / 2.0
    zero_row = zero_sum / np.maximum(zero, 1)
    value = np.where((pos > 0) & (neg > 0), crossing, np.where(zero > 0, zero_row, np.nan))
    y = y.copy()
    ok = np.isfinite(value)
    y[inner[ok]] = value[ok]
    return y


def _row_run_edges(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs of non-zero values along the rows of a 2-D uint8 `mask`, each row padded with a zero on
    both sides: flat indices `row * (width + 1) + column` of each run's first value and of the value
    just after its last, in row-major order. A run starts and stops where a value differs from the
    one before it, and starts and stops alternate, so one scan finds both."""
    padded = cv2.copyMakeBorder(mask, 0, 0, 1, 1, cv2.BORDER_CONSTANT, value=0)
    edges = np.flatnonzero(padded[:, 1:] != padded[:, :-1])
    return edges[0::2], edges[1::2]


def column_runs(sub: np.ndarray, merge_gap: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertical runs of ink in every column of a 0/1 mask: (column, first row, last row), sorted by
    column then row; runs less than `merge_gap` rows apart are merged (a stroke split by a grid line
    or anti-aliasing is one piece)."""
    h, n = sub.shape
    # each column as a row (OpenCV transposes ~3x faster than numpy's copy; column = index // (h + 1))
    run_starts, run_stops = _row_run_edges(cv2.transpose(np.ascontiguousarray(sub, dtype=np.uint8)))
    col_s = run_starts // (h + 1)
    start = run_starts - col_s * (h + 1)
    end = run_stops - col_s * (h + 1) - 1
    if col_s.size:
        gap = start[1:] - end[:-1] - 1
        joined = (col_s[1:] == col_s[:-1]) & (gap <= merge_gap)
        keep_start = np.r_[True, ~joined]
        keep_end = np.r_[~joined, True]
        col_s, start, end = col_s[keep_start], start[keep_start], end[keep_end]
    return col_s, start, end


def _follow_runs(sub: np.ndarray, thickness: float, skip_cost: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trace as the cheapest left-to-right path through the columns' ink runs (a Viterbi pass):
    stepping from a run to the next column's run costs their vertical gap beyond one pen width, in pen
    widths (0 when they touch or nearly do: a steep QRS stroke is free), and a column may be skipped at `skip_cost` (where the trace
    is faint or hidden and only foreign ink is there). A neighbouring trace, a label or a shadow is
    then left out wherever reaching it costs more than following the trace's own continuity. Of
    equally cheap steps into a run from two runs, the one from the nearer run is taken.
    Returns per column (top, bottom, found)."""
    h, n = sub.shape
    cols, starts, ends = column_runs(sub, max(1.0, thickness))
    bound_array = np.searchsorted(cols, np.arange(n + 1))
    bounds = bound_array.tolist()
    # plain Python floats, one tuple per state, and the cost arithmetic inlined: this loop visits
    # every run of every column (numpy scalars, max() and key functions cost more than the sums)
    run_top, run_bottom = starts.astype(np.float64).tolist(), ends.astype(np.float64).tolist()
    scale = 1.0 / max(1.0, thickness)
    slack = max(1.0, thickness)  # a thin stroke's pieces in adjacent columns may not touch
    # states: (cost, top, bottom, back, run) per column; back = index into the previous column's
    # states, run = -1 for a skipped column, which keeps the last run's extent (one carried state:
    # the cheapest)
    history: list[list[tuple[float, float, float, int, int]]] = []
    prev: list[tuple[float, float, float, int, int]] = []
    chain_end = _touching_chains(bound_array, starts, ends, slack) if skip_cost >= 0 else [0] * n
    c = 0
    while c < n:
        if chain_end[c] > c and len(prev) == 2 and prev[0][0] <= prev[1][0]:
            # columns c .. chain_end - 1 each hold one run touching the previous column's single run,
            # entered from that run's state at the lower cost: the loop below would step from run to
            # run at no cost and carry that run as the skip state, column after column (see
            # `_touching_chains`), so those states are written directly
            cost = prev[0][0]
            skipped = cost + skip_cost
            for cc in range(c, chain_end[c]):
                k, kp = bounds[cc], bounds[cc - 1]
                history.append([(cost, run_top[k], run_bottom[k], 0, k), (skipped, run_top[kp], run_bottom[kp], 0, -1)])
            prev = history[-1]
            c = chain_end[c]
            continue
        lo, hi = bounds[c], bounds[c + 1]
        if not prev:
            cur = [(0.0, run_top[k], run_bottom[k], -1, k) for k in range(lo, hi)]
        elif hi - lo == 1 and len(prev) == 2:
            # the common column: one run after one run and the skip state (the loop below, unrolled)
            t, b = run_top[lo], run_bottom[lo]
            (cost0, pt0, pb0, _, _), (cost1, pt1, pb1, _, _) = prev
            total0 = _step_cost(cost0, pt0, pb0, t, b, slack, scale)
            total1 = _step_cost(cost1, pt1, pb1, t, b, slack, scale)
            cheaper = 1 if cost1 < cost0 else 0
            cost, pt, pb, _, _ = prev[cheaper]
            cur = [(total1, t, b, 1, lo) if total1 < total0 else (total0, t, b, 0, lo), (cost + skip_cost, pt, pb, cheaper, -1)]
        else:
            cur = []
            for k in range(lo, hi):
                t, b = run_top[k], run_bottom[k]
                best, arg, best_gap = math.inf, -1, math.inf
                for j, (cost, pt, pb, _, run) in enumerate(prev):
                    gap = _run_gap(pt, pb, t, b)  # (the tie rule below needs it too)
                    total = _cost_after_gap(cost, gap, slack, scale)
                    # of two runs at equal cost (gaps within the slack are free), the nearer one: a
                    # speck of a stroke's edge a few rows off the stroke is as cheap to pass through
                    # as the stroke itself, and taking it cut a trough short by 20 px. (The skip
                    # state, last, never wins a tie.)
                    if total < best or (total == best and run >= 0 and gap < best_gap):
                        best, arg, best_gap = total, j, gap
                cur.append((best, t, b, arg, k))
            j = _cheapest(prev)
            cost, pt, pb, _, _ = prev[j]
            cur.append((cost + skip_cost, pt, pb, j, -1))
        history.append(cur)
        prev = cur
        c += 1
    top = np.full(n, -1.0)
    bottom = np.full(n, -1.0)
    found = np.zeros(n, bool)
    if not prev:
        return top, bottom, found
    j = _cheapest(prev)
    for c in range(n - 1, -1, -1):
        cost, t, b, back, k = history[c][j]
        if k >= 0:
            top[c], bottom[c], found[c] = t, b, True
        j = back
        if j < 0:
            break
    return top, bottom, found


def _touching_chains(bounds: np.ndarray, starts: np.ndarray, ends: np.ndarray, slack: float) -> list[int]:
    """For each column c of `_follow_runs`: the end (exclusive) of the stretch of columns from c on
    that each hold exactly one run, as does the column before each, with a step from that run to
    this one that costs nothing (`_step_cost` adds 0); c itself where column c does not qualify.

    Entered from the previous run's state at a cost no higher than the skip state's, such a stretch
    is followed at that same cost: stepping on costs 0 and any other path costs at least as much
    (ties go to the run, the first state), and the skip state is the previous column's run at that
    cost plus the skip cost (not below it, so the run stays the cheaper state)."""
    n = bounds.size - 1
    chained = np.zeros(n, bool)
    if n > 1 and starts.size:
        counts = np.diff(bounds)
        single = (counts[1:] == 1) & (counts[:-1] == 1)
        here = np.minimum(bounds[1:n], starts.size - 1)  # (clipped where a column has no run)
        before = np.minimum(bounds[: n - 1], starts.size - 1)
        t, b = starts[here].astype(np.float64), ends[here].astype(np.float64)
        pt, pb = starts[before].astype(np.float64), ends[before].astype(np.float64)
        down = t > pb + 1.0
        up = ~down & (pt > b + 1.0)
        excess = np.where(down, (t - pb - 1.0) - slack, np.where(up, (pt - b - 1.0) - slack, -1.0))
        chained[1:] = single & ~(excess > 0.0)
    positions = np.arange(n)
    stops = np.where(chained, n, positions)  # the first column at or after c that is not chained
    return np.minimum.accumulate(stops[::-1])[::-1].tolist()


def _run_gap(pt: float, pb: float, t: float, b: float) -> float:
    """Rows of paper between a run (pt, pb) and the run (t, b) of the next column: 0 where they
    overlap or touch (one lies wholly above the other otherwise)."""
    return max(0.0, t - pb - 1.0, pt - b - 1.0)


def _cost_after_gap(cost: float, gap: float, slack: float, scale: float) -> float:
    """A path's cost after a step across `gap` rows: cost + max(0, gap - slack) * scale (a gap within
    the slack leaves the cost as it is)."""
    return cost + (gap - slack) * scale if gap > slack else cost


def _step_cost(cost: float, pt: float, pb: float, t: float, b: float, slack: float, scale: float) -> float:
    """`_follow_runs`' cost of stepping from a run (pt, pb) of cost `cost` to the run (t, b)."""
    return _cost_after_gap(cost, _run_gap(pt, pb, t, b), slack, scale)


def _cheapest(states: list[tuple]) -> int:
    """Index of the first state of least cost (its first field)."""
    j, least = 0, states[0][0]
    for i in range(1, len(states)):
        if states[i][0] < least:
            j, least = i, states[i][0]
    return j


def _pad_edge(x: np.ndarray, k: int) -> np.ndarray:
    """`np.pad(x, k, mode="edge")` for a 1-D array, without np.pad's per-call overhead (~30 us)."""
    return np.concatenate((np.full(k, x[0]), x, np.full(k, x[-1])))


def _pen_disc(thickness: float) -> tuple[float, int]:
    """The round pen's radius (px) and how many columns its disc reaches on each side."""
    r = max(0.5, thickness / 2.0)
    return r, int(np.floor(r))


def _envelope_estimate(top: np.ndarray, bottom: np.ndarray, has: np.ndarray, thickness: float, level_window: float = 41) -> np.ndarray:
    """Curve position per column from the ink run's extent, undoing the pen's thickness.

    A round pen of radius r draws the curve dilated by a disc: in each column the run's top is the
    grey *erosion* of the curve by the disc profile b(d) = sqrt(r^2 - d^2) (d = column offset), the
    run's bottom its dilation. Dilating the tops by the same disc (a grey opening) gives the curve
    back exactly wherever it is smooth at the pen's scale, and at peaks; eroding the bottoms (a
    closing) gives it back at troughs; where they disagree the column is at a peak when the opening
    lies farther above the trace's local level (running median over ~0.3 s) than the closing lies
    below it, else in a trough (but a column reaching above and below both neighbours' lies on the
    side their middles lean to). Unlike the run's midpoint, this keeps
    the amplitude of R and S waves and the position of steep strokes."""
    n = top.size
    idx = np.flatnonzero(has)
    if idx.size == 0:
        return np.zeros(n)
    cols = np.arange(n)
    r, k = _pen_disc(thickness)
    t = np.interp(cols, idx, top[idx].astype(np.float64)) - 0.5  # pixel edges, not centres
    bt = np.interp(cols, idx, bottom[idx].astype(np.float64)) + 0.5
    opened = t + r
    closed = bt - r
    tp, bp = _pad_edge(t, k), _pad_edge(bt, k)  # neighbours beyond the ends: the ends
    for d in range(1, k + 1):
        bd = math.sqrt(max(r * r - d * d, 0.0))
        opened = np.maximum(opened, np.maximum(tp[k + d : k + d + n], tp[k - d : k - d + n]) + bd)
        closed = np.minimum(closed, np.minimum(bp[k + d : k + d + n], bp[k - d : k - d + n]) - bd)
    opened, closed = np.minimum(opened, closed), np.maximum(opened, closed)
    m = (opened + closed) / 2
    # peak or trough? compare with the trace's local level (running median over ~`level_window` cols)
    level = ndimage.median_filter(m, size=max(3, int(level_window) | 1), mode="nearest")
    up = level - opened  # how far above the local level the peak reading is
    down = closed - level  # how far below it the trough reading is
    peak = up >= down
    # a column whose ink reaches both higher and lower than either neighbour's (a narrow QRS whose
    # peak and trough share it, a shadow merged with the trace) says nothing by its extent: it lies
    # on the side its neighbours' middles lean to
    op, cp = _pad_edge(opened, 1), _pad_edge(closed, 1)  # [c] and [c + 2]: column c's neighbours
    both = (opened <= np.minimum(op[:-2], op[2:])) & (closed >= np.maximum(cp[:-2], cp[2:]))
    both &= (opened <= level) & (level <= closed)
    if both.any():
        mp = _pad_edge(m, 1)
        around = (mp[:-2] + mp[2:]) / 2
        peak = np.where(both, np.abs(around - opened) < np.abs(around - closed), peak)
    return np.where(closed - opened <= 2.0, m, np.where(peak, opened, closed))


def to_millivolts(
    trace: Trace,
    px_per_mm_x: float,
    px_per_mm_y: float,
    fs: int = OUTPUT_FS,
    paper_speed_mm_s: float = PAPER_SPEED_MM_S,
    gain_mm_mv: float = GAIN_MM_MV,
) -> np.ndarray:
    """Column positions -> float32 mV samples at `fs` (baseline = median position)."""
    y = trace.y
    if y.size < 2:
        return np.zeros(0, np.float32)
    baseline = float(np.median(y))
    mv = -(y - baseline) / px_per_mm_y / gain_mm_mv
    t = np.arange(y.size) / px_per_mm_x / paper_speed_mm_s
    n_out = int(np.floor(t[-1] * fs)) + 1
    out_t = np.arange(n_out) / fs
    return np.interp(out_t, t, mv).astype(np.float32)


def signal_agreement(reference: np.ndarray, estimate: np.ndarray, fs: int, max_shift_s: float = 0.2) -> tuple[float, float, float]:
    """Pearson r, SNR (dB) and lag (s) of `estimate` against `reference`, PhysioNet 2024 style.

    The estimate is shifted by every whole-sample lag within +/- `max_shift_s`; at each lag the
    overlapping parts are compared after removing the constant offset (mean difference). The lag with
    the highest correlation is kept; SNR = 10 log10(sum(ref^2) / sum((ref - est)^2)) on the overlap,
    with the reference's own mean removed too (a baseline offset is not signal). Signals of different
    lengths are fine (the overlap is used). Returns (nan, nan, nan) when there is no usable overlap.
    """
    ref = np.asarray(reference, dtype=np.float64).ravel()
    est = np.asarray(estimate, dtype=np.float64).ravel()
    ref = np.where(np.isfinite(ref), ref, 0.0)
    est = np.where(np.isfinite(est), est, 0.0)
    max_lag = int(round(max_shift_s * fs))
    best = (-np.inf, np.nan, np.nan)
    for lag in range(-max_lag, max_lag + 1):
        pair = centred_overlap(ref, est, lag, max(10, fs // 2))
        if pair is None:
            continue
        a, b = pair
        den = np.sqrt(np.dot(a, a) * np.dot(b, b))
        r = float(np.dot(a, b) / den) if den > 0 else 0.0
        if r > best[0]:
            best = (r, snr_db(a, b), lag / fs)
    if not np.isfinite(best[0]):
        return float("nan"), float("nan"), float("nan")
    return best


def centred_overlap(reference: np.ndarray, estimate: np.ndarray, lag: int, min_samples: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The overlapping parts of two float64 signals with estimate sample i taken as reference sample
    i + `lag`, each less its own mean; None when they overlap by fewer than `min_samples`."""
    r0, e0 = max(0, lag), max(0, -lag)
    n = min(reference.size - r0, estimate.size - e0)
    if n < min_samples:
        return None
    a = reference[r0 : r0 + n]
    b = estimate[e0 : e0 + n]
    return a - a.mean(), b - b.mean()


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """10 log10(sum(ref^2) / sum((ref - est)^2)) of two aligned, centred signals (inf when equal)."""
    noise = float(np.dot(reference - estimate, reference - estimate))
    return 10 * np.log10(float(np.dot(reference, reference)) / noise) if noise > 0 else np.inf
