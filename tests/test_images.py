"""Decoding rules (spec §1, §5): 8-bit RGB accepted, lossy conversions refused with the file named."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from aiflash.errors import ReferenceDataError, SubmissionError
from aiflash.images import read_person_mask, read_rgb, write_png

from .synth import scene, write_grey, write_rgb

RGB = scene(40, 50, np.random.default_rng(0))


def test_png_jpeg_bmp_decode_like_opencv(tmp_path):
    for ext in (".png", ".jpg", ".bmp", ".JPEG"):
        path = write_rgb(tmp_path / f"a{ext}", RGB) if ext != ".JPEG" else tmp_path / "a.JPEG"
        if ext == ".JPEG":
            (tmp_path / "a.JPEG").write_bytes((tmp_path / "a.jpg").read_bytes())
        got, note = read_rgb(path)
        want = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        assert np.array_equal(got, want) and note == ""
    assert np.array_equal(read_rgb(tmp_path / "a.png")[0], RGB)


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp"])
def test_a_photograph_decodes_like_opencv_imread_and_bgr_to_rgb(tmp_path, ext):
    """Spec §1's decoding on a natural photograph (scikit-image's astronaut, native 512x512; JPEG
    with 4:2:0 chroma), whatever the decoder's own path to RGB."""
    from skimage import data

    path = write_rgb(tmp_path / f"astronaut{ext}", data.astronaut())
    want = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(read_rgb(path)[0], want)


def test_write_png_is_lossless(tmp_path):
    write_png(tmp_path / "x.png", RGB)
    assert np.array_equal(read_rgb(tmp_path / "x.png")[0], RGB)


def test_jpeg_exif_orientation_is_applied_like_opencv(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(RGB).save(path, exif=exif, quality=95)
    got, _ = read_rgb(path)
    assert got.shape == (50, 40, 3)
    assert np.array_equal(got, cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))


@pytest.mark.parametrize("kind, message", [
    ("16bit", "16-bit PNG"),
    ("grey_png", "greyscale PNG"),
    ("grey_jpeg", "greyscale image"),
    ("transparent", "transparent pixel"),
    ("truncated_png", "corrupt or truncated"),
    ("truncated_jpeg", "truncated JPEG"),
    ("garbage", "not a readable PNG, JPEG or BMP"),
    ("empty", "empty"),
    ("tiff", "TIFF file"),
])
def test_lossy_or_broken_images_are_refused_naming_the_file(tmp_path, kind, message):
    path = tmp_path / f"0001_{kind}.png"
    if kind == "16bit":
        cv2.imwrite(str(path), (RGB.astype(np.uint16) * 257))
    elif kind == "grey_png":
        cv2.imwrite(str(path), RGB[..., 0])
    elif kind == "grey_jpeg":
        path = path.with_suffix(".jpg")
        cv2.imwrite(str(path), RGB[..., 0])
    elif kind == "transparent":
        rgba = np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])
        rgba[0, 0, 3] = 10
        cv2.imwrite(str(path), rgba)
    elif kind == "truncated_png":
        write_rgb(path, RGB)
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif kind == "truncated_jpeg":
        path = write_rgb(path.with_suffix(".jpg"), RGB)
        path.write_bytes(path.read_bytes()[:-200])
    elif kind == "garbage":
        path.write_bytes(b"this is not an image" * 10)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "tiff":
        path = path.with_suffix(".jpg")
        Image.fromarray(RGB).save(path, format="TIFF")
    with pytest.raises(SubmissionError, match=message) as info:
        read_rgb(path)
    assert path.name in str(info.value) and "\n" not in str(info.value)


def test_opaque_alpha_and_palette_are_accepted_with_a_note(tmp_path):
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    got, note = read_rgb(tmp_path / "a.png")
    assert np.array_equal(got, RGB) and "alpha" in note
    Image.fromarray(RGB).convert("P").save(tmp_path / "p.png")
    got, note = read_rgb(tmp_path / "p.png")
    want = np.asarray(Image.open(tmp_path / "p.png").convert("RGB"))
    assert np.array_equal(got, want) and "palette" in note


def test_reference_errors_use_the_reference_family(tmp_path):
    (tmp_path / "gt.png").write_bytes(b"")
    with pytest.raises(ReferenceDataError):
        read_rgb(tmp_path / "gt.png", error=ReferenceDataError)


def test_mask_binarisation_rules(tmp_path):
    grey = np.array([[0, 127, 128, 255]], np.uint8)
    assert read_person_mask(write_grey(tmp_path / "m.png", grey)).tolist() == [[False, False, True, True]]
    zero_one = np.array([[0, 1, 1, 0]], np.uint8)
    assert read_person_mask(write_grey(tmp_path / "z.png", zero_one)).tolist() == \
        [[False, True, True, False]]
    colour = np.zeros((1, 2, 3), np.uint8)
    colour[0, 1] = (255, 255, 255)
    assert read_person_mask(write_rgb(tmp_path / "c.png", colour)).tolist() == [[False, True]]
