"""Faster replacements in the image stage give the answers of the straightforward code they replace,
bit for bit (issue 12's speed target: see benchmarks/image_stage.py and the commits naming each).

Each replacement is checked against a plain reference implementation (kept here) on inputs that
reach its branches.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from cardioml_pipeline.ecg_images import digitize as D
from cardioml_pipeline.ecg_images import preprocess as P


def follow_runs_reference(sub: np.ndarray, thickness: float, skip_cost: float = 1.0):
    """`digitize._follow_runs` as first written (one tuple per state, numpy scalars), with its rule
    for ties since image processing 1.8.2: of two runs stepped from at equal cost, the nearer."""
    h, n = sub.shape
    cols, starts, ends = D.column_runs(sub, max(1.0, thickness))
    bounds = np.searchsorted(cols, np.arange(n + 1))
    scale = 1.0 / max(1.0, thickness)
    slack = max(1.0, thickness)
    history = []
    prev = []
    for c in range(n):
        cur = []
        for k in range(bounds[c], bounds[c + 1]):
            t, b = float(starts[k]), float(ends[k])
            if not prev:
                cur.append((0.0, t, b, -1, k))
                continue
            best, arg, best_gap = math.inf, -1, math.inf
            for j, (cost, pt, pb, _, run) in enumerate(prev):
                gap = t - pb - 1.0 if t > pb + 1.0 else (pt - b - 1.0 if pt > b + 1.0 else 0.0)
                total = cost + max(0.0, gap - slack) * scale
                if total < best or (total == best and run >= 0 and gap < best_gap):
                    best, arg, best_gap = total, j, gap
            cur.append((best, t, b, arg, k))
        if prev:
            j = min(range(len(prev)), key=lambda i: prev[i][0])
            cost, pt, pb, _, _ = prev[j]
            cur.append((cost + skip_cost, pt, pb, j, -1))
        history.append(cur)
        prev = cur
    top = np.full(n, -1.0)
    bottom = np.full(n, -1.0)
    found = np.zeros(n, bool)
    if not prev:
        return top, bottom, found
    j = min(range(len(prev)), key=lambda i: prev[i][0])
    for c in range(n - 1, -1, -1):
        cost, t, b, back, k = history[c][j]
        if k >= 0:
            top[c], bottom[c], found[c] = t, b, True
        j = back
        if j < 0:
            break
    return top, bottom, found


def two_traces(seed: int, shape=(90, 300), thickness: int = 2, blank_start: int = 0, gaps: int = 4, specks: int = 40) -> np.ndarray:
    """A wavy trace, a neighbour's trace reaching into the crop, specks, gaps and empty leading columns."""
    rng = np.random.default_rng(seed)
    h, w = shape
    mask = np.zeros(shape, np.uint8)
    x = np.arange(w)
    own = (0.5 * h + 0.25 * h * np.sin(x / rng.uniform(8, 30)) + rng.normal(0, 1.5, w)).astype(int)
    neighbour = (0.1 * h + 0.08 * h * np.sin(x / rng.uniform(5, 15))).astype(int)
    for c in range(blank_start, w):
        y0, y1 = sorted((own[c], own[c - 1] if c else own[c]))
        mask[max(0, y0) : min(h, y1 + thickness), c] = 1
        if c % 3:
            mask[max(0, neighbour[c]) : neighbour[c] + thickness, c] = 1
    for _ in range(gaps):
        c = int(rng.integers(blank_start, w - 10))
        mask[:, c : c + int(rng.integers(1, 8))] = 0
    for _ in range(specks):
        y, c = int(rng.integers(0, h - 3)), int(rng.integers(0, w))
        mask[y : y + int(rng.integers(1, 4)), c] = 1
    return mask


@pytest.mark.parametrize(
    "seed, thickness, pen, blank_start",
    [(0, 1.0, 1, 0), (1, 2.0, 2, 0), (2, 3.5, 3, 17), (3, 0.6, 1, 5), (4, 5.0, 5, 0)],
)
def test_follow_runs_matches_the_reference_viterbi(seed, thickness, pen, blank_start):
    sub = two_traces(seed, thickness=pen, blank_start=blank_start)
    got = D._follow_runs(sub, thickness)
    want = follow_runs_reference(sub, thickness)
    assert want[2].sum() > 100  # the path found most of the trace (the test reaches the loop's work)
    assert np.array_equal(got[2], want[2])
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_follow_runs_of_an_empty_mask_and_of_a_single_column():
    for sub in (np.zeros((20, 30), np.uint8), two_traces(5)[:, 40:41]):
        got, want = D._follow_runs(sub, 2.0), follow_runs_reference(sub, 2.0)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))


