"""Synthetic test images: smooth scenes with texture, plausible degradations, and person masks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def scene(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """An HxWx3 uint8 RGB image with gradients, blobs and fine texture (not constant)."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width, yy / height, 0.5 + 0.5 * np.sin(xx / 37.0 + yy / 53.0)], axis=-1)
    for _ in range(6):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        radius = rng.uniform(0.05, 0.3) * max(height, width)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2))
        base += blob[..., None] * rng.uniform(-0.5, 0.5, size=3).astype(np.float32)
    base += rng.normal(0, 0.03, size=base.shape).astype(np.float32)
    return np.clip(base * 200 + 20, 0, 255).astype(np.uint8)


def degrade(gt: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A plausible imperfect result: exposure/colour shift, blur and noise."""
    out = gt.astype(np.float32) * rng.uniform(0.75, 0.95) + rng.uniform(-12, 12, size=3) * strength
    out = cv2.GaussianBlur(out, (0, 0), 0.8 * strength + 0.1)
    out += rng.normal(0, 4 * strength, size=out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


def ellipse_mask(height: int, width: int, centres: list[tuple[float, float, float, float]],
                 holes: bool = False) -> np.ndarray:
    """uint8 0/255 mask from ellipses given as (cy, cx, ry, rx) fractions of the image size."""
    mask = np.zeros((height, width), np.uint8)
    for cy, cx, ry, rx in centres:
        cv2.ellipse(mask, (int(cx * width), int(cy * height)), (int(rx * width), int(ry * height)),
                    0, 0, 360, 255, -1)
    if holes:
        cy, cx, ry, rx = centres[0]
        cv2.circle(mask, (int(cx * width), int(cy * height)), max(2, int(min(ry * height, rx * width) / 3)),
                   0, -1)
    return mask


def soft_edges(mask: np.ndarray) -> np.ndarray:
    """JPEG-like soft mask edges: blurred and requantised grey values around the boundary."""
    ok, data = cv2.imencode(".jpg", cv2.GaussianBlur(mask, (0, 0), 2.0), [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    return cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def write_grey(path: Path, grey: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), grey)
    return path


def make_dataset(root: Path, stems: list[str], size: tuple[int, int] = (96, 128), seed: int = 0,
                 result_ext: str = ".png") -> tuple[Path, Path]:
    """reference/{gt,mask_personmask}/ and results/ folders for ``stems``; returns (ref, res)."""
    rng = np.random.default_rng(seed)
    height, width = size
    ref, res = root / "ref", root / "res"
    for stem in stems:
        gt = scene(height, width, rng)
        write_rgb(ref / "gt" / f"{stem}.png", gt)
        write_grey(ref / "mask_personmask" / f"{stem}.png",
                   ellipse_mask(height, width, [(0.55, 0.5, 0.35, 0.25)]))
        write_rgb(res / f"{stem}{result_ext}", degrade(gt, rng))
    return ref, res
