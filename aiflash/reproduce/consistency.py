"""Output consistency: the reproduced result images against other result images of the same team,
image by image, as 8-bit RGB: the ones Codabench produced online (``--online-outputs``: the team's
downloaded ``prediction_result.zip``), or another run of the same code (``--repeat``).

A Score can move by a few tenths for three reasons the Score alone cannot tell apart:
non-determinism, another GPU, another model. The images can: rounding noise of another GPU stays
within a level or two on a few pixels (PSNR between the outputs far above 40 dB), another model
does not. Tolerances come from the scoring profile (``output_consistency``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..discovery import find_predictions
from ..errors import AiflashError
from ..images import read_rgb
from ..profile import OutputConsistency

IDENTICAL, WITHIN, DIFFERENT = "identical", "within tolerance", "different"
OUTPUTS_DIFFER = "OUTPUTS DIFFER"
NO_ONLINE = "no online outputs"


@dataclass(frozen=True)
class ImageComparison:
    """One image in two outputs. ``psnr_db`` is None when identical (infinite) or not comparable."""

    image: str
    verdict: str
    psnr_db: float | None = None
    max_abs_diff: int | None = None
    note: str = ""

    @property
    def rank(self) -> float:
        """Sort key, worst first: not comparable, then lowest PSNR."""
        if self.verdict == IDENTICAL:
            return math.inf
        return -math.inf if self.psnr_db is None else self.psnr_db


@dataclass(frozen=True)
class TeamConsistency:
    """A team's reproduced outputs against a second set: per image and the team's verdict."""

    team: str
    source: str
    images: tuple[ImageComparison, ...]
    verdict: str  # identical / within tolerance / OUTPUTS DIFFER / no online outputs
    worst: tuple[str, ...] = ()

    @property
    def different(self) -> int:
        return sum(c.verdict == DIFFERENT for c in self.images)

    @property
    def min_psnr_db(self) -> float | None:
        values = [c.psnr_db for c in self.images if c.psnr_db is not None]
        return min(values) if values else None

    @property
    def max_abs_diff(self) -> int | None:
        values = [c.max_abs_diff for c in self.images if c.max_abs_diff is not None]
        return max(values) if values else None

    def as_dict(self) -> dict:
        return {"source": self.source, "verdict": self.verdict, "images": len(self.images),
                "different": self.different, "worst": list(self.worst),
                "min_psnr_db": self.min_psnr_db, "max_abs_diff": self.max_abs_diff}


def pixel_difference(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """(PSNR in dB between two HxWx3 uint8 images, inf when equal; largest |a - b| in levels)."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    largest = int(diff.max()) if diff.size else 0
    mse = float(np.mean(np.square(diff, dtype=np.float64))) if diff.size else 0.0
    return (math.inf if mse == 0 else 10.0 * math.log10(255.0**2 / mse)), largest


def verdict(psnr_db: float, max_abs_diff: int, rules: OutputConsistency) -> str:
    if max_abs_diff == 0:
        return IDENTICAL
    if psnr_db >= rules.min_psnr_db and max_abs_diff <= rules.max_abs_diff:
        return WITHIN
    return DIFFERENT


def compare_images(reproduced: Path, other: Path, image: str, rules: OutputConsistency) -> ImageComparison:
    """One image's two files, decoded as the scorer decodes them."""
    try:
        a, _ = read_rgb(reproduced)
        b, _ = read_rgb(other)
    except AiflashError as exc:
        return ImageComparison(image, DIFFERENT, note=f"unreadable: {exc}")
    if a.shape != b.shape:
        return ImageComparison(image, DIFFERENT, note=f"sizes differ: {a.shape[1]}x{a.shape[0]} vs "
                                                      f"{b.shape[1]}x{b.shape[0]}")
    psnr, largest = pixel_difference(a, b)
    return ImageComparison(image, verdict(psnr, largest, rules),
                           None if math.isinf(psnr) else round(psnr, 3), largest)


def _images(folder: Path) -> dict[str, Path]:
    """Result images by stem, as the scorer finds them (a single wrapping folder is descended)."""
    if not folder.is_dir():
        return {}
    return {stem: paths[0] for stem, paths in find_predictions(folder).items()}


