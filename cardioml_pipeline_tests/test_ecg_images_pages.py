"""Whole 12-lead pages: layout detection, cutting into leads, the image stage's page rows and signals,
and bad pages. Real PNGs: pages drawn by the demo's page renderer from known signals, and the
shared ECGMiner / ecg-image-kit pages."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import polars as pl
import pytest

from cardioml_pipeline.demo.pages import render_page
from cardioml_pipeline.demo.render import RenderSpec, render_lead
from cardioml_pipeline.demo.synth import synthesize_12_lead
from cardioml_pipeline.ecg_images.digitize import signal_agreement
from cardioml_pipeline.ecg_images.discovery import list_image_files
from cardioml_pipeline.ecg_images.index import ArtifactLayout, read_patient_signals
from cardioml_pipeline.ecg_images.pages import MAX_ROW_CONVERGENCE_DEG, detect_layout, process_page
from cardioml_pipeline.ecg_images.processing import run_image_stage
from cardioml_pipeline_tests.conftest import SHARED_DATASETS, require_shared

FS = 500


@pytest.fixture(scope="module")
def signals() -> dict[str, np.ndarray]:
    return synthesize_12_lead([], 75.0, seed=11)


def _snr_by_segment(signals, segments, leads) -> dict[tuple[str, bool], float]:
    got = {(lead.box.lead, lead.box.is_rhythm_strip): lead.result.signal_mv for lead in leads}
    out = {}
    for segment in segments:
        estimate = got.get((segment.lead, segment.is_rhythm_strip))
        reference = signals[segment.lead][segment.start_sample : segment.end_sample]
        out[(segment.lead, segment.is_rhythm_strip)] = signal_agreement(reference, estimate, FS)[1] if estimate is not None and estimate.size else float("-inf")
    return out


def record_prepared_shapes(monkeypatch, module) -> list[tuple[int, int]]:
    """The sizes of the images `module.prepare_image` is called on, in order (the real function runs)."""
    shapes = []
    real_prepare = module.prepare_image

    def recording_prepare(image, *args, **kwargs):
        shapes.append(image.shape[:2])
        return real_prepare(image, *args, **kwargs)

    monkeypatch.setattr(module, "prepare_image", recording_prepare)
    return shapes


def test_3x4_page_gives_thirteen_lead_segments_in_layout_order(signals):
    page, drawn = render_page(signals, layout="3x4+1", dpi=120)
    _, layout = detect_layout(page)
    assert layout.reject_reason is None and layout.layout == "3x4+1" and layout.confidence > 0.8
    assert [b.lead for b in layout.boxes] == ["I", "aVR", "V1", "V4", "II", "aVL", "V2", "V5", "III", "aVF", "V3", "V6", "II"]
    assert [b.is_rhythm_strip for b in layout.boxes] == [False] * 12 + [True]
    assert [b.start_s for b in layout.boxes[:4]] == pytest.approx([0.0, 2.5, 5.0, 7.5], abs=0.1)
    assert all(b.duration_s == pytest.approx(2.5, abs=0.15) for b in layout.boxes[:12])
    assert layout.boxes[12].duration_s == 10.0
    # each box covers the segment the renderer drew there
    for box, segment in zip(layout.boxes, drawn):
        assert box.lead == segment.lead
        sx0, sy0, sx1, sy1 = segment.box
        overlap = min(box.x1, sx1) - max(box.x0, sx0)
        assert overlap > 0.9 * (sx1 - sx0) - 10, (box, segment)
        assert box.y0 < (sy0 + sy1) / 2 < box.y1


@pytest.mark.parametrize("name", ["6x2+1", "12x1+0", "3x4+0", "3x4+3"])
def test_other_layouts_are_found(signals, name):
    page, drawn = render_page(signals, layout=name, dpi=100)
    _, layout = detect_layout(page)
    assert layout.layout == name, layout.reject_reason
    assert [(b.lead, b.is_rhythm_strip) for b in layout.boxes] == [(s.lead, s.is_rhythm_strip) for s in drawn]


def test_page_leads_digitize_close_to_the_signals_drawn(signals):
    page, drawn = render_page(signals, layout="3x4+1", dpi=150)
    layout, leads = process_page(page)
    snr = _snr_by_segment(signals, drawn, leads)
    assert len(leads) == 13
    assert np.median(list(snr.values())) >= 15.0, snr


def test_rotated_page_is_levelled_and_cut(signals):
    page, drawn = render_page(signals, layout="3x4+1", dpi=120, rotation_deg=4.5)
    layout, leads = process_page(page)
    assert layout.layout == "3x4+1"
    assert abs(abs(layout.skew_deg) - 4.5) < 0.6
    assert layout.perspective_deg < MAX_ROW_CONVERGENCE_DEG  # turned, not leaning: no perspective
    snr = _snr_by_segment(signals, drawn, leads)
    assert np.median(list(snr.values())) >= 12.0, snr


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def test_stage_writes_one_row_per_lead_segment_with_page_columns(tmp_path, signals):
    images = tmp_path / "ECG_Images"
    page, _ = render_page(signals, layout="3x4+1", dpi=110)
    _write(images / "Patient_1001.png", page)
    strip = render_lead(signals["V2"], FS, RenderSpec(dpi=110))
    _write(images / "Patient_1001_lead_V2.png", strip)  # a per-lead image beside the page: both kept
    artifacts = tmp_path / "artifacts"

    index, summary = run_image_stage(images, artifacts, {1001}, workers=1)
    # the summary tells files from lead segments: 2 files (1 page) gave 14 segments
    assert (summary.files_processed, summary.pages_processed, summary.segments_processed, summary.processed) == (2, 1, 14, 14)
    rows = index.collect()
    page_rows = rows.filter(pl.col("source_path") == "Patient_1001.png")
    assert page_rows.height == 13
    assert page_rows["reject_reason"].null_count() == 13
    assert page_rows.filter(pl.col("lead") == "II").height == 2
    assert page_rows["page_layout"].unique().to_list() == ["3x4+1"]
    assert page_rows["page_path"].unique().to_list() == ["Patient_1001.png"]
    assert page_rows["page_sha256"].unique().to_list() == page_rows["source_sha256"].unique().to_list()
    # names the printed labels confirm say so; the others follow the layout
    sources = page_rows.group_by("lead_name_source").len()
    assert set(sources["lead_name_source"]) == {"layout", "printed_label"}, sources
    assert sources.filter(pl.col("lead_name_source") == "printed_label")["len"].item() >= 3
    assert sorted(page_rows["start_s"].round(1).unique().to_list()) == [0.0, 2.5, 5.0, 7.5]
    assert page_rows.filter(pl.col("is_rhythm_strip"))["duration_s"].to_list() == [10.0]
    assert (page_rows["lead_box_x1"] > page_rows["lead_box_x0"]).all() and (page_rows["lead_box_y1"] > page_rows["lead_box_y0"]).all()
    lead_row = rows.filter(pl.col("source_path") == "Patient_1001_lead_V2.png").row(0, named=True)
    assert lead_row["start_s"] == 0.0 and lead_row["is_rhythm_strip"] is False and lead_row["lead_name_source"] == "file_name"
    assert lead_row["duration_s"] == pytest.approx(10.0, abs=0.3) and lead_row["page_path"] is None

    stored = read_patient_signals(ArtifactLayout(artifacts), 1001)
    assert stored.height == 14  # 13 page segments + the per-lead V2
    assert stored.filter((pl.col("lead") == "II") & pl.col("is_rhythm_strip"))["n_samples"].item() > 9 * FS
    assert stored.filter(pl.col("lead") == "V2")["source_path"].sort().to_list() == ["Patient_1001.png", "Patient_1001_lead_V2.png"]

    # a re-run reuses the page whole; removing the page drops its signals, the per-lead image stays
    again, summary = run_image_stage(images, artifacts, {1001}, workers=1)
    assert summary.reused == 2 and summary.processed == 0 and summary.files_processed == 0
    assert again.collect().drop("processed_at").equals(rows.drop("processed_at"))
    (images / "Patient_1001.png").unlink()
    run_image_stage(images, artifacts, {1001}, workers=1)
    assert read_patient_signals(ArtifactLayout(artifacts), 1001)["source_path"].to_list() == ["Patient_1001_lead_V2.png"]


def test_bad_pages_get_reasons_and_the_run_goes_on(tmp_path, signals):
    images = tmp_path / "ECG_Images"
    page, _ = render_page(signals, layout="3x4+1", dpi=100, blank_leads=("V3",))
    _write(images / "Patient_1001-1.png", page)  # the patient's first ECG, one lead missing
    _write(images / "Patient_1001-1.jpg", page)  # a second file claiming the same ECG
    _write(images / "Patient_1002.png", render_lead(signals["II"], FS, RenderSpec(dpi=100)))  # one strip named as a page
    _write(images / "Patient_1003.png", np.full((600, 900, 3), 250, np.uint8))  # blank page

    rows = run_image_stage(images, tmp_path / "artifacts", {1001, 1002, 1003}, workers=1)[0].collect()
    by_path = {path: frame for (path,), frame in rows.group_by("source_path")}
    first = by_path["Patient_1001-1.png"]
    assert first["ecg_index"].unique().to_list() == [1]
    assert first.height == 13
    v3 = first.filter(pl.col("lead") == "V3").row(0, named=True)
    assert v3["reject_reason"] is not None or not v3["qc_passed"], "a missing lead must not pass as digitized"
    assert first.filter(pl.col("lead") != "V3")["reject_reason"].null_count() == 12
    assert by_path["Patient_1001-1.jpg"]["reject_reason"].item() == "duplicate of Patient_1001-1.png (same patient's ECG page)"
    strip = by_path["Patient_1002.png"].row(0, named=True)
    assert by_path["Patient_1002.png"].height == 1
    assert strip["reject_reason"].startswith("page layout not found: a single trace row (one lead strip named as a page?)")
    assert by_path["Patient_1003.png"]["reject_reason"].item().startswith("page layout not found")


def test_page_names_are_discovered_not_rejected(tmp_path):
    images = tmp_path / "ECG_Images"
    for name in ("Patient_1001.png", "Patient_1001-2.jpeg", "Patient_1001_lead_I.png", "Patient_x.png"):
        _write(images / name, np.full((20, 40, 3), 255, np.uint8))
    found = {f.relative_path: f for f in list_image_files(images)}
    assert found["Patient_1001.png"].is_page and found["Patient_1001.png"].reject_reason is None and found["Patient_1001.png"].ecg_index is None
    assert found["Patient_1001-2.jpeg"].is_page and found["Patient_1001-2.jpeg"].ecg_index == 2
    assert not found["Patient_1001_lead_I.png"].is_page
    assert found["Patient_x.png"].reject_reason is not None


def test_ecgminer_page_every_lead_digitized():
    root = require_shared(SHARED_DATASETS / "ecgminer-ludb-pages")
    page = cv2.imread(str(root / "img" / "001.png"), cv2.IMREAD_UNCHANGED)
    truth = pl.read_csv(root / "signal" / "001.csv")
    layout, leads = process_page(page)
    assert layout.layout == "3x4+1" and len(leads) == 13
    snrs = []
    for lead in leads:
        box = lead.box
        a, b = int(round(box.start_s * FS)), int(round((box.start_s + box.duration_s) * FS))
        a, b = (0, 5000) if box.is_rhythm_strip else (round(a / 1250) * 1250, round(a / 1250) * 1250 + 1250)
        snrs.append(signal_agreement(truth[box.lead].to_numpy()[a:b], lead.result.signal_mv, FS)[1])
    assert np.median(snrs) >= 15.0, snrs


def test_ecg_image_kit_6x2_page_boxes_match_the_kits():
    import json

    root = require_shared(SHARED_DATASETS / "ecg-image-kit-renders" / "pages")
    image = cv2.imread(str(root / "Patient_1005_6x2.png"), cv2.IMREAD_UNCHANGED)
    kit = json.loads((root / "Patient_1005_6x2.json").read_text())
    _, layout = detect_layout(image)
    assert layout.layout == "6x2+1"
    for box in layout.boxes:
        if box.is_rhythm_strip:
            continue
        entry = next(e for e in kit["leads"] if e["lead_name"] == box.lead)
        ys = [corner[0] for corner in entry["lead_bounding_box"].values()]
        xs = [corner[1] for corner in entry["lead_bounding_box"].values()]
        assert box.y0 <= (min(ys) + max(ys)) / 2 <= box.y1, box
        assert box.x0 <= (min(xs) + max(xs)) / 2 <= box.x1, box


def test_dagster_run_page_checks_views_and_features(demo_copy, tmp_path, signals):
    from cardioml_pipeline_tests.conftest import check_results, failed_steps, query, run_pipeline

    images = demo_copy / "ECG_Images"
    page, _ = render_page(signals, layout="3x4+1", dpi=100)
    _write(images / "Patient_1001.png", page)
    _write(images / "Patient_1002.png", render_lead(signals["II"], FS, RenderSpec(dpi=100)))  # a strip named as a page
    import dagster as dg

    warehouse = tmp_path / "w.duckdb"
    # the page through the image stage into the lead features, and what those need upstream
    selection = dg.AssetSelection.assets(dg.AssetKey(["features", "ecg_lead_features"])).upstream()
    result = run_pipeline(demo_copy, warehouse, selection=selection)
    assert failed_steps(result) == {}
    checks = check_results(result)
    assert not checks[("images/ecg_images", "page_layout_found")].passed  # Patient_1002.png was not placed
    assert checks[("images/ecg_images", "page_leads_complete")].passed
    assert checks[("images/ecg_images", "page_calibration_agreement")].passed
    assert checks[("images/ecg_signals", "signals_match_index")].passed
    rows = query(
        warehouse,
        "SELECT lead, start_s, duration_s, is_rhythm_strip, source_path FROM staging.ecg_signals WHERE file_number = 1001 AND lead = 'II' ORDER BY is_rhythm_strip",
    )
    assert [(r[0], r[3], r[4]) for r in rows] == [("II", False, "Patient_1001.png"), ("II", True, "Patient_1001.png")]
    assert rows[0][1] == 0.0 and rows[0][2] == pytest.approx(2.5, abs=0.15) and rows[1][2] == 10.0
    # features take the longest segment of a lead: lead II's 10 s rhythm strip
    assert query(warehouse, "SELECT duration_s FROM features.ecg_lead_features WHERE file_number = 1001 AND lead = 'II'")[0][0] > 9.0


def test_cli_demo_data_pages_writes_pages_with_their_signals(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "cardioml_pipeline.cli", "demo-data", "--patients", "2", "--pages", "--out", str(out), "--workers", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (out / "ECG_Images").iterdir()) == ["Patient_1001.png", "Patient_1002.png"]
    segments = pl.read_parquet(out / "demo_truth" / "pages" / "patient_1001.parquet")
    assert segments.height == 13 and segments["page_layout"].unique().to_list() == ["3x4+1"]
    truth = pl.read_parquet(out / "demo_truth" / "signals" / "patient_1001.parquet")
    signals = {row["lead"]: np.asarray(row["signal_mv"]) for row in truth.iter_rows(named=True)}
    assert all(s.size == 5000 for s in signals.values())
    # the page digitizes back to the signals it was drawn from
    index = run_image_stage(out / "ECG_Images", tmp_path / "artifacts", {1001, 1002}, workers=1)[0].collect()
    assert index.filter(pl.col("source_path") == "Patient_1001.png").height == 13
    stored = read_patient_signals(ArtifactLayout(tmp_path / "artifacts"), 1001)
    snrs = []
    for seg in segments.iter_rows(named=True):
        got = stored.filter((pl.col("lead") == seg["lead"]) & (pl.col("is_rhythm_strip") == seg["is_rhythm_strip"]))
        if got.height:
            snrs.append(signal_agreement(signals[seg["lead"]][seg["start_sample"] : seg["end_sample"]], np.asarray(got["signal_mv"][0]), FS)[1])
    assert len(snrs) == 13 and np.median(snrs) >= 12.0, snrs


@pytest.mark.parametrize(
    "options, message",
    [
        (["--pages", "9x9"], "unknown page layout '9x9'"),
        (["--page-lead-order", "cabrera"], "--page-lead-order applies to whole pages"),
    ],
    ids=["unknown-layout", "lead-order-without-pages"],
)
def test_cli_demo_data_rejects_bad_page_options(tmp_path, options, message):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "cardioml_pipeline.cli", "demo-data", "--patients", "1", *options, "--out", str(tmp_path / "d")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2 and message in done.stderr
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("keystone", ["top", "left"])
def test_a_photographed_page_with_perspective_is_flagged(tmp_path, signals, keystone):
    """A page photographed at an angle (its top edge, or its left edge, 8 % shorter): the rows
    converge, which is measured and not corrected, so every lead of the page fails QC saying so."""
    page, _ = render_page(signals, layout="3x4+1", dpi=110)
    h, w = page.shape[:2]
    corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    leaning = {
        "top": np.float32([[0.04 * w, 0], [0.96 * w, 0], [w, h], [0, h]]),
        "left": np.float32([[0, 0.04 * h], [w, 0], [w, h], [0, 0.96 * h]]),
    }[keystone]
    photo = cv2.warpPerspective(page, cv2.getPerspectiveTransform(corners, leaning), (w, h), borderValue=(255, 255, 255))
    _, layout = detect_layout(photo)
    assert layout.perspective_deg > MAX_ROW_CONVERGENCE_DEG
    _, square = detect_layout(page)
    assert square.perspective_deg < MAX_ROW_CONVERGENCE_DEG
    images = tmp_path / "ECG_Images"
    images.mkdir()
    _write(images / "Patient_1001.png", photo)
    index, _ = run_image_stage(images, tmp_path / "artifacts", None, workers=1)
    rows = index.select("page_perspective_deg", "qc_passed", "qc_reasons").collect()
    assert rows.height == 13
    assert (rows["page_perspective_deg"] > MAX_ROW_CONVERGENCE_DEG).all()
    assert not rows["qc_passed"].any()
    assert all(any("photographed at an angle" in r for r in reasons) for reasons in rows["qc_reasons"])


def test_the_page_grid_is_measured_once_and_given_to_each_lead():
    """A 200 dpi ecg-image-kit page is placed scaled down; its grid is re-measured on the full page
    and handed to every crop: each lead reports the page's scale, and the page's lattice lands on
    the grid lines each crop would find on its own (within a pixel, modulo the 1 mm pitch)."""
    from cardioml_pipeline.ecg_images.pages import crop_grid
    from cardioml_pipeline.ecg_images.preprocess import prepare_image

    root = require_shared(SHARED_DATASETS / "ecg-image-kit-renders" / "pages")
    image = cv2.imread(str(root / "Patient_1001_3x4.png"), cv2.IMREAD_UNCHANGED)
    layout, leads = process_page(image)
    assert layout.grid is not None and layout.grid.found
    assert {lead.result.px_per_mm_x for lead in leads} == {layout.grid.px_per_mm_x}
    page, _ = detect_layout(image)
    for box in layout.boxes[:12]:
        own = prepare_image(page[box.y0 : box.y1, box.x0 : box.x1]).grid
        given = crop_grid(layout.grid, box.x0, box.y0)
        assert abs(given.px_per_mm_x / own.px_per_mm_x - 1) < 0.005, box
        pitch = given.px_per_mm_x
        off = (given.phase_x - own.phase_x) % pitch
        assert min(off, pitch - off) <= 1.0, (box, given.phase_x, own.phase_x)


def test_printed_lead_labels_are_blanked_out_of_the_crops():
    """ECGMiner prints each lead's name above the start of its segment: the name is found on every
    segment, blanked out of the crop, and the 2.5 s segments pass QC (with the names left in, their
    ink read as off-trace ink and grid residue: 21 of ECGMiner's 240 segments passed)."""
    root = require_shared(SHARED_DATASETS / "ecgminer-ludb-pages")
    layout, leads = process_page(cv2.imread(str(root / "img" / "001.png"), cv2.IMREAD_UNCHANGED))
    ppm = layout.grid.px_per_mm_x
    for box in layout.boxes:
        assert box.label_box is not None, box
        lx0, ly0, lx1, ly1 = box.label_box
        assert box.y0 <= ly0 < ly1 <= box.y1 and (lx1 - lx0) <= 12 * ppm and (ly1 - ly0) <= 7 * ppm, box
    short = [lead for lead in leads if not lead.box.is_rhythm_strip]
    assert sum(lead.result.qc_passed for lead in short) >= 8, [lead.result.qc_reasons for lead in short]
    assert all(lead.result.qc_passed for lead in leads if lead.box.is_rhythm_strip)
    for lead in leads:  # and the blanking took nothing off the trace
        assert lead.result.signal_mv.size >= 0.9 * lead.box.duration_s * FS, lead.box



@pytest.mark.parametrize("source", ["ecgminer", "kit", "demo"])
def test_printed_lead_names_are_read_where_legible_and_never_misread(source, signals):
    """The printed names are read by template matching: on ECGMiner's pages most of them, fewer on
    ecg-image-kit's small sans-serif type and on demo pages; a reading that is not the layout's name
    is never given (a page whose readings mostly disagree keeps none), and a name is credited to
    the printed label only where the reading is the layout's own."""
    if source == "ecgminer":
        root = require_shared(SHARED_DATASETS / "ecgminer-ludb-pages")
        images = [cv2.imread(str(root / "img" / f"{k:03d}.png")) for k in (1, 2, 7)]
        least = 25
    elif source == "kit":
        root = require_shared(SHARED_DATASETS / "ecg-image-kit-renders" / "pages")
        images = [cv2.imread(str(root / name)) for name in ("Patient_1001_3x4.png", "Patient_1016_3x4.png", "Patient_1016_6x2.png")]
        least = 3
    else:
        images = [render_page(signals, layout=layout, dpi=dpi)[0] for layout, dpi in (("3x4+1", 200), ("6x2+1", 150), ("12x1+0", 150))]
        least = 10
    read = 0
    for image in images:
        _, layout = detect_layout(image)
        assert layout.lead_order == "standard" and not any(box.inverted for box in layout.boxes)
        for box in layout.boxes:
            assert box.printed_label in (None, box.lead), box
            assert (box.lead_name_source == "printed_label") == (box.printed_label is not None and sum(b.printed_label is not None for b in layout.boxes) >= 3), box
            read += box.printed_label is not None
    assert read >= least


@pytest.mark.parametrize(("name", "dpi"), [("3x4+1", 150), ("3x4+0", 300), ("6x2+1", 300)])
def test_a_cabrera_page_is_named_and_signed_as_printed(signals, name, dpi):
    """A page printing its limb leads in Cabrera order (aVL, I, -aVR / II, aVF, III): the printed
    names read agree with Cabrera order better than with the standard one, so each segment is named
    as printed, and -aVR is stored as lead aVR with the trace negated. Every segment's signal then
    agrees, sign included, with the lead it was drawn from; the same page in the standard order
    stays standard."""
    page, drawn = render_page(signals, layout=name, dpi=dpi, lead_order="cabrera")
    assert [s.printed_label for s in drawn if s.inverted] == ["-aVR"]
    layout, leads = process_page(page)
    assert layout.layout == name and layout.lead_order == "cabrera"
    assert [(lead.box.lead, lead.box.inverted, lead.box.is_rhythm_strip) for lead in leads] == [(s.lead, s.inverted, s.is_rhythm_strip) for s in drawn]
    for lead, segment in zip(leads, drawn):
        r = signal_agreement(signals[segment.lead][segment.start_sample : segment.end_sample], lead.result.signal_mv, FS)[0]
        assert r > 0.9, (segment, r)
    assert any(lead.box.lead_name_source == "printed_label" for lead in leads if lead.box.lead in ("aVL", "aVF", "III"))

    standard_page, standard_drawn = render_page(signals, layout=name, dpi=dpi)
    _, standard = detect_layout(standard_page)
    assert standard.lead_order == "standard"
    assert [(b.lead, b.inverted) for b in standard.boxes] == [(s.lead, False) for s in standard_drawn]


def test_cli_demo_data_cabrera_pages_go_through_the_stage_as_printed(tmp_path):
    """`cardioml demo-data --pages --page-lead-order cabrera` draws Cabrera pages (the truth says
    which segment is -aVR); the image stage names them so (page_lead_order 'cabrera') and stores
    aVR the right way up."""
    import subprocess
    import sys

    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "cardioml_pipeline.cli", "demo-data", "--patients", "2", "--pages", "--page-lead-order", "cabrera", "--out", str(out), "--workers", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    segments = pl.read_parquet(out / "demo_truth" / "pages" / "patient_1001.parquet")
    assert segments.filter(pl.col("inverted"))["printed_label"].to_list() == ["-aVR"]
    assert segments.filter(~pl.col("is_rhythm_strip"))["printed_label"].to_list()[:2] == ["aVL", "II"]
    index = run_image_stage(out / "ECG_Images", tmp_path / "artifacts", {1001, 1002}, workers=1)[0].collect()
    pages = index.filter(pl.col("page_path").is_not_null())
    assert pages.height == 26 and pages["page_lead_order"].unique().to_list() == ["cabrera"]
    for file_number in (1001, 1002):
        truth = pl.read_parquet(out / "demo_truth" / "signals" / f"patient_{file_number}.parquet")
        avr = np.asarray(truth.filter(pl.col("lead") == "aVR")["signal_mv"][0])
        stored = read_patient_signals(ArtifactLayout(tmp_path / "artifacts"), file_number).filter(pl.col("lead") == "aVR")
        assert stored.height == 1
        start = int(round(stored["start_s"][0] * FS))
        got = np.asarray(stored["signal_mv"][0])
        assert signal_agreement(avr[start : start + got.size], got, FS)[0] > 0.9


@pytest.mark.parametrize("dpi", [110, 200])
def test_printed_text_along_a_rhythm_strip_is_blanked(signals, dpi):
    """Text printed anywhere along a strip (a footer's "25mm/s 10mm/mV" in the lead II strip's band,
    as ecg-image-kit prints it) is painted out like the lead names: the strip passes QC, and its
    trace is digitized as well as on the same page without the text."""
    page, drawn = render_page(signals, layout="3x4+1", dpi=dpi)
    plain = page.copy()
    ppm = dpi / 25.4
    strip = next(s for s in drawn if s.is_rhythm_strip)
    for text, x_mm in (("25mm/s", 60), ("10mm/mV", 140), ("Rhythm strip: II", 200)):
        cv2.putText(page, text, (int(x_mm * ppm), int(strip.box[3] - 3 * ppm)), cv2.FONT_HERSHEY_SIMPLEX, 0.11 * ppm, (30, 30, 30), max(1, int(0.14 * ppm)), cv2.LINE_AA)
    snr = {}
    for name, image in (("text", page), ("plain", plain)):
        _, leads = process_page(image)
        rhythm = next(lead for lead in leads if lead.box.is_rhythm_strip)
        if name == "text":
            assert rhythm.result.qc_passed, rhythm.result.qc_reasons
        snr[name] = signal_agreement(signals["II"], rhythm.result.signal_mv, FS)[1]
    assert snr["text"] >= snr["plain"] - 0.5, snr


def test_ecg_image_kit_rhythm_strips_pass_qc_with_their_footer_blanked():
    """ecg-image-kit prints "25mm/s" and "10mm/mV" in the rhythm strip's band: blanked, its strips pass
    QC (before: none of them did)."""
    root = require_shared(SHARED_DATASETS / "ecg-image-kit-renders" / "pages")
    for name in ("Patient_1001_3x4.png", "Patient_1005_6x2.png", "Patient_1012_3x4.png"):
        _, leads = process_page(cv2.imread(str(root / name)))
        rhythm = next(lead for lead in leads if lead.box.is_rhythm_strip)
        assert rhythm.result.qc_passed, (name, rhythm.result.qc_reasons)


@pytest.mark.parametrize("rotation_deg", [-7.0, -2.5, 0.4, 3.3, 10.0])
def test_residual_skew_finds_the_rows_angle_from_the_coarse_search_at_an_eighth(signals, rotation_deg):
    """The rows' angle is searched every 0.5 degree on the ink scaled down 8 times, then every 0.1
    degree at a quarter: a page turned by up to 12 degrees, with its grid's angle ignored, comes out
    within a tenth of a degree."""
    from cardioml_pipeline.ecg_images.pages import _without_rulings, residual_skew
    from cardioml_pipeline.ecg_images.preprocess import prepare_image

    page, _ = render_page(signals, layout="3x4+1", dpi=150, rotation_deg=rotation_deg)
    ink = _without_rulings(prepare_image(page, deskew=False).ink)
    assert abs(residual_skew(ink) - rotation_deg) <= 0.15


def test_median_colour_is_numpys_median_floored():
    from cardioml_pipeline.ecg_images.pages import median_colour

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 10, 11, 999, 1000):
        for _ in range(20):
            low, high = (0, 256) if rng.random() < 0.5 else (238, 242)  # many ties
            pixels = rng.integers(low, high, (n, 1, 3), dtype=np.uint8)
            assert (median_colour(pixels) == np.median(pixels.reshape(-1, 3), axis=0).astype(np.uint8)).all(), pixels.ravel()


