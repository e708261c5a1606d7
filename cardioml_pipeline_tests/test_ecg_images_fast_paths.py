"""The image stage's fast paths give the answers of the straightforward code they replace.

Each fast path (see the commits that introduced them) is checked against the library call or the
plain numpy expression it stands in for, on inputs that reach both its common and its fallback branch.
"""

from __future__ import annotations

import os
import zlib

import cv2
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from PIL import Image
from scipy import signal as sps

from cardioml_pipeline.ecg_images import qc as Q
from cardioml_pipeline.ecg_images.digitize import column_positions
from cardioml_pipeline.ecg_images.discovery import ImageFile, ImageTooLarge, image_dimensions, list_image_files
from cardioml_pipeline.ecg_images.index import INDEX_SCHEMA, IndexWriter
from cardioml_pipeline.ecg_images.preprocess import FEW_COMPONENTS, label_components
from cardioml_pipeline.ecg_images.processing import ImageTask, process_one, reject_row
from cardioml_pipeline.demo.render import RenderSpec, render_lead
from cardioml_pipeline.demo.synth import synthesize_12_lead


def blobs(count: int, shape=(120, 400), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, np.uint8)
    for _ in range(count):
        y, x = rng.integers(0, shape[0] - 6), rng.integers(0, shape[1] - 12)
        mask[y : y + rng.integers(1, 6), x : x + rng.integers(1, 12)] = 1
    return mask


@pytest.mark.parametrize("count", [0, 1, 3, FEW_COMPONENTS + 20])
def test_component_statistics_match_opencv(count):
    mask = blobs(count, seed=count)
    n, labels, stats = label_components(mask)
    n_cv, labels_cv, stats_cv, _ = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_16U)
    assert n == n_cv and np.array_equal(labels, labels_cv)
    assert np.array_equal(stats[1:], stats_cv[1:])  # row 0 (the background) is not used
    assert stats[0, cv2.CC_STAT_AREA] == mask.size - int(mask.sum())


@pytest.mark.parametrize("size", [30, 601, 5000])
def test_qrs_band_pass_is_scipys_sosfiltfilt_bit_for_bit(size):
    x = np.cumsum(np.random.default_rng(size).normal(0, 0.05, size))
    sos = sps.butter(2, [5.0, 30.0], btype="bandpass", fs=500, output="sos")
    if size <= 3 * (2 * sos.shape[0] + 1):
        with pytest.raises(ValueError):
            Q._zero_phase_band_pass(x, 500)
        with pytest.raises(ValueError):
            sps.sosfiltfilt(sos, x)
    else:
        assert np.array_equal(Q._zero_phase_band_pass(x, 500), sps.sosfiltfilt(sos, x))


def test_png_size_from_the_header_matches_pillow(tmp_path):
    ok, encoded = cv2.imencode(".png", np.zeros((37, 53, 3), np.uint8))
    data = encoded.tobytes()
    assert image_dimensions(data) == (53, 37)
    path = tmp_path / "a.png"
    path.write_bytes(data)
    with Image.open(path) as image:
        assert image.size == (53, 37)
    # a header claiming 30,000 x 30,000 px (checksum fixed) goes to Pillow, whose bomb guard trips
    huge = bytearray(data)
    huge[16:24] = (30_000).to_bytes(4, "big") * 2
    huge[29:33] = zlib.crc32(bytes(huge[12:29])).to_bytes(4, "big")
    with pytest.raises(ImageTooLarge):
        image_dimensions(bytes(huge))


@pytest.mark.parametrize("height", [100, 300])  # uint8 and uint16 row weights
def test_first_and_last_ink_rows_match_argmax(height):
    rng = np.random.default_rng(height)
    mask = np.zeros((height, 250), np.uint8)
    for column in range(250):  # one run of ink per column, at a random height and length
        start = int(rng.integers(0, height - 10))
        mask[start : start + int(rng.integers(1, 10)), column] = 1
    for column in (20, 120, 220):  # a few columns with a second piece (below the path-following share)
        mask[:3, column] = 1
    mask[:, 10] = 0  # an empty column
    trace = column_positions(mask, 0, mask.shape[1] - 1)
    has = mask.any(axis=0)
    top = np.where(has, np.argmax(mask != 0, axis=0), -1)
    bottom = np.where(has, height - 1 - np.argmax(mask[::-1] != 0, axis=0), -1)
    counts = mask.sum(axis=0)
    single = has & (bottom - top + 1 == counts)  # one run: the fast path's own top and bottom
    assert np.array_equal(trace.found, has)
    assert np.array_equal(trace.top[single], top[single]) and np.array_equal(trace.bottom[single], bottom[single])
    assert trace.top[10] == -1 and trace.bottom[10] == -1


