"""Reading the lead names printed on a page: a template matcher over a vocabulary of 13 words.

No OCR engine: the vocabulary is tiny (I, II, III, aVR, aVL, aVF, V1-V6 and Cabrera's -aVR), and
the offline OCR packages on PyPI either fetch their models at run time or bring a neural runtime and
tens of megabytes of models for a job this small. Each word is rendered in a few fonts (OpenCV's
Hershey fonts; DejaVu Sans and Serif, as matplotlib ships them, when matplotlib is installed: the
fonts ecg-image-kit and ECGMiner print with), and a printed label (its letters' pixels, found by
`pages.label_words`) is compared with each rendering at the label's own size: the Pearson
correlation of the two, slightly blurred. A reading is accepted only when it is clearly the best
word (`MIN_SCORE`, `MIN_MARGIN` over any other word); otherwise the label is not read, and the lead
names follow the layout. A reading never renames a lead: `pages` marks a lead's name as read from
its printed label only where the reading confirms the layout's name, on a page where at least three
do. Which of two lead orders a page prints is a forced choice between two words per label
(`pages.choose_lead_order` compares the two words' scores), which a label too blurred to read
outright often still makes.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

VOCABULARY = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6", "-aVR")
MIN_SCORE = 0.8  # correlation with the best word's best rendering
MIN_MARGIN = 0.1  # ... and this much above the best other word's
TEMPLATE_HEIGHT = 64  # px: words are rendered this tall, then scaled to the label's size
MATCH_HEIGHT = 24  # px: both are compared at this height (a label 2-3 mm tall at 100-300 dpi: 8-35 px)


def _ttf_fonts() -> list[Path]:
    try:
        import matplotlib
    except ImportError:  # matplotlib comes with neurokit2; without it, the Hershey fonts only
        return []
    folder = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
    names = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf")
    return [folder / name for name in names if (folder / name).exists()]


def _tight(mask: np.ndarray) -> np.ndarray | None:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


@functools.lru_cache(maxsize=1)
def templates() -> dict[str, list[np.ndarray]]:
    """Each word of the vocabulary, rendered in each font: binary masks cropped to the ink."""
    out: dict[str, list[np.ndarray]] = {word: [] for word in VOCABULARY}
    for word in VOCABULARY:
        for font in (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX):
            for thickness in (2, 4):
                canvas = np.zeros((TEMPLATE_HEIGHT * 2, TEMPLATE_HEIGHT * 6), np.uint8)
                cv2.putText(canvas, word, (8, int(TEMPLATE_HEIGHT * 1.5)), font, TEMPLATE_HEIGHT / 22.0, 255, thickness, cv2.LINE_AA)
                if (tight := _tight(canvas > 127)) is not None:
                    out[word].append(tight)
        for path in _ttf_fonts():
            from PIL import Image, ImageDraw, ImageFont

            font = ImageFont.truetype(str(path), TEMPLATE_HEIGHT)
            image = Image.new("L", (TEMPLATE_HEIGHT * 6, TEMPLATE_HEIGHT * 2), 0)
            ImageDraw.Draw(image).text((8, 8), word, fill=255, font=font)
            if (tight := _tight(np.asarray(image) > 127)) is not None:
                out[word].append(tight)
    return out


def _normalized(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    small = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    return small / norm if norm > 0 else small


@functools.lru_cache(maxsize=1)
def _normalized_templates() -> dict[str, list[tuple[float, tuple[int, int], np.ndarray]]]:
    """Each rendering as (width / height, comparison size, normalized array), computed once."""
    out = {}
    for word, renderings in templates().items():
        out[word] = []
        for rendering in renderings:
            aspect = rendering.shape[1] / rendering.shape[0]
            size = (max(2, int(round(MATCH_HEIGHT * aspect))), MATCH_HEIGHT)
            out[word].append((aspect, size, _normalized(rendering, size)))
    return out


def word_scores(mask: np.ndarray) -> dict[str, float]:
    """Per vocabulary word, the best correlation of the label (bool mask of its letters) with any of
    the word's renderings, compared at the rendering's shape; words whose shape (width / height)
    differs from the label's by more than a third score 0."""
    label = _tight(np.asarray(mask, bool))
    if label is None or label.shape[0] < 4:
        return {word: 0.0 for word in VOCABULARY}
    aspect = label.shape[1] / label.shape[0]
    probes: dict[tuple[int, int], np.ndarray] = {}
    scores = {}
    for word, renderings in _normalized_templates().items():
        best = 0.0
        for rendering_aspect, size, normalized in renderings:
            if not 0.75 <= rendering_aspect / aspect <= 1.33:
                continue
            if size not in probes:
                probes[size] = _normalized(label, size)
            best = max(best, float((probes[size] * normalized).sum()))
        scores[word] = best
    return scores


def read_label(mask: np.ndarray) -> str | None:
    """The lead name a printed label spells, or None when no word is clearly the best."""
    return reading(word_scores(mask))


def reading(scores: dict[str, float]) -> str | None:
    """The word `word_scores` makes clearly the best, or None."""
    ranked = sorted(scores.items(), key=lambda item: item[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top >= MIN_SCORE and top - second >= MIN_MARGIN:
        return best
    return None