def compare_outputs(team: str, reproduced: Path, other: Path, rules: OutputConsistency,
                    source: str = "") -> TeamConsistency:
    """Every image of either folder; an image present on one side only counts as different."""
    mine, theirs = _images(reproduced), _images(other)
    rows = []
    for image in sorted(set(mine) | set(theirs)):
        if image not in theirs:
            rows.append(ImageComparison(image, DIFFERENT, note="missing from the other outputs"))
        elif image not in mine:
            rows.append(ImageComparison(image, DIFFERENT, note="not reproduced"))
        else:
            rows.append(compare_images(mine[image], theirs[image], image, rules))
    worst = tuple(c.image for c in sorted((c for c in rows if c.verdict != IDENTICAL),
                                          key=lambda c: (c.rank, c.image))[:rules.worst_images])
    different = sum(c.verdict == DIFFERENT for c in rows)
    if not rows or different > rules.differ_share * len(rows):
        team_verdict = OUTPUTS_DIFFER
    elif all(c.verdict == IDENTICAL for c in rows):
        team_verdict = IDENTICAL
    else:
        team_verdict = WITHIN
    return TeamConsistency(team, source or str(other), tuple(rows), team_verdict,
                           worst if team_verdict != IDENTICAL else ())


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


def find_online_outputs(folder: Path, team: str) -> Path | None:
    """``<team>.zip`` or ``<team>/`` in ``folder`` (team names match case- and space-insensitively)."""
    for entry in sorted(folder.iterdir()):
        name = entry.stem if entry.is_file() and entry.suffix.lower() == ".zip" else entry.name
        if (entry.is_dir() or entry.suffix.lower() == ".zip") and _key(name) == _key(team):
            return entry
    return None


PAIR_PREVIEW_SIZE = 360  # long side of the report's side-by-side thumbnails
DIFFERENCE_FULL_SCALE = 16  # |reproduced - online| shown at full heat (8-bit levels)


def pair_preview(reproduced: Path, other: Path, image: str) -> tuple[str, bytes, bytes, bytes] | None:
    """(image, reproduced, online, difference heat map) JPEG thumbnails of one image, for the
    report (which never decodes files); None when either side is missing or unreadable."""
    from ..previews import jpeg_bytes, thumbnail

    mine, theirs = _images(reproduced).get(image), _images(other).get(image)
    if mine is None or theirs is None:
        return None
    try:
        a, _ = read_rgb(mine)
        b, _ = read_rgb(theirs)
    except AiflashError:
        return None
    if a.shape != b.shape:
        return (image, jpeg_bytes(thumbnail(a, PAIR_PREVIEW_SIZE)),
                jpeg_bytes(thumbnail(b, PAIR_PREVIEW_SIZE)), b"")
    import cv2

    # Largest channel difference per pixel, reduced by maximum so that isolated pixels stay visible.
    difference = np.abs(a.astype(np.int16) - b.astype(np.int16)).max(axis=2).astype(np.float32)
    factor = max(1, int(math.ceil(max(a.shape[:2]) / PAIR_PREVIEW_SIZE)))
    height, width = difference.shape
    padded = np.zeros((-(-height // factor) * factor, -(-width // factor) * factor), np.float32)
    padded[:height, :width] = difference
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    pooled = blocks.max(axis=(1, 3))
    # Square-root scale: a single level of difference is already visible, 16 and more saturate.
    scaled = np.sqrt(np.minimum(pooled, DIFFERENCE_FULL_SCALE) / DIFFERENCE_FULL_SCALE) * 255.0
    heat = cv2.applyColorMap(scaled.astype(np.uint8), cv2.COLORMAP_INFERNO)
    return (image, jpeg_bytes(thumbnail(a, PAIR_PREVIEW_SIZE)), jpeg_bytes(thumbnail(b, PAIR_PREVIEW_SIZE)),
            jpeg_bytes(cv2.cvtColor(heat, cv2.COLOR_BGR2RGB)))