def test_paint_where_paints_the_mask_and_nothing_else():
    from cardioml_pipeline.ecg_images.pages import paint_where

    rng = np.random.default_rng(4)
    image = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    mask = np.zeros((40, 60), np.uint8)
    mask[5:9, 10:12] = 1
    mask[30, 50] = 1
    expected = image.copy()
    expected[mask > 0] = (1, 2, 3)
    paint_where(image, mask, np.array([1, 2, 3], np.uint8))
    assert (image == expected).all()
    untouched = image.copy()
    paint_where(image, np.zeros_like(mask), np.array([9, 9, 9], np.uint8))
    assert (image == untouched).all()


def test_a_wide_page_is_placed_scaled_down_and_its_names_read_at_full_size(monkeypatch):
    """ECGMiner's pages are 2000 x 960 px (7 px/mm): wider than a letter page's shape, so the layout is
    placed on the page scaled to 1100 px across (like a 200 dpi letter page to 850 px high), never
    on the whole page at full size. The printed names are then found and read at full size in a
    window each (scaled down, 2-3 mm letters blur into blobs), and the frame line at the page's left
    edge, 1 px wide, is blanked at full size without the column beside it, where the first QRS is
    drawn."""
    from cardioml_pipeline.ecg_images import pages

    root = require_shared(SHARED_DATASETS / "ecgminer-ludb-pages")
    image = cv2.imread(str(root / "img" / "001.png"), cv2.IMREAD_UNCHANGED)
    assert image.shape[:2] == (960, 2000)
    prepared_shapes = record_prepared_shapes(monkeypatch, pages)
    page, layout = detect_layout(image)
    assert layout.layout == "3x4+1" and page.shape[:2] == (960, 2000)
    assert max(prepared_shapes, key=lambda shape: shape[0] * shape[1]) == (528, 1100), prepared_shapes
    named = [box for box in layout.boxes if box.lead_name_source == "printed_label"]
    assert len(named) >= 9, [(box.lead, box.printed_label) for box in layout.boxes]  # found and read scaled down: 3
    for box in layout.boxes:  # the labels' boxes in the full-size page's pixels, inside their lead's box
        assert box.label_box is not None, box
        lx0, ly0, lx1, ly1 = box.label_box
        assert box.y0 <= ly0 < ly1 <= box.y1 and box.x0 <= lx0 < lx1 <= box.x1, box
    away_from_names = np.ones(960, bool)
    for box in layout.boxes:
        away_from_names[box.label_box[1] - 3 : box.label_box[3] + 3] = False
    frame = layout.non_trace[away_from_names, :3].astype(bool)
    assert frame[:, 0].mean() > 0.9 and frame[:, 1:].mean() < 0.05, frame.mean(axis=0)


