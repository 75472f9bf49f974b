"""Draw the competition logo (logo.png, 512x512 PNG): a phone-flash burst lighting a portrait.

Usage: .venv/bin/python tools/make_logo.py [--out logo.png]. Deterministic: the same pixels on every run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

SIZE = 512


def draw() -> np.ndarray:
    """BGR uint8 logo: night-blue gradient, warm flash glow, white bolt, portrait silhouette."""
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    night = np.stack([0.42 - 0.22 * y, 0.16 - 0.08 * y, 0.08 + 0.02 * y], axis=-1)  # BGR
    glow = np.exp(-(((x - 0.5) ** 2) + ((y - 0.40) ** 2)) / 0.045)[..., None]
    warm = np.array([0.70, 0.88, 1.0], np.float32)
    canvas = np.clip(night * (1 - glow) + warm * glow, 0, 1)
    image = (canvas * 255).astype(np.uint8)

    # Portrait: head and shoulders, dark against the flash glow.
    silhouette = (34, 22, 20)
    cv2.ellipse(image, (256, 318), (70, 86), 0, 0, 360, silhouette, -1, cv2.LINE_AA)
    cv2.ellipse(image, (256, 512), (170, 120), 0, 180, 360, silhouette, -1, cv2.LINE_AA)
    # Rim light on the face: the flash's effect.
    cv2.ellipse(image, (256, 318), (70, 86), 0, 200, 340, (170, 225, 255), 6, cv2.LINE_AA)

    # Flash bolt above the head.
    bolt = np.array([[270, 40], [214, 150], [254, 150], [232, 222], [302, 112], [260, 112], [290, 40]],
                    np.int32)
    cv2.fillPoly(image, [bolt], (255, 255, 255), cv2.LINE_AA)
    cv2.polylines(image, [bolt], True, (60, 190, 255), 3, cv2.LINE_AA)

    # Rounded-corner mask so the logo reads as a tile.
    mask = np.zeros((SIZE, SIZE), np.uint8)
    radius = 64
    cv2.rectangle(mask, (radius, 0), (SIZE - radius, SIZE), 255, -1)
    cv2.rectangle(mask, (0, radius), (SIZE, SIZE - radius), 255, -1)
    for cx in (radius, SIZE - radius - 1):
        for cy in (radius, SIZE - radius - 1):
            cv2.circle(mask, (cx, cy), radius, 255, -1, cv2.LINE_AA)
    background = np.full_like(image, 255)
    alpha = (mask.astype(np.float32) / 255)[..., None]
    return (image * alpha + background * (1 - alpha)).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "logo.png")
    args = parser.parse_args()
    if not cv2.imwrite(str(args.out), draw(), [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise SystemExit(f"could not write {args.out}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
