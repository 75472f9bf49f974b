"""Folder-API sample submission: ``main(model_dir, input_path, output_path, device)``.

NTIRE's usual code-submission convention, accepted for compatibility. The ingestion program calls
``main`` once with
- ``model_dir`` (str): the folder your zip was unpacked to (weights live there);
- ``input_path`` (str): the folder of input images (``0001.jpg`` ...); the person masks are in
  the sibling folder ``mask_personmask`` (``<input_path>/../mask_personmask/0001.png``);
- ``output_path`` (str): an empty folder: write one ``<stem>.png`` per input (8-bit RGB, the
  input's exact size);
- ``device`` (str): "cuda" or "cpu".
Afterwards every file is checked (name, decodable 8-bit RGB, size). Files for no input are
ignored, an input without a valid file fails.

Prefer the per-image API (``class Model``, see the identity sample) when you can: with ``main``
the ingestion program cannot time images one by one, a hang or crash costs every image not yet
written, and a no-rescale guard finding fails *every* image because it cannot be attributed to one.

This sample lifts the shadows with a fixed gamma curve, at full resolution.
"""

from pathlib import Path

import cv2
import numpy as np

GAMMA = 0.6  # < 1 brightens: a crude stand-in for a flash


def main(model_dir: str, input_path: str, output_path: str, device: str) -> None:
    curve = np.clip(255.0 * (np.arange(256) / 255.0) ** GAMMA + 0.5, 0, 255).astype(np.uint8)
    for path in sorted(Path(input_path).iterdir()):
        if path.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
            continue
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # OpenCV works in BGR; a curve doesn't care
        cv2.imwrite(str(Path(output_path) / f"{path.stem}.png"), cv2.LUT(bgr, curve))