def test_page_leads_take_the_colours_read_once_on_the_full_size_page(monkeypatch):
    """The grid lines' and the trace's colours are read once, at full size (where a 1-px line has its
    full colour: scaled down it is paler), and given to every lead's crop instead of being read
    again on each; the leads digitize as well as ECGMiner's own reading (`test_ecgminer_page_every_lead_digitized`)."""
    from cardioml_pipeline.ecg_images import preprocess

    root = require_shared(SHARED_DATASETS / "ecgminer-ludb-pages")
    image = cv2.imread(str(root / "img" / "002.png"), cv2.IMREAD_UNCHANGED)
    calls = []
    real_grid_colours = preprocess.grid_colours

    def counting_grid_colours(d3, grid):
        calls.append(d3.shape[:2])
        return real_grid_colours(d3, grid)

    monkeypatch.setattr(preprocess, "grid_colours", counting_grid_colours)
    layout, leads = process_page(image)
    assert len(leads) == 13 and all(lead.result.signal_mv.size for lead in leads)
    assert len(calls) == 2, calls  # the layout's page scaled down, and one window at full size
    small, full = (np.linalg.norm(colour) for colour in (_major_line_colour_scaled_down(image), layout.ink_colours.lines[0]))
    assert full > 1.2 * small, (full, small)
    assert sum(lead.result.qc_passed for lead in leads) >= 10, [lead.result.qc_reasons for lead in leads]


