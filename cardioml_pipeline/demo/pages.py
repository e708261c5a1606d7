"""Whole 12-lead ECG pages drawn from known signals: 3x4 with 0-3 rhythm strips (default: one lead II
strip), 6x2 (+0/1) and 12x1 (+0/1), on a pink/red/grey grid at 25 mm/s and 10 mm/mV, with a 1 mV
calibration pulse at the left of every row and the lead names printed above each segment. The limb
leads in the standard order (I, II, III, aVR, aVL, aVF) or in Cabrera order (`lead_order="cabrera"`:
aVL, I, -aVR, II, aVF, III in their places; -aVR is aVR drawn upside down and printed so).

`render_page(signals, fs, layout=...)` returns the page and the segments drawn (lead, start/end sample,
box in page pixels), so a test or a benchmark knows exactly which part of which signal each lead
shows. Landscape page 280 mm wide (the 10 s trace is 250 mm); row height follows the layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cardioml_pipeline.demo.render import GRID_COLOURS, MM_PER_INCH, _draw_grid, _polyline

LAYOUTS: dict[str, tuple[tuple[tuple[str, ...], ...], tuple[str, ...]]] = {
    "3x4+0": ((("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")), ()),
    "3x4+1": ((("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")), ("II",)),
    "3x4+2": ((("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")), ("V1", "II")),
    "3x4+3": ((("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")), ("V1", "II", "V5")),
    "6x2+1": ((("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"), ("aVF", "V6")), ("II",)),
    "12x1+0": (tuple((lead,) for lead in ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")), ()),
}
DEFAULT_LAYOUT = "3x4+1"
LEAD_ORDERS = ("standard", "cabrera")
# Cabrera order takes the standard order's places: where the standard order prints I, a Cabrera
# page prints aVL, and so on (3x4 limb columns aVL, I, -aVR / II, aVF, III; 6x2 and 12x1 top down)
CABRERA_IN_PLACE_OF = {"I": "aVL", "II": "I", "III": "-aVR", "aVR": "II", "aVL": "aVF", "aVF": "III"}
PAGE_WIDTH_MM = 280.0
TRACE_X_MM = 22.0  # the trace starts here (the pulse stands before it)
ROW_MM = {"3x4": 38.0, "6x2": 26.0, "12x1": 17.0}


@dataclass(frozen=True)
class DrawnSegment:
    lead: str
    start_sample: int
    end_sample: int  # exclusive
    is_rhythm_strip: bool
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in page pixels
    inverted: bool = False  # drawn upside down (Cabrera's -aVR): the page shows -signals[lead]

    @property
    def printed_label(self) -> str:
        """The name printed above the segment ("-aVR" for an inverted aVR)."""
        return f"-{self.lead}" if self.inverted else self.lead


def render_page(
    signals: dict[str, np.ndarray],
    fs: int = 500,
    layout: str = DEFAULT_LAYOUT,
    dpi: int = 150,
    grid_colour: str = "pink",
    rotation_deg: float = 0.0,
    blank_leads: tuple[str, ...] = (),
    seed: int = 0,
    lead_order: str = "standard",
) -> tuple[np.ndarray, list[DrawnSegment]]:
    """A BGR page drawing `signals` (mV at `fs`, 10 s each) in `layout`. `blank_leads` are left out
    (a lead missing from the page); `rotation_deg` turns the page as a crooked scan would;
    `lead_order` "cabrera" places and prints the limb leads in Cabrera order (rhythm strips keep
    their leads)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown page layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    if lead_order not in LEAD_ORDERS:
        raise ValueError(f"unknown lead order {lead_order!r}: expected one of {', '.join(LEAD_ORDERS)}")
    grid, rhythm = LAYOUTS[layout]
    if lead_order == "cabrera":
        grid = tuple(tuple(CABRERA_IN_PLACE_OF.get(name, name) for name in row) for row in grid)
    ppm = dpi / MM_PER_INCH
    row_mm = ROW_MM[layout.split("+")[0]]
    n_rows = len(grid) + len(rhythm)
    height_mm = 20.0 + n_rows * row_mm
    h, w = int(round(height_mm * ppm)), int(round(PAGE_WIDTH_MM * ppm))
    colours = GRID_COLOURS[grid_colour]
    page = np.empty((h, w, 3), np.uint8)
    page[:] = colours[0]
    _draw_grid(page, ppm, colours, (0.0, 0.0))
    ink = (30, 30, 30)
    pen = max(1, int(round(0.28 * ppm)))
    n = int(10 * fs)
    segments: list[DrawnSegment] = []

    def draw_row(row: int, leads: tuple[str, ...], is_rhythm: bool) -> None:
        baseline_mm = 12.0 + (row + 0.6) * row_mm
        y_base = baseline_mm * ppm
        # the calibration pulse: 1 mV (10 mm) x 0.2 s (5 mm), before the trace
        px = np.array([TRACE_X_MM - 9, TRACE_X_MM - 7, TRACE_X_MM - 7, TRACE_X_MM - 2, TRACE_X_MM - 2, TRACE_X_MM - 0.5]) * ppm
        py = np.array([0, 0, -10, -10, 0, 0]) * ppm + y_base
        _polyline(page, px, py, ink, pen)
        per = n // len(leads)
        for c, printed in enumerate(leads):
            lead, inverted = printed.lstrip("-"), printed.startswith("-")
            a, b = (0, n) if is_rhythm else (c * per, (c + 1) * per)
            x0_mm = TRACE_X_MM + a / fs * 25.0
            top = int((baseline_mm - row_mm * 0.6) * ppm)
            box = (int(x0_mm * ppm), max(0, top), int((TRACE_X_MM + b / fs * 25.0) * ppm), min(h, int(top + row_mm * ppm)))
            segments.append(DrawnSegment(lead, a, b, is_rhythm, box, inverted))
            cv2.putText(page, printed, (int((x0_mm + 1.5) * ppm), int((baseline_mm - 11) * ppm)), cv2.FONT_HERSHEY_SIMPLEX, 0.11 * ppm, ink, max(1, pen // 2), cv2.LINE_AA)
            if c > 0:  # the separator mark at a column boundary
                cv2.line(page, (int(x0_mm * ppm), int(y_base - 4 * ppm)), (int(x0_mm * ppm), int(y_base + 4 * ppm)), ink, pen)
            if lead in blank_leads and not is_rhythm:
                continue
            sign = -1.0 if inverted else 1.0
            sig = sign * np.asarray(signals[lead], np.float64)[a:b]
            sig = np.where(np.isfinite(sig), sig, 0.0)
            x = (x0_mm + np.arange(sig.size) / fs * 25.0) * ppm
            y = y_base - (sig - sign * float(np.median(signals[lead]))) * 10.0 * ppm
            _polyline(page, x, y, ink, pen)

    for r, leads in enumerate(grid):
        draw_row(r, leads, False)
    for k, lead in enumerate(rhythm):
        draw_row(len(grid) + k, (lead,), True)
    rng = np.random.default_rng(seed)
    page = np.clip(page.astype(np.int16) + rng.normal(0, 2.0, page.shape).astype(np.int16), 0, 255).astype(np.uint8)
    if rotation_deg:
        m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), rotation_deg, 1.0)
        page = cv2.warpAffine(page, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=colours[0])
    return page, segments
