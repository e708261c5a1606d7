"""The QC gallery: one self-contained HTML page per run of the image stage, linked from the image
asset's metadata, opened in headless Chromium with every picture loading from the file alone."""

from __future__ import annotations

import os
import re

import dagster as dg
import numpy as np
import pytest

from cardioml_pipeline.demo.clinical import generate_demo_patients, write_demo_dataset
from cardioml_pipeline.demo.images import write_demo_images
from cardioml_pipeline.ecg_images.gallery import plot_on_ecg_grid, select_leads
from cardioml_pipeline_tests.conftest import failed_steps, query, run_pipeline
from cardioml_pipeline_tests.test_ui import Chromium, find_chromium

PATIENTS = 2
SEED = 31
SELECTION = dg.AssetSelection.groups("raw", "staging", "images")


@pytest.fixture(scope="module")
def gallery_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gallery")
    data = root / "dataset"
    write_demo_dataset(data, patients=PATIENTS, seed=SEED)
    write_demo_images(data, generate_demo_patients(PATIENTS, SEED), seed=SEED, workers=2)
    (data / "ECG_Images" / "Patient_1002_lead_V2.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")  # rejected
    blank = np.full((300, 900, 3), 255, dtype=np.uint8)  # no trace at all: rejected too
    import cv2

    cv2.imwrite(str(data / "ECG_Images" / "Patient_1001_lead_aVL.png"), blank)
    warehouse, artifacts = root / "w.duckdb", root / "artifacts"
    result = run_pipeline(data, warehouse, artifacts, selection=SELECTION)
    assert failed_steps(result) == {}
    return result, warehouse, artifacts


def test_the_image_asset_links_one_self_contained_page_for_the_run(gallery_run):
    result, warehouse, artifacts = gallery_run
    metadata = result.asset_materializations_for_node("ecg_image_stage")[0].metadata
    path = metadata["qc_gallery"].value
    assert path == str(artifacts / "ecg_images" / "qc_gallery" / f"run_{result.run_id}.html")
    page = open(path, encoding="utf-8").read()
    # nothing to fetch: every src is an inline data URI, no stylesheet or script from anywhere
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert "http://" not in page and "https://" not in page and "<link" not in page and "<script" not in page
    problems = query(warehouse, "SELECT count(*) FROM staging.ecg_images WHERE reject_reason IS NOT NULL OR NOT qc_passed")[0][0]
    assert problems >= 2  # the two broken files, at least
    assert page.count('class="card rejected"') == 2
    assert page.count('class="card rejected"') + page.count('class="card failed"') == problems
    assert page.count('class="card passed"') == 12
    assert "Patient_1002_lead_V2.png" in page and "could not be decoded" in page


def test_the_gallery_opens_in_chromium_and_every_image_loads(gallery_run, tmp_path):
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed, but CI must run the browser tests (.ci/run installs it)")
        pytest.skip("chromium not found (apt-get install chromium): the browser test needs Debian's headless Chromium")
    result, _, _ = gallery_run
    path = result.asset_materializations_for_node("ecg_image_stage")[0].metadata["qc_gallery"].value
    browser = Chromium(executable, 1500, 1200)
    try:
        browser.send("Network.enable")
        browser.open(f"file://{path}")
        loaded = browser.wait_for(
            "(() => { const images = [...document.images]; return images.length > 0 && images.every(i => i.complete) && "
            "images.map(i => [i.alt, i.naturalWidth, i.naturalHeight]); })()",
            timeout_s=60,
            what="every image of the gallery loaded",
        )
        assert all(width > 0 and height > 0 for _, width, height in loaded), loaded
        captions = {alt for alt, _, _ in loaded}
        assert captions == {"source image", "processed image", "digitized signal on ECG paper (25 mm/s, 10 mm/mV)"}
        cards = browser.evaluate("document.querySelectorAll('section.card').length")
        assert cards >= 14
        (tmp_path / "gallery.png").write_bytes(browser.screenshot())
    finally:
        browser.close()


def test_ecg_paper_plot_and_lead_selection():
    fs = 500
    t = np.arange(5 * fs) / fs
    picture = plot_on_ecg_grid(np.sin(2 * np.pi * t), fs)
    assert picture.ndim == 3 and picture.shape[1] <= 720
    assert (picture.min(axis=2) < 60).any(), "the trace is drawn in black over the pink grid"
    import polars as pl

    index = pl.DataFrame(
        {
            "file_number": [1, 1, 2, 2, 3],
            "lead": ["I", "II", "I", "II", "I"],
            "qc_passed": [True, False, True, None, True],
            "reject_reason": [None, None, None, "undecodable", None],
        }
    )
    failed, passing, total = select_leads(index, sample=1)
    assert total == 2 and failed["reject_reason"].to_list() == ["undecodable", None]  # rejected first
    assert passing.height == 1 and passing["qc_passed"].to_list() == [True]