def _major_line_colour_scaled_down(image: np.ndarray) -> np.ndarray:
    """The major grid lines' colour as the layout's prepare reads it on the page scaled down."""
    from cardioml_pipeline.ecg_images.preprocess import prepare_image

    small = cv2.resize(image[:, :, :3], (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    return prepare_image(small).colours.lines[0]


def test_ruled_lines_are_placed_again_on_the_full_size_page():
    """A ruled line found on a page scaled down by 2 covers two full-size columns: placed again at full
    size, only the column it is printed in is blanked, not its neighbour (where a QRS may be drawn
    right beside a frame)."""
    from cardioml_pipeline.ecg_images.pages import Rulings
    from cardioml_pipeline.ecg_images.preprocess import InkColours

    page = np.full((200, 300, 3), 255, np.uint8)
    page[:, 4] = 0  # a 1-px frame line at column 4
    page[50:60, 5:8] = 0  # ink right beside it
    small_columns = np.zeros(150, bool)
    small_columns[2] = True  # full-size columns 4 and 5
    small_ink = np.zeros((100, 150), bool)
    small_ink[:, 2] = True
    rulings = Rulings(np.zeros(100, bool), small_columns, small_ink)
    black = InkColours(np.full(3, 1.0, np.float32), (), False)
    full = rulings.at_full_size(page, 2.0, 2.0, black)
    assert full[:, 4].all() and not full[:, 5:].any() and not full[:, :4].any()
    assert rulings.mask().sum() == 100  # at its own scale: the ruled column's ink


@pytest.mark.parametrize(("rotation_deg", "negative"), [(0.0, False), (2.0, False), (0.0, True)])
def test_a_low_resolution_pages_crops_take_their_source_scale_ink_from_the_page(monkeypatch, signals, rotation_deg, negative):
    """A 100 dpi page is placed as it is, and its lead crops are read enlarged: their source-scale
    ink (what QC judges) is cut from the page's own preparation instead of each crop being prepared
    a second time at that scale. The signals are those of crops prepared on their own, bit for bit,
    and so are the QC verdicts (a turned page, a negative one too); a page placed scaled down keeps
    no such preparation."""
    from cardioml_pipeline.ecg_images import pages, pipeline

    page, _ = render_page(signals, layout="3x4+1", dpi=100, rotation_deg=rotation_deg)
    if negative:  # a light trace on a dark background
        page = 255 - page
    shapes = record_prepared_shapes(monkeypatch, pipeline)
    layout, leads = process_page(page)
    assert layout.layout == "3x4+1" and layout.source_preparation is not None and layout.source_preparation.inverted == negative
    assert layout.grid.px_per_mm_x < pipeline.UPSAMPLE_BELOW_PX_PER_MM
    crop_sizes = {(box.y1 - box.y0, box.x1 - box.x0) for box in layout.boxes}
    assert shapes and not crop_sizes & set(shapes), "a crop was prepared again at the page's scale"
    assert all(lead.result.qc_metrics["upsampled"] == 2.0 for lead in leads)

    shapes.clear()
    monkeypatch.setattr(pages, "crop_preparation", lambda *args: None)  # each crop prepared on its own
    _, own = process_page(page)
    assert sum(shape in crop_sizes for shape in shapes) == 13
    for lead, alone in zip(leads, own):
        assert np.array_equal(lead.result.signal_mv, alone.result.signal_mv), lead.box.lead
        assert lead.result.qc_passed == alone.result.qc_passed, (lead.box.lead, lead.result.qc_reasons, alone.result.qc_reasons)

    large, _ = render_page(signals, layout="3x4+1", dpi=200)
    assert detect_layout(large)[1].source_preparation is None  # placed scaled down: not the crops' scale