def rotate_reference(d: np.ndarray, angle_deg: float) -> np.ndarray:
    h, w = d.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, 1.0)
    return cv2.warpAffine(d, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


@pytest.mark.parametrize("angle", [-5.4, -0.06, 0.3, 2.9])
@pytest.mark.parametrize("shape", [(37, 211), (160, 640)])
def test_three_channel_rotation_through_four_channels_is_the_same(angle, shape):
    d3 = np.random.default_rng(shape[0]).random((*shape, 3), dtype=np.float32)
    assert np.array_equal(P._rotate(d3, angle), rotate_reference(d3, angle))


@pytest.mark.parametrize("k", [7, 15])
def test_channel_darkness_in_one_call_is_the_per_channel_darkness(k):
    rng = np.random.default_rng(k)
    bgr = rng.integers(0, 256, (53, 170, 3), dtype=np.uint8)
    bgr[10:20] = 0  # a black band: paper level 0, darkness 0 there
    want = cv2.merge([P._darkness(np.ascontiguousarray(bgr[..., c]), k) for c in range(3)])
    assert np.array_equal(P.channel_darkness(bgr, k), want)


def column_runs_reference(sub: np.ndarray, merge_gap: float):
    """`digitize.column_runs` as first written: starts and ends from two scans."""
    h, n = sub.shape
    padded = np.zeros((n, h + 2), np.int8)
    padded[:, 1:-1] = sub.T
    d = np.diff(padded, axis=1)
    col_s, start = np.nonzero(d == 1)
    _, end = np.nonzero(d == -1)
    end = end - 1
    if col_s.size:
        gap = start[1:] - end[:-1] - 1
        joined = (col_s[1:] == col_s[:-1]) & (gap <= merge_gap)
        col_s, start, end = col_s[np.r_[True, ~joined]], start[np.r_[True, ~joined]], end[np.r_[~joined, True]]
    return col_s, start, end


@pytest.mark.parametrize("seed, merge_gap", [(0, 1.0), (1, 2.5), (2, 0.0)])
def test_column_runs_match_the_two_scan_reference(seed, merge_gap):
    sub = two_traces(seed, shape=(61, 250))
    sub[0, :] = 1  # runs touching the top and bottom rows
    sub[-1, ::3] = 1
    for mask in (sub, np.zeros_like(sub), np.ones_like(sub)):
        got, want = D.column_runs(mask, merge_gap), column_runs_reference(mask, merge_gap)
        assert all(np.array_equal(a, b) and a.dtype == b.dtype for a, b in zip(got, want))


def percentile_reference(a: np.ndarray, q: float) -> np.floating:
    a = np.asarray(a)
    n = a.size
    pos = q / 100.0 * (n - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, n - 1)
    part = np.partition(a, (lo, hi))
    return part[lo] + (part[hi] - part[lo]) * (pos - lo)


@pytest.mark.parametrize("q", [90.0, 99.0, 99.7, 100.0])
@pytest.mark.parametrize("case", ["noise", "sorted", "reversed", "ties", "nan", "spike"])
def test_high_percentile_from_the_upper_tail_is_numpys(q, case):
    rng = np.random.default_rng(7)
    a = rng.normal(0, 1, 20_011).astype(np.float32)
    if case == "sorted":
        a = np.sort(a)
    elif case == "reversed":
        a = np.sort(a)[::-1].copy()  # every 16th value (the probe) is the largest of its 16
    elif case == "ties":
        a = np.round(a).astype(np.float32)
    elif case == "nan":
        a[::97] = np.nan
    elif case == "spike":
        a[:] = 0.0
        a[5:40] = 3.0  # a tail the probe barely sees
    got, want = P.percentile(a, q), percentile_reference(a, q)
    assert np.array_equal(got, want, equal_nan=True) and got.dtype == want.dtype
    assert P._upper_tail(a, a.size - int(math.floor(q / 100.0 * (a.size - 1)))) is not None or case in ("spike", "reversed")
    if case != "nan":  # np.percentile returns NaN for any NaN; the partition-based one sorts them last
        assert np.isclose(float(got), float(np.percentile(a, q)))


def test_subsampled_pixels_are_the_strided_copy():
    d3 = np.random.default_rng(3).random((101, 333, 3), dtype=np.float32)
    for step in (2, 3):
        got = P._subsample(d3, step)
        assert got.flags.c_contiguous and np.array_equal(got, d3[::step, ::step])
    assert np.array_equal(P._subsample(d3[:, ::2], 2), d3[:, ::2][::2, ::2])  # not contiguous: plain copy


@pytest.mark.parametrize("seed", range(6))
def test_follow_runs_through_long_touching_stretches_matches_the_reference(seed):
    # a continuous trace (long stretches of single touching runs: `_touching_chains`) broken by
    # jumps, gaps and a neighbour, so stretches are entered from the run and from the skip state
    rng = np.random.default_rng(100 + seed)
    h, w = 70, 900
    sub = np.zeros((h, w), np.uint8)
    y = np.clip(np.cumsum(rng.integers(-1, 2, w)) + h // 2, 2, h - 6)
    y[rng.integers(0, w, 12)] += rng.integers(-20, 20, 12)  # jumps the path may skip
    y = np.clip(y, 0, h - 3)
    for c in range(w):
        sub[y[c] : y[c] + 2, c] = 1
    for c in rng.integers(0, w - 5, 6):
        sub[:, c : c + rng.integers(1, 5)] = 0
    sub[3:5, rng.integers(0, w, 40)] = 1  # specks of a neighbour
    for thickness in (1.0, 2.0, 4.0):
        got, want = D._follow_runs(sub, thickness), follow_runs_reference(sub, thickness)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))