def test_processed_image_is_a_one_bit_png_with_the_same_pixels(tmp_path):
    signal = synthesize_12_lead([], 70.0, seed=3)["II"]
    image = render_lead(signal, 500, RenderSpec(dpi=150, seed=3))
    images = tmp_path / "ECG_Images"
    images.mkdir()
    cv2.imwrite(str(images / "Patient_1_lead_II.png"), image)
    (item,) = list_image_files(images)
    row, _ = process_one(ImageTask(str(images), str(tmp_path / "artifacts"), item, None))
    assert row["reject_reason"] is None
    path = tmp_path / "artifacts" / row["processed_path"]
    with Image.open(path) as png:
        assert png.mode == "1"
    decoded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == np.uint8 and set(np.unique(decoded)) <= {0, 255}
    assert decoded.shape == (row["processed_height_px"], row["processed_width_px"])


def test_index_rows_are_written_in_row_groups_and_replace_the_index_only_on_success(tmp_path):
    path = tmp_path / "index.parquet"
    items = [ImageFile(f"Patient_{i}_lead_I.png", i, "I", 10, 0) for i in range(10)]
    with IndexWriter(path, size=3) as writer:
        for item in items:
            writer.add(reject_row(item, "test"))
    assert pq.ParquetFile(path).metadata.num_row_groups == 4
    frame = pl.read_parquet(path)
    assert frame.schema == pl.Schema(INDEX_SCHEMA) and frame["file_number"].to_list() == list(range(10))
    assert b"description" in pq.read_schema(path).field("lead").metadata
    with pytest.raises(RuntimeError):
        with IndexWriter(path, size=3) as writer:
            writer.add(reject_row(items[0], "test"))
            raise RuntimeError("a worker failed")
    assert pl.read_parquet(path).height == 10  # the previous index is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["index.parquet"]  # no temporary file left


def test_listing_walks_subfolders_skips_hidden_and_rejects_broken_entries(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.png").mkdir()  # a folder with an image's name is not a file: a reject row (issue 15)
    for name in ("Patient_2_lead_I.png", "b/Patient_1_lead_I.png", ".hidden.png", "b/Patient_1_lead_II.png"):
        (tmp_path / name).write_bytes(b"x")
    os.symlink(tmp_path / "missing.png", tmp_path / "Patient_3_lead_I.png")  # broken link: a reject row
    listed = {f.relative_path: f.reject_reason for f in list_image_files(tmp_path)}
    assert list(listed) == ["Patient_2_lead_I.png", "Patient_3_lead_I.png", "a.png", "b/Patient_1_lead_I.png", "b/Patient_1_lead_II.png"]
    assert listed["a.png"] == "not a regular file: a directory"
    assert listed["Patient_3_lead_I.png"] == "not a regular file: broken symbolic link"
    assert listed["Patient_2_lead_I.png"] is None


def test_least_squares_unmixing_is_numpys_pseudo_inverse():
    """`preprocess._least_squares_unmixing` (the 2x2 normal equations, closed form) gives numpy's
    `pinv` of the basis [t g] as float32, and None exactly where numpy's condition number is 1e6 or
    more (a line of nearly the trace's hue)."""
    from cardioml_pipeline.ecg_images.preprocess import _least_squares_unmixing

    rng = np.random.default_rng(3)
    singular = 0
    for k in range(3000):
        t = rng.random(3).astype(np.float32)
        g = rng.random(3).astype(np.float32)
        if k % 5 == 0:  # nearly parallel: a shade of the trace's own colour
            g = (t * rng.uniform(0.2, 0.9) + rng.normal(0, 10.0 ** -rng.uniform(3, 8), 3)).astype(np.float32)
        basis = np.stack([t, g], axis=1).astype(np.float64)
        expected = np.linalg.pinv(basis).astype(np.float32) if np.linalg.cond(basis) < 1e6 else None
        got = _least_squares_unmixing(t, g)
        if expected is None:
            singular += 1
            assert got is None, (t, g)
        else:
            assert got is not None and got.dtype == np.float32, (t, g)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * float(np.abs(expected).max()))
    assert 10 < singular < 600
