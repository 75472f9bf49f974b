"""Decoding of result, ground-truth and mask files into validated arrays.

Decoding semantics are OpenCV's ``imread(IMREAD_COLOR)`` followed by BGR->RGB (spec §1): EXIF
orientation applied, 8-bit values. Anything that would be converted with loss (16-bit, greyscale,
transparency) is refused with a message instead of being silently converted (spec §5).
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .errors import AiflashError, ReferenceDataError, SubmissionError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SAVE_HINT = "save it as 8-bit RGB PNG (e.g. cv2.imwrite on an HxWx3 uint8 array)"

Image.MAX_IMAGE_PIXELS = 64_000_000  # 1K images are ~1 MP; refuse decompression bombs early


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _read_bytes(path: Path, error: type[AiflashError]) -> bytes:
    shown = path.name if error is SubmissionError else path
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{shown}: cannot be read ({exc.strerror or exc}).") from exc
    if not data:
        raise error(f"{shown}: the file is empty; re-export the image.")
    return data


def _png_header(data: bytes) -> tuple[int, int, bool] | None:
    """(bit depth, colour type, has tRNS chunk) of a PNG, or None if not a PNG."""
    if not data.startswith(_PNG_SIGNATURE) or len(data) < 33:
        return None
    bit_depth, colour_type = data[24], data[25]
    has_trns = False
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"tRNS":
            has_trns = True
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return bit_depth, colour_type, has_trns


def _decode(data: bytes, flags: int, path: Path, error: type[AiflashError]) -> np.ndarray:
    array = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if array is None:
        raise error(f"{path}: cannot be decoded (corrupt or truncated file); re-export the image.")
    return array


def _drop_opaque_alpha(bgra: np.ndarray, path: Path, error: type[AiflashError]) -> np.ndarray:
    transparent = int(np.count_nonzero(bgra[..., 3] != 255))
    if transparent:
        raise error(
            f"{path}: has an alpha channel with {transparent} transparent pixel(s); "
            f"results must be opaque RGB: {_SAVE_HINT}."
        )
    return cv2.cvtColor(bgra, cv2.COLOR_BGRA2RGB)


def read_rgb(path: Path, *, error: type[AiflashError] = SubmissionError) -> tuple[np.ndarray, str]:
    """Decode an 8-bit colour image as an HxWx3 uint8 RGB array.

    Returns the array and a note ("" if none) when a lossless conversion was made (fully opaque
    alpha dropped, palette expanded). Raises ``error`` naming the file for anything else.
    """
    data = _read_bytes(path, error)
    # Participants know their files by name; organisers need the full path of reference files.
    path = Path(path.name) if error is SubmissionError else path
    png = _png_header(data)
    if png is not None:
        bit_depth, colour_type, has_trns = png
        if bit_depth == 16:
            raise error(f"{path}: is a 16-bit PNG; {_SAVE_HINT}.")
        if colour_type in (0, 4):
            raise error(f"{path}: is a greyscale PNG; {_SAVE_HINT}.")
        if colour_type == 6:
            bgra = _decode(data, cv2.IMREAD_UNCHANGED, path, error)
            return _drop_opaque_alpha(bgra, path, error), "fully opaque alpha channel dropped"
        if colour_type == 3:
            if has_trns:
                with Image.open(io.BytesIO(data)) as im:
                    rgba = np.asarray(im.convert("RGBA"))
                return _drop_opaque_alpha(rgba[..., [2, 1, 0, 3]], path, error), (
                    "palette image expanded to RGB"
                )
            rgb = cv2.cvtColor(_decode(data, cv2.IMREAD_COLOR, path, error), cv2.COLOR_BGR2RGB)
            return rgb, "palette image expanded to RGB"
        return cv2.cvtColor(_decode(data, cv2.IMREAD_COLOR, path, error), cv2.COLOR_BGR2RGB), ""

    try:
        with Image.open(io.BytesIO(data)) as im:
            mode, fmt = im.mode, im.format
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        raise error(f"{path}: is not a readable PNG, JPEG or BMP image ({exc}).") from exc
    if fmt not in ("JPEG", "BMP", "MPO"):
        raise error(f"{path}: is a {fmt} file; results must be PNG (or JPEG/BMP).")
    if mode in ("L", "LA", "1", "I", "I;16", "F"):
        raise error(f"{path}: is a greyscale image; {_SAVE_HINT}.")
    if mode not in ("RGB", "RGBA", "P"):
        raise error(f"{path}: has colour mode {mode}; {_SAVE_HINT}.")
    if fmt in ("JPEG", "MPO") and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
        raise error(f"{path}: is a truncated JPEG (no end-of-image marker); re-export it.")
    if mode == "RGBA":
        return _drop_opaque_alpha(
            _decode(data, cv2.IMREAD_UNCHANGED, path, error), path, error
        ), "fully opaque alpha channel dropped"
    rgb = cv2.cvtColor(_decode(data, cv2.IMREAD_COLOR, path, error), cv2.COLOR_BGR2RGB)
    return rgb, ("palette image expanded to RGB" if mode == "P" else "")


_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
            (2, cv2.IMREAD_REDUCED_COLOR_2), (1, cv2.IMREAD_COLOR))


def read_rgb_reduced(path: Path, long_side: int) -> np.ndarray | None:
    """An RGB picture of ``path`` decoded at the smallest power-of-two reduction whose long side
    is still >= ``long_side`` (JPEG decodes that fast), for illustrations only: None if unreadable,
    never validated like ``read_rgb``."""
    try:
        with Image.open(path) as im:  # header only: the full size, to choose the reduction
            full = max(im.size)
    except (OSError, SyntaxError, Image.DecompressionBombError):
        return None
    flag = next(flag for factor, flag in _REDUCED if full // factor >= long_side or factor == 1)
    bgr = cv2.imread(str(path), flag)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_person_mask(path: Path) -> np.ndarray:
    """Decode a person mask as an HxW bool array (True = person), spec §1.

    Read as 8-bit grey (colour masks via BT.601 luma, as cv2 does); values are divided by 255 only
    if the maximum exceeds 1, then person = value > 0.5. So 0..255 masks: person = pixel >= 128;
    0/1 masks: person = 1.
    """
    data = _read_bytes(path, ReferenceDataError)
    grey = _decode(data, cv2.IMREAD_GRAYSCALE, path, ReferenceDataError)
    if grey.max() > 1:
        return grey >= 128
    return grey >= 1


# Run-length deflate on "up"-filtered rows: 2-3x faster than zlib level 1 on 1K photos, and no
# larger (measured on the sample data); the ingestion program writes every result with it.
_PNG_FAST = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY, cv2.IMWRITE_PNG_STRATEGY_RLE,
             cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an HxWx3 uint8 RGB array losslessly as PNG (fast settings)."""
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), _PNG_FAST)
    if not ok:
        raise OSError(f"PNG encoding failed for {path}")
    path.write_bytes(encoded.tobytes())