def steep_stroke_positions_reference(
    sub: np.ndarray, top: np.ndarray, bottom: np.ndarray, has: np.ndarray, thickness: float, y: np.ndarray, tall: float = 2.5
) -> np.ndarray:
    """`digitize._steep_stroke_positions` as first written: running maxima over the whole mask."""
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
    # an apex or nadir column keeps the envelope's reading (the rule itself is not what this compares)
    apex = D._apex_or_nadir(top, bottom, inner, thickness)
    inner, t, b = inner[~apex], t[~apex], b[~apex]
    if inner.size == 0:
        return y
    ink = sub.astype(bool)
    cols = np.arange(n)
    # first and last column of the horizontal run through every ink pixel
    left = np.maximum.accumulate(np.where(ink, -1, cols), axis=1) + 1
    right = np.minimum.accumulate(np.where(ink, n, cols)[:, ::-1], axis=1)[:, ::-1] - 1
    side = np.sign((left + right)[:, inner] - 2 * inner)  # +1: the run's middle is right of the column's
    # a run at least MERGED_RUN_EXTRA_PX wider than the pen: the nearer of its two strokes, each the
    # pen's middle pixel in from its edge
    inset = (thickness - 1) / 2.0
    from_left = left[:, inner] + inset - inner
    from_right = right[:, inner] - inset - inner
    nearer = np.where(np.abs(from_left) <= np.abs(from_right), from_left, from_right)
    wide = (right - left + 1)[:, inner] >= thickness + D.MERGED_RUN_EXTRA_PX
    side = np.where(wide, np.sign(nearer), side)
    rows = np.arange(h)[:, None]
    counted = ink[:, inner] & (rows >= t) & (rows <= b)
    pos = (counted & (side > 0)).sum(0)
    neg = (counted & (side < 0)).sum(0)
    zero = (counted & (side == 0)).sum(0)
    pos_row = (rows * (counted & (side > 0))).sum(0) / np.maximum(pos, 1)
    neg_row = (rows * (counted & (side < 0))).sum(0) / np.maximum(neg, 1)
    upper = np.where(pos_row < neg_row, pos, neg)  # rows of the side that lies above the crossing
    crossing = t - 0.5 + upper + zero / 2.0
    zero_row = (rows * (counted & (side == 0))).sum(0) / np.maximum(zero, 1)
    value = np.where((pos > 0) & (neg > 0), crossing, np.where(zero > 0, zero_row, np.nan))
    y = y.copy()
    ok = np.isfinite(value)
    y[inner[ok]] = value[ok]
    return y



