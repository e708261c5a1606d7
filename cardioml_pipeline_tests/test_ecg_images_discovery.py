"""File discovery and decoding: names, leads, duplicates, and files that are not usable images."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from cardioml_pipeline.ecg_images.discovery import decode_image, list_image_files, parse_image_name


def png_bytes(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def test_names_parse_to_file_number_and_canonical_lead():
    assert parse_image_name("Patient_1001_lead_II.png") == (1001, "II", None)
    assert parse_image_name("patient_1001_LEAD_avr.JPG") == (1001, "aVR", None)
    assert parse_image_name("Patient_1001_lead_v6.bmp") == (1001, "V6", None)
    number, lead, reason = parse_image_name("Patient_1001_lead_V7.png")
    assert (number, lead) == (1001, None) and reason.startswith("unknown lead 'V7'")
    assert parse_image_name("Patient_1001_lead_II.tiff")[2] == "unsupported image type '.tiff': expected PNG, JPEG or BMP"
    assert parse_image_name("scan_0001.png")[2].startswith("file name is not")


def test_duplicates_keep_the_preferred_file_and_reject_the_rest(tmp_path):
    image = png_bytes(np.full((20, 40), 255, np.uint8))
    for name in ("Patient_1001_lead_II.png", "Patient_1001_lead_ii.jpg", "Patient_1001_lead_I.png", "notes.txt"):
        (tmp_path / name).write_bytes(image)
    files = {f.relative_path: f for f in list_image_files(tmp_path)}
    assert files["Patient_1001_lead_II.png"].reject_reason is None
    assert files["Patient_1001_lead_ii.jpg"].reject_reason == "duplicate of Patient_1001_lead_II.png (same patient and lead)"
    assert files["Patient_1001_lead_I.png"].reject_reason is None
    assert files["notes.txt"].reject_reason.startswith("file name is not")


def test_missing_folder_means_no_images(tmp_path):
    assert list_image_files(tmp_path / "ECG_Images") == []


def test_decodes_gray_rgb_rgba_16bit_jpeg_and_bmp():
    gray = np.tile(np.arange(64, dtype=np.uint8), (32, 1))
    variants = {
        "gray": png_bytes(gray),
        "rgb": png_bytes(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)),
        "rgba": png_bytes(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)),
        "16bit": png_bytes(gray.astype(np.uint16) * 256),
        "jpeg": cv2.imencode(".jpg", gray)[1].tobytes(),
        "bmp": cv2.imencode(".bmp", gray)[1].tobytes(),
    }
    shapes = {name: decode_image(data) for name, data in variants.items()}
    assert all(reason is None for _, reason in shapes.values())
    assert shapes["rgba"][0].shape == (32, 64, 4)
    assert shapes["16bit"][0].dtype == np.uint16


def test_unusable_files_get_clear_reasons(tmp_path):
    good = png_bytes(np.full((100, 300), 255, np.uint8))
    assert decode_image(b"")[1] == "empty file (0 bytes)"
    assert decode_image(b"this is a text file, not a png")[1] == "not a decodable PNG, JPEG or BMP image"
    assert decode_image(good[: len(good) // 2])[1] in (
        "image data is truncated or corrupt (OpenCV could not decode it)",
        "not a decodable PNG, JPEG or BMP image",
    )
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)  # ~50 KB on disk, 400 megapixels decoded
    image, reason = decode_image(bomb.read_bytes())
    assert image is None and reason.startswith("image too large: ") and "400000000 pixels" in reason
    wide = tmp_path / "wide.png"
    Image.new("1", (9_000, 5_000)).save(wide)  # under Pillow's guard, over ours
    assert decode_image(wide.read_bytes())[1] == "image too large: 9000 x 5000 px (limit 40,000,000 px; decompression bomb or page scan?)"
