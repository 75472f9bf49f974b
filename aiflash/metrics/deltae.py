"""Colour difference on the person in OpenCV 8-bit Lab units (spec §2, ``DeltaE_person``).

Not CIE76: OpenCV's 8-bit Lab stores L*255/100, a+128, b+128 (rounded), so lightness weighs 2.55x.
The published values and the 2..40 normalisation range are in these units, so we keep them.
"""

from __future__ import annotations

import cv2
import numpy as np


def person_delta_e(result: np.ndarray, gt: np.ndarray, person: np.ndarray) -> float | None:
    """Mean Euclidean distance of 8-bit Lab triplets over person pixels; None if no person pixel."""
    if not person.any():
        return None
    lab_result = cv2.cvtColor(result, cv2.COLOR_RGB2LAB)[person].astype(np.float32)
    lab_gt = cv2.cvtColor(gt, cv2.COLOR_RGB2LAB)[person].astype(np.float32)
    diff = lab_result - lab_gt
    distance = np.sqrt(np.einsum("nc,nc->n", diff, diff))
    return float(distance.mean(dtype=np.float64))