@pytest.mark.parametrize("seed", range(4))
def test_steep_stroke_positions_match_the_running_maxima_reference(seed):
    # steep strokes (QRS-like spikes a few columns wide) on a thin trace, plus a neighbour's marks
    rng = np.random.default_rng(200 + seed)
    h, w = 120, 400
    sub = np.zeros((h, w), np.uint8)
    y = np.full(w, 80.0)
    for c0 in rng.integers(10, w - 20, 8):
        width = int(rng.integers(2, 7))
        y[c0 : c0 + width] = np.linspace(80, rng.integers(5, 115), width)
    for c in range(w):
        y0, y1 = sorted((int(y[c]), int(y[c - 1]) if c else int(y[c])))
        sub[y0 : y1 + 2, c] = 1
    sub[rng.integers(0, h, 60), rng.integers(0, w, 60)] = 1
    trace = D.column_positions(sub, 0, w - 1)
    top, bottom = trace.top.astype(np.float64), trace.bottom.astype(np.float64)
    has = trace.found
    for thickness in (1.0, 2.0, 3.0):
        envelope = D._envelope_estimate(top, bottom, has, thickness)
        got = D._steep_stroke_positions(sub, top, bottom, has, thickness, envelope)
        want = steep_stroke_positions_reference(sub, top, bottom, has, thickness, envelope)
        assert np.array_equal(got, want, equal_nan=True)
        assert not np.array_equal(got, envelope)  # some strokes were read (the test reaches the work)


@pytest.mark.parametrize("specks", [5, 40, 400])
def test_kept_components_mask_is_the_gathered_flags(specks):
    """`preprocess.kept_components` (OpenCV's lookup table up to 256 labels, numpy's take above)
    against ``keep[labels].astype(np.uint8)``, on a real labelling with components dropped."""
    rng = np.random.default_rng(specks)
    mask = np.zeros((120, 900), np.uint8)
    cv2.line(mask, (0, 60), (899, 70), 1, 2)
    ys, xs = rng.integers(0, 120, specks), rng.integers(0, 900, specks)
    mask[ys, xs] = 1  # isolated specks: components of their own (most of them)
    n, labels, stats = P.label_components(mask)
    assert (n > 256) == (specks == 400)
    keep = stats[:, cv2.CC_STAT_AREA] >= 3
    keep[0] = False
    assert not keep[1:].all() and keep[1:].any()
    fast = P.kept_components(labels, keep)
    assert fast.dtype == np.uint8 and fast.shape == mask.shape
    assert np.array_equal(fast, keep[labels].astype(np.uint8))


@pytest.mark.parametrize("step", [1, 2, 7])
def test_transposed_rows_copy_is_numpys(step):
    """cv2.transpose of a row-strided float view (as `_subtract_line_levels` and
    `_cross_checked_skew` use it) is numpy's contiguous transposed copy."""
    a = np.random.default_rng(step).random((97, 531), dtype=np.float32)
    assert np.array_equal(cv2.transpose(a[::step]), np.ascontiguousarray(a[::step].T))


def percentile_down_columns_reference(rows: np.ndarray, q: float) -> np.ndarray:
    """`preprocess._percentile_down_columns` as first written: one sort along the first axis."""
    ordered = np.sort(rows, axis=0)
    pos = q / 100.0 * (rows.shape[0] - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, rows.shape[0] - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@pytest.mark.parametrize("shape", [(2, 7, 3), (51, 1602, 3), (48, 33)])
def test_percentile_down_columns_match_the_sort_along_rows(shape):
    """`preprocess._percentile_down_columns` (a transposed sort) against the sort along axis 0, on
    the strided row sample `grid_colours` takes, ties included; and np.percentile's values (to the
    last bit where numpy interpolates from the upper value)."""
    rng = np.random.default_rng(shape[0])
    image = np.round(rng.random((shape[0] * 3, *shape[1:]), dtype=np.float32) * 20) / 20  # ties
    rows = image[::3]
    for q in (10, 50, 90):
        fast = P._percentile_down_columns(rows, q)
        assert fast.shape == rows.shape[1:] and fast.dtype == np.float32
        assert np.array_equal(fast, percentile_down_columns_reference(rows, q))
        assert np.allclose(fast, np.percentile(rows, q, axis=0), rtol=0, atol=1e-6)
