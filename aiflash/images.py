"""Decoding of result, ground-truth and mask files into validated arrays.

Decoding semantics are OpenCV's ``imread(IMREAD_COLOR)`` followed by BGR->RGB (spec §1): EXIF
orientation applied, 8-bit values. ``IMREAD_COLOR_RGB`` decodes straight to RGB (the same pixels,
tests/test_images.py; ~2 ms less per 1K image than a separate conversion). Anything that would
be converted with loss (16-bit, greyscale, transparency) is refused with a message instead of
being silently converted (spec §5).

Nothing is decoded before its header has been read: a size declared in the PNG IHDR, JPEG SOF or
BMP header above ``MAX_PIXELS`` is refused, so a 2 MB file declaring 30000x30000 costs a few
bytes of reading instead of gigabytes of memory (OpenCV would allocate the whole canvas first).
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import AiflashError, ReferenceDataError, SubmissionError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SAVE_HINT = "save it as 8-bit RGB PNG (e.g. cv2.imwrite on an HxWx3 uint8 array)"

# 1K images are ~1 MP; anything declaring more than this is refused before decoding (decompression
# bombs). 64 MP decode to 192 MB, so a refusal or a decode stays far below a worker's memory.
MAX_PIXELS = 64_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
MAX_FILE_BYTES = 256 << 20  # an uncompressed 64 MP BMP is 192 MB
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG, DAC share the range
# EXIF orientations 5-8 swap width and height when the image is displayed (and decoded by OpenCV).
_TRANSPOSING = {5: "transpose", 6: "rotate 90\N{DEGREE SIGN} clockwise", 7: "transverse",
                8: "rotate 90\N{DEGREE SIGN} counter-clockwise"}


@dataclass(frozen=True)
class DeclaredSize:
    """What an image file's header says, read without decoding a pixel."""

    width: int  # as stored
    height: int
    orientation: int = 1  # EXIF orientation tag (JPEG); 1 = as stored

    @property
    def displayed(self) -> tuple[int, int]:
        """(height, width) after the EXIF orientation OpenCV applies: the decoded array's shape."""
        if self.orientation in _TRANSPOSING:
            return self.width, self.height
        return self.height, self.width

    def orientation_note(self) -> str:
        """Why the displayed size differs from the stored one ("" if it does not)."""
        if self.orientation not in _TRANSPOSING:
            return ""
        return (f"it is stored as {self.width}x{self.height} (WxH) but its EXIF orientation tag "
                f"({self.orientation}: {_TRANSPOSING[self.orientation]}) makes every decoder, ours "
                f"included, turn it to {self.height}x{self.width}; save it without the orientation "
                f"tag (or as PNG)")


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def _read_bytes(path: Path, error: type[AiflashError]) -> bytes:
    shown = path.name if error is SubmissionError else path
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise error(f"{shown}: is {size / 2**20:.0f} MiB, more than the {MAX_FILE_BYTES >> 20} MiB an "
                        f"image file here may have (the images are about 1 MP); re-export the image.")
        data = path.read_bytes()
    except OSError as exc:
        raise error(f"{shown}: cannot be read ({exc.strerror or exc}).") from exc
    if not data:
        raise error(f"{shown}: the file is empty; re-export the image.")
    return data


def _exif_orientation(tiff: bytes) -> int:
    """The orientation tag (0x0112) of IFD0 in an EXIF TIFF block; 1 if absent or unreadable."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
    for i in range(min(count, 512)):
        entry = tiff[ifd + 2 + 12 * i: ifd + 14 + 12 * i]
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag == 0x0112 and kind == 3:
            (value,) = struct.unpack(order + "H", entry[8:10])
            return value if 1 <= value <= 8 else 1
    return 1


def _jpeg_size(data: bytes) -> DeclaredSize | None:
    """Width and height from the first SOF segment, orientation from an APP1 EXIF segment."""
    orientation, pos = 1, 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        (length,) = struct.unpack(">H", data[pos + 2: pos + 4])
        segment = data[pos + 4: pos + 2 + length]
        if marker == 0xE1 and segment.startswith(b"Exif\x00\x00"):
            orientation = _exif_orientation(segment[6:])
        if marker in _SOF_MARKERS and len(segment) >= 5:
            height, width = struct.unpack(">HH", segment[1:5])
            return DeclaredSize(width, height, orientation)
        pos += 2 + length
    return None


def _declared_from_bytes(data: bytes) -> DeclaredSize | None:
    """The size an image's header declares (PNG IHDR, JPEG SOF, BMP header; other formats via
    Pillow's lazy open, which reads headers only); None if no header says."""
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return DeclaredSize(width, height)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if data.startswith(b"BM") and len(data) >= 26:
        (dib,) = struct.unpack("<I", data[14:18])
        if dib == 12:
            width, height = struct.unpack("<HH", data[18:22])
        else:
            width, height = struct.unpack("<ii", data[18:26])
        return DeclaredSize(abs(width), abs(height))  # negative height: rows stored top-down
    try:  # Image.DecompressionBombError (above 2 x MAX_PIXELS) is left to the caller
        with Image.open(io.BytesIO(data)) as im:
            return DeclaredSize(*im.size)
    except (OSError, SyntaxError, ValueError):
        return None


def declared_size(path: Path, *, error: type[AiflashError] = SubmissionError) -> DeclaredSize | None:
    """The size ``path``'s header declares, reading the first 64 KiB only (no pixel decoded)."""
    shown = path.name if error is SubmissionError else path
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError as exc:
        raise error(f"{shown}: cannot be read ({exc.strerror or exc}).") from exc
    return _check_declared(head, shown, error)


def _check_declared(data: bytes, path: Path | str, error: type[AiflashError]) -> DeclaredSize | None:
    """The declared size, refusing a bomb (above MAX_PIXELS) or an empty image by name."""
    try:
        declared = _declared_from_bytes(data)
    except Image.DecompressionBombError as exc:
        raise error(f"{path}: {exc}; refused before decoding (the images are about 1 MP).") from exc
    if declared is not None and declared.width * declared.height > MAX_PIXELS:
        raise error(
            f"{path}: its header declares {declared.width}x{declared.height} pixels (WxH), more than "
            f"the {MAX_PIXELS // 1_000_000} MP any image here may have; refused before decoding "
            f"(a decompression bomb or a wrong file): the images are about 1 MP, keep the input's size."
        )
    if declared is not None and 0 in (declared.width, declared.height):
        raise error(f"{path}: its header declares an empty image ({declared.width}x{declared.height}); "
                    f"re-export the image.")
    return declared


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
    _check_declared(data, path, error)
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
            return _decode(data, cv2.IMREAD_COLOR_RGB, path, error), "palette image expanded to RGB"
        return _decode(data, cv2.IMREAD_COLOR_RGB, path, error), ""

    try:
        with Image.open(io.BytesIO(data)) as im:
            mode, fmt = im.mode, im.format
    except (OSError, SyntaxError, Image.DecompressionBombError) as exc:
        # Pillow's "cannot identify" message shows a BytesIO repr: say what it means instead.
        reason = ("not a known image format" if isinstance(exc, UnidentifiedImageError) else str(exc))
        raise error(f"{path}: is not a readable PNG, JPEG or BMP image ({reason}); save it as PNG.") from exc
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
    rgb = _decode(data, cv2.IMREAD_COLOR_RGB, path, error)
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
            if im.size[0] * im.size[1] > MAX_PIXELS:
                return None
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
    _check_declared(data, path, ReferenceDataError)
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
